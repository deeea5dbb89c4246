package ocitest

import (
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var manifestTests = []test{
	{"Image", testManifestImage},
	{"Untagged", testManifestUntagged},
	{"ZeroLayers", testManifestZeroLayers},
	{"PushTwice", testManifestPushTwice},
	{"FirstMediaType", testManifestFirstMediaType},
	{"MissingBlob", testManifestMissingBlob},
	{"Invalid", testManifestInvalid},
	{"Index", testManifestIndex},
	{"IndexMissingChild", testManifestIndexMissingChild},
	{"WrongSize", testManifestWrongSize},
	{"SubjectNotPushed", testManifestSubjectNotPushed},
	{"TagMoves", testManifestTagMoves},
	{"Unknown", testManifestUnknown},
	{"SHA512", testManifestSHA512},
	{"SHA512Index", testManifestSHA512Index},
}

func testManifestImage(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/image", "v1")
	qt.Assert(t, qt.Equals(p.Manifest.MediaType, ocispec.MediaTypeImageManifest))
	assertManifest(t, r, "test/image", "v1", p.Manifest, p.Content)
	for _, desc := range p.Blobs {
		assertBlob(t, r, "test/image", desc.Digest, p.BlobContent[desc.Digest])
	}
}

func testManifestUntagged(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/image", "")
	assertManifest(t, r, "test/image", "", p.Manifest, p.Content)
}

func testManifestZeroLayers(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	config := pushBlob(t, r, "test/image", ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	content := mustMarshal(t, newManifest(config, nil))
	desc := pushManifest(t, r, "test/image", "empty", content, ocispec.MediaTypeImageManifest)
	assertManifest(t, r, "test/image", "empty", desc, content)
}

func testManifestPushTwice(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/image", "v1")
	desc, err := r.PushManifest(t.Context(), "test/image", "v1", p.Content, p.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, p.Manifest.Digest))
	assertManifest(t, r, "test/image", "v1", p.Manifest, p.Content)
}

// testManifestFirstMediaType pushes content that names no media type
// of its own twice, with two types: the manifest keeps the first, under
// either tag and by digest.
func testManifestFirstMediaType(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	config := pushBlob(t, r, "test/image", ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	content := mustMarshal(t, map[string]any{"schemaVersion": 2, "config": config, "layers": []any{}})
	first := pushManifest(t, r, "test/image", "v1", content, ocispec.MediaTypeImageManifest)
	// Over HTTP, the answer to the push does not say the type stored,
	// so the descriptor PushManifest returns is not checked.
	_, err := r.PushManifest(t.Context(), "test/image", "v2", content, "application/vnd.docker.distribution.manifest.v2+json")
	qt.Assert(t, qt.IsNil(err))
	for _, tag := range []string{"v1", "v2"} {
		assertManifest(t, r, "test/image", tag, first, content)
	}
}

func testManifestMissingBlob(t *testing.T, s Suite) {
	if s.LaxReferences {
		t.Skip("Suite.LaxReferences")
	}
	r := s.newRegistry(t)
	PushBlob(t, r, "test/image", []byte("keeps the repository in existence"))
	present := pushBlob(t, r, "test/image", ocispec.MediaTypeImageLayer, randomBytes(100))
	config := pushBlob(t, r, "test/image", ocispec.MediaTypeImageConfig, []byte(`{}`))
	missing := ociregistry.Descriptor{
		MediaType: ocispec.MediaTypeImageLayer,
		Digest:    Digest([]byte("never pushed")),
		Size:      int64(len("never pushed")),
	}
	missingConfig := missing
	missingConfig.MediaType = ocispec.MediaTypeImageConfig
	tests := []struct {
		name     string
		manifest ociregistry.Manifest
	}{
		{"Layer", newManifest(config, []ociregistry.Descriptor{present, missing})},
		{"Config", newManifest(missingConfig, []ociregistry.Descriptor{present})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			content := mustMarshal(t, tc.manifest)
			_, err := r.PushManifest(t.Context(), "test/image", "tag"+tc.name, content, ocispec.MediaTypeImageManifest)
			assertErrorIs(t, err, ociregistry.ErrManifestBlobUnknown)
			assertNoManifest(t, r, "test/image", Digest(content))
			assertNoTag(t, r, "test/image", "tag"+tc.name)
		})
	}
}

func testManifestInvalid(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/image", "v1")
	// The blobs and the child are there, so that only the content's
	// form is wrong: each case is ErrManifestInvalid because its
	// content does not parse as a manifest of its media type, which the
	// Interface promises, not because of what it refers to.
	config, layer := p.Blobs[0], p.Blobs[1]
	configJSON, layerJSON, childJSON := string(mustMarshal(t, config)), string(mustMarshal(t, layer)), string(mustMarshal(t, p.Manifest))
	badDigest := layer
	badDigest.Digest = "sha256:nothex"
	badDigestJSON := string(mustMarshal(t, badDigest))
	image := string(mustMarshal(t, newManifest(config, []ociregistry.Descriptor{layer})))
	tests := []struct {
		name      string
		content   string
		mediaType string
	}{
		{"NotJSON", "not a manifest", ocispec.MediaTypeImageManifest},
		{"Truncated", `{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {`, ocispec.MediaTypeImageManifest},
		{"Array", `[]`, ocispec.MediaTypeImageManifest},
		{"IndexNotJSON", "not an index", ocispec.MediaTypeImageIndex},
		// A valid image manifest pushed as an index, and the other
		// way round: the mediaType field must match.
		{"ImagePushedAsIndex", image, ocispec.MediaTypeImageIndex},
		{"IndexPushedAsImage", `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[` + childJSON + `]}`, ocispec.MediaTypeImageManifest},
		{"NoSchemaVersion", `{"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":` + configJSON + `,"layers":[` + layerJSON + `]}`, ocispec.MediaTypeImageManifest},
		{"SchemaVersion1", `{"schemaVersion":1,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":` + configJSON + `,"layers":[` + layerJSON + `]}`, ocispec.MediaTypeImageManifest},
		{"SchemaVersion3", `{"schemaVersion":3,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":` + configJSON + `,"layers":[` + layerJSON + `]}`, ocispec.MediaTypeImageManifest},
		{"SchemaVersionString", `{"schemaVersion":"2","mediaType":"` + ocispec.MediaTypeImageManifest + `","config":` + configJSON + `,"layers":[` + layerJSON + `]}`, ocispec.MediaTypeImageManifest},
		{"NoConfig", `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","layers":[` + layerJSON + `]}`, ocispec.MediaTypeImageManifest},
		{"IndexWithLayers", `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[` + childJSON + `],"layers":[` + layerJSON + `]}`, ocispec.MediaTypeImageIndex},
		{"IndexWithConfig", `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[` + childJSON + `],"config":` + configJSON + `}`, ocispec.MediaTypeImageIndex},
		{"BadLayerDigest", `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":` + configJSON + `,"layers":[` + badDigestJSON + `]}`, ocispec.MediaTypeImageManifest},
		{"BadSubjectDigest", `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":` + configJSON + `,"layers":[],"subject":` + badDigestJSON + `}`, ocispec.MediaTypeImageManifest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.PushManifest(t.Context(), "test/image", "bad", []byte(tc.content), tc.mediaType)
			assertErrorIs(t, err, ociregistry.ErrManifestInvalid)
			assertNoManifest(t, r, "test/image", Digest([]byte(tc.content)))
			assertNoTag(t, r, "test/image", "bad")
		})
	}
	// The valid image the cases above were made from is accepted, so
	// that they fail for the reason their names give.
	pushManifest(t, r, "test/image", "", []byte(image), ocispec.MediaTypeImageManifest)
}

func testManifestIndex(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := PushRandomIndex(t, r, "test/index", "multi")
	qt.Assert(t, qt.Equals(p.Manifest.MediaType, ocispec.MediaTypeImageIndex))
	qt.Assert(t, qt.HasLen(p.Children, 2))
	assertManifest(t, r, "test/index", "multi", p.Manifest, p.Content)
	for _, child := range p.Children {
		assertManifest(t, r, "test/index", "", child.Manifest, child.Content)
	}
}

func testManifestIndexMissingChild(t *testing.T, s Suite) {
	if s.LaxReferences {
		t.Skip("Suite.LaxReferences")
	}
	if s.SingleRepository {
		t.Skip("Suite.SingleRepository")
	}
	r := s.newRegistry(t)
	present := PushRandomImage(t, r, "test/index", "")
	// other is pushed to another repository, so that it exists but
	// not where the index is.
	other := PushRandomImage(t, r, "test/other", "")
	idx := ociregistry.Index{
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ociregistry.Descriptor{present.Manifest, other.Manifest},
	}
	idx.SchemaVersion = 2
	content := mustMarshal(t, idx)
	_, err := r.PushManifest(t.Context(), "test/index", "multi", content, ocispec.MediaTypeImageIndex)
	assertErrorIs(t, err, ociregistry.ErrManifestBlobUnknown)
	assertNoManifest(t, r, "test/index", Digest(content))
	assertNoTag(t, r, "test/index", "multi")
}

// testManifestWrongSize pushes an image manifest and an index whose
// descriptors give the wrong size for content the repository holds: a
// client pulling them would fail to verify it. Even a registry that lets
// references be absent refuses them.
func testManifestWrongSize(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/image", "")
	config, layer := p.Blobs[0], p.Blobs[1]
	layer.Size++
	image := mustMarshal(t, newManifest(config, []ociregistry.Descriptor{layer}))
	child := p.Manifest
	child.Size--
	idx := ociregistry.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ociregistry.Descriptor{child}}
	idx.SchemaVersion = 2
	index := mustMarshal(t, idx)
	for _, tc := range []struct {
		name, mediaType string
		content         []byte
	}{
		{"Layer", ocispec.MediaTypeImageManifest, image},
		{"Child", ocispec.MediaTypeImageIndex, index},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.PushManifest(t.Context(), "test/image", "wrong"+tc.name, tc.content, tc.mediaType)
			assertErrorIs(t, err, ociregistry.ErrManifestInvalid)
			assertNoManifest(t, r, "test/image", Digest(tc.content))
			assertNoTag(t, r, "test/image", "wrong"+tc.name)
		})
	}
}

func testManifestSubjectNotPushed(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	subject := ociregistry.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    Digest([]byte("a manifest that is not there")),
		Size:      int64(len("a manifest that is not there")),
	}
	p := PushRandomArtifact(t, r, "test/artifact", subject, "application/vnd.example.sbom")
	assertManifest(t, r, "test/artifact", "", p.Manifest, p.Content)
}

func testManifestTagMoves(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	first := PushRandomImage(t, r, "test/image", "latest")
	second := PushRandomImage(t, r, "test/image", "")
	_, err := r.PushManifest(t.Context(), "test/image", "latest", second.Content, second.Manifest.MediaType)
	if s.ImmutableTags {
		qt.Assert(t, qt.IsNotNil(err))
		assertManifest(t, r, "test/image", "latest", first.Manifest, first.Content)
		return
	}
	qt.Assert(t, qt.IsNil(err))
	assertManifest(t, r, "test/image", "latest", second.Manifest, second.Content)
	// The manifest the tag left is still there by digest.
	assertManifest(t, r, "test/image", "", first.Manifest, first.Content)
}

func testManifestUnknown(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushRandomImage(t, r, "test/image", "v1")
	assertNoTag(t, r, "test/image", "v2")
	absent := Digest([]byte("never pushed"))
	assertNoManifest(t, r, "test/image", absent)

	// A blob is not a manifest.
	blob := PushBlob(t, r, "test/image", []byte("a blob")).Digest
	assertNoManifest(t, r, "test/image", blob)
	if s.SingleRepository {
		return
	}

	// The Interface allows either error for a repository that does
	// not exist.
	_, err := r.GetTag(t.Context(), "test/nothing", "v1")
	assertErrorIs(t, err, ociregistry.ErrManifestUnknown, ociregistry.ErrNameUnknown)
	_, err = r.ResolveTag(t.Context(), "test/nothing", "v1")
	assertErrorIs(t, err, ociregistry.ErrManifestUnknown, ociregistry.ErrNameUnknown)
	_, err = r.GetManifest(t.Context(), "test/nothing", absent)
	assertErrorIs(t, err, ociregistry.ErrManifestUnknown, ociregistry.ErrNameUnknown)
	_, err = r.ResolveManifest(t.Context(), "test/nothing", absent)
	assertErrorIs(t, err, ociregistry.ErrManifestUnknown, ociregistry.ErrNameUnknown)
}
