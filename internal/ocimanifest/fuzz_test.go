package ocimanifest_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
)

// FuzzParse checks that Parse refuses content only with
// MANIFEST_INVALID, and that what it accepts keeps the media type it was
// pushed as and refers only to well-formed descriptors of its kind; and
// that parsing is a function of the content and the media type it found.
func FuzzParse(f *testing.F) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(digest.FromString("c")) + `","size":1}`
	cfg512 := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(digest.SHA512.FromString("c")) + `","size":1}`
	layer := `{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + string(digest.FromString("l")) + `","size":1}`
	foreign := `{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"` + string(digest.FromString("f")) + `","size":1,"urls":["https://example.com/f"]}`
	child := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + string(digest.FromString("m")) + `","size":1}`
	const docker = "application/vnd.docker.distribution.manifest.v2+json"
	const dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
	for _, seed := range []struct{ data, mediaType string }{
		{`{"schemaVersion":2,"config":` + cfg + `,"layers":[` + layer + `,` + foreign + `]}`, ocispec.MediaTypeImageManifest},
		{`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":` + cfg512 + `,"layers":[]}`, ""},
		{`{"schemaVersion":2,"mediaType":"` + docker + `","config":` + cfg + `,"layers":[` + layer + `]}`, docker},
		{`{"schemaVersion":2,"manifests":[` + child + `],"subject":` + child + `}`, ocispec.MediaTypeImageIndex},
		{`{"schemaVersion":2,"mediaType":"` + dockerList + `","manifests":[` + child + `]}`, ""},
		{`{"schemaVersion":2,"artifactType":"application/x","config":` + cfg + `,"annotations":{"a":"b"},"subject":` + child + `}`, ocispec.MediaTypeImageManifest},
		{`{"schemaVersion":1}`, ocispec.MediaTypeImageManifest},
		{`{"schemaVersion":2,"config":{"digest":"sha256:abc","size":-1}}`, ocispec.MediaTypeImageManifest},
		{`{"schemaVersion":2,"config":` + cfg + `,"manifests":[]}`, ocispec.MediaTypeImageManifest},
		{`{"mediaType":"application/vnd.example+json"}`, ""},
		{`not json`, "application/vnd.example+json"},
		{`not json`, ""},
		{`{"schemaVersion":2,"mediaType":"` + docker + `","config":` + cfg + `}`, ocispec.MediaTypeImageManifest},
		{`null`, ocispec.MediaTypeImageIndex},
	} {
		f.Add([]byte(seed.data), seed.mediaType)
	}
	f.Fuzz(func(t *testing.T, data []byte, mediaType string) {
		p, err := ocimanifest.Parse(data, mediaType)
		if err != nil {
			if !errors.Is(err, ociregistry.ErrManifestInvalid) {
				t.Fatalf("Parse(%q, %q): %v is not MANIFEST_INVALID", data, mediaType, err)
			}
			if p != nil {
				t.Fatalf("Parse(%q, %q) returned %#v with its error", data, mediaType, p)
			}
			return
		}
		if p == nil || p.MediaType == "" {
			t.Fatalf("Parse(%q, %q) accepted it with no media type: %#v", data, mediaType, p)
		}
		if mediaType != "" && p.MediaType != mediaType {
			t.Fatalf("Parse(%q, %q) changed the media type to %q", data, mediaType, p.MediaType)
		}
		if p.Algorithm != digest.SHA256 && p.Algorithm != digest.SHA512 {
			t.Fatalf("Parse(%q, %q) guessed algorithm %q", data, mediaType, p.Algorithm)
		}
		descs := append(append([]ociregistry.Descriptor{}, p.Blobs...), p.Children...)
		if p.Subject != nil {
			descs = append(descs, *p.Subject)
		}
		for _, d := range descs {
			if !ociregistry.IsValidDigest(d.Digest) || d.Size < 0 {
				t.Fatalf("Parse(%q, %q) accepted a reference to digest %q size %d", data, mediaType, d.Digest, d.Size)
			}
		}
		if len(p.Blobs) > 0 && len(p.Children) > 0 {
			t.Fatalf("Parse(%q, %q) found both blobs and child manifests", data, mediaType)
		}
		switch p.MediaType {
		case ocispec.MediaTypeImageManifest, docker:
			// The config is always a blob the registry must hold.
			if len(p.Blobs) == 0 {
				t.Fatalf("Parse(%q, %q): an image manifest with no config", data, mediaType)
			}
		case ocispec.MediaTypeImageIndex, dockerList:
			if len(p.Blobs) != 0 {
				t.Fatalf("Parse(%q, %q): an index that refers to blobs", data, mediaType)
			}
		default:
			if len(p.Blobs)+len(p.Children) != 0 || p.Subject != nil {
				t.Fatalf("Parse(%q, %q): content of unknown type %q was looked into", data, mediaType, p.MediaType)
			}
		}
		// Told the media type it found, Parse finds the same.
		again, err := ocimanifest.Parse(data, p.MediaType)
		if err != nil {
			t.Fatalf("Parse(%q, %q) accepted it as %q, but not when told so: %v", data, mediaType, p.MediaType, err)
		}
		// Content of a type Parse does not know is not looked into
		// when it is told the type, so whether it declared it is not
		// known then.
		again.Declared = p.Declared
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("Parse(%q, %q) = %#v, but told %q: %#v", data, mediaType, p, p.MediaType, again)
		}
	})
}
