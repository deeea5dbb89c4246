package ocimanifest_test

import (
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
)

func TestParse(t *testing.T) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(digest.FromString("c")) + `","size":1}`
	cfg512 := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(digest.SHA512.FromString("c")) + `","size":1}`
	layer := `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + string(digest.FromString("l")) + `","size":1}`
	foreign := `{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"` + string(digest.FromString("f")) + `","size":1}`
	child := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + string(digest.FromString("m")) + `","size":1}`
	tests := []struct {
		name      string
		data      string
		mediaType string
		wantErr   bool
		blobs     int
		children  int
		artifact  string
		algorithm digest.Algorithm
	}{
		{name: "image", data: `{"schemaVersion":2,"config":` + cfg + `,"layers":[` + layer + `,` + foreign + `]}`, mediaType: ocispec.MediaTypeImageManifest,
			blobs: 2, artifact: "application/vnd.oci.image.config.v1+json", algorithm: digest.SHA256},
		{name: "sha512 image", data: `{"schemaVersion":2,"config":` + cfg512 + `,"layers":[]}`, mediaType: ocispec.MediaTypeImageManifest,
			blobs: 1, artifact: "application/vnd.oci.image.config.v1+json", algorithm: digest.SHA512},
		{name: "media type from content", data: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + child + `]}`,
			children: 1, algorithm: digest.SHA256},
		{name: "artifactType wins", data: `{"schemaVersion":2,"artifactType":"x/y","config":` + cfg + `}`, mediaType: ocispec.MediaTypeImageManifest,
			blobs: 1, artifact: "x/y", algorithm: digest.SHA256},
		{name: "opaque", data: `not json`, mediaType: "application/x-other", algorithm: digest.SHA256},
		{name: "not json", data: `{`, mediaType: ocispec.MediaTypeImageManifest, wantErr: true},
		{name: "no media type", data: `{"schemaVersion":2}`, wantErr: true},
		{name: "media type mismatch", data: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, mediaType: ocispec.MediaTypeImageManifest, wantErr: true},
		{name: "schema version", data: `{"schemaVersion":1,"config":` + cfg + `}`, mediaType: ocispec.MediaTypeImageManifest, wantErr: true},
		{name: "no config", data: `{"schemaVersion":2,"layers":[]}`, mediaType: ocispec.MediaTypeImageManifest, wantErr: true},
		{name: "bad digest", data: `{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:xyz","size":1}}`, mediaType: ocispec.MediaTypeImageManifest, wantErr: true},
		{name: "opaque JSON", data: `{"a":1}`, mediaType: "application/json", algorithm: digest.SHA256},
		{name: "opaque with its own media type", data: `{"mediaType":"application/x-other"}`, mediaType: "application/x-other", algorithm: digest.SHA256},
		{name: "docker manifest as text/plain", data: `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":` + cfg + `,"layers":[]}`, mediaType: "text/plain", wantErr: true},
		{name: "docker manifest as application/json", data: `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":` + cfg + `,"layers":[]}`, mediaType: "application/json", wantErr: true},
		{name: "OCI manifest without mediaType as application/json", data: `{"schemaVersion":2,"config":` + cfg + `,"layers":[]}`, mediaType: "application/json", wantErr: true},
		{name: "OCI index without mediaType as text/plain", data: `{"schemaVersion":2,"manifests":[]}`, mediaType: "text/plain", wantErr: true},
		{name: "opaque contradicted", data: `{"mediaType":"application/x-one"}`, mediaType: "application/x-two", wantErr: true},
		{name: "index with layers", data: `{"schemaVersion":2,"manifests":[],"layers":[]}`, mediaType: ocispec.MediaTypeImageIndex, wantErr: true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			p, err := ocimanifest.Parse([]byte(test.data), test.mediaType)
			if test.wantErr {
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid))
				return
			}
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.HasLen(p.Blobs, test.blobs))
			qt.Check(t, qt.HasLen(p.Children, test.children))
			qt.Check(t, qt.Equals(p.ArtifactType, test.artifact))
			qt.Check(t, qt.Equals(p.Algorithm, test.algorithm))
		})
	}
}
