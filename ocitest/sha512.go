package ocitest

import (
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The tests of manifests of sha512 content, as a client that uses sha512
// throughout pushes them.
//
// The specification lets such a client push a manifest by its sha512
// digest, after which the registry answers with that digest; pushed by
// tag, the registry chooses the digest. PushManifest is not told which
// digest the client uses, so an implementation may answer either the
// sha256 or the sha512 digest of the content (ocimem answers sha512 for
// sha512 content, ociclient sha256 unless the subject is sha512), and so
// may ResolveTag and Referrers. What it must do is find the manifest by
// either digest, since the client will refer to it by sha512 (in an
// index, as a subject) and others by sha256, and answer a lookup by
// digest with the digest it was asked for.

// isDigestOf reports whether d is the sha256 or the sha512 digest of
// content.
func isDigestOf(d ociregistry.Digest, content []byte) bool {
	return d == digest.SHA256.FromBytes(content) || d == digest.SHA512.FromBytes(content)
}

// pushManifestEitherDigest pushes a manifest and returns its descriptor
// with its sha512 digest, having checked that r answered the sha256 or
// the sha512 digest of content and the right size and media type.
func pushManifestEitherDigest(t testing.TB, r ociregistry.Interface, repo, tag string, content []byte, mediaType string) ociregistry.Descriptor {
	t.Helper()
	got, err := r.PushManifest(t.Context(), repo, tag, content, mediaType)
	if err != nil {
		t.Fatalf("pushing manifest to %s (tag %q): %v", repo, tag, err)
	}
	if !isDigestOf(got.Digest, content) || got.Size != int64(len(content)) || got.MediaType != mediaType {
		t.Fatalf("pushing manifest to %s: got descriptor %s size %d type %q, want a digest of the content, size %d, type %q", repo, got.Digest, got.Size, got.MediaType, len(content), mediaType)
	}
	return ociregistry.Descriptor{
		MediaType: mediaType,
		Digest:    digest.SHA512.FromBytes(content),
		Size:      int64(len(content)),
	}
}

// assertManifestEitherDigest checks that repo holds the manifest with
// the given content and media type under both its digests, each lookup
// answering the digest it asked for, and, when tag is not empty, that
// the tag leads to it with either digest.
func assertManifestEitherDigest(t testing.TB, r ociregistry.Interface, repo, tag string, content []byte, mediaType string) {
	t.Helper()
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		desc := ociregistry.Descriptor{MediaType: mediaType, Digest: alg.FromBytes(content), Size: int64(len(content))}
		assertManifest(t, r, repo, "", desc, content)
	}
	if tag == "" {
		return
	}
	check := func(method string, got ociregistry.Descriptor) {
		t.Helper()
		qt.Assert(t, qt.IsTrue(isDigestOf(got.Digest, content)), qt.Commentf("%s answered digest %s", method, got.Digest))
		qt.Assert(t, qt.Equals(got.Size, int64(len(content))), qt.Commentf("%s", method))
		qt.Assert(t, qt.Equals(got.MediaType, mediaType), qt.Commentf("%s", method))
	}
	rd, err := r.GetTag(t.Context(), repo, tag)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("GetTag %s %s", repo, tag))
	check("GetTag", rd.Descriptor())
	assertBytes(t, readAll(t, rd), content)
	got, err := r.ResolveTag(t.Context(), repo, tag)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("ResolveTag %s %s", repo, tag))
	check("ResolveTag", got)
}

// pushSHA512Image pushes an image whose config and two layers are
// addressed by sha512, tagged with tag unless it is empty, and returns
// it with the sha512 descriptor of its manifest.
func pushSHA512Image(t testing.TB, r ociregistry.Interface, repo, tag string) Pushed {
	t.Helper()
	p := Pushed{BlobContent: map[ociregistry.Digest][]byte{}}
	var layers []ociregistry.Descriptor
	for range 2 {
		data := randomBytes(512 + randomSize(1024))
		desc := pushBlobAlg(t, r, repo, ocispec.MediaTypeImageLayer, digest.SHA512, data)
		p.BlobContent[desc.Digest] = data
		layers = append(layers, desc)
	}
	config := mustMarshal(t, ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   ocispec.ImageConfig{Labels: map[string]string{"random": randomHex()}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layers[0].Digest, layers[1].Digest}},
	})
	configDesc := pushBlobAlg(t, r, repo, ocispec.MediaTypeImageConfig, digest.SHA512, config)
	p.BlobContent[configDesc.Digest] = config
	p.Blobs = append([]ociregistry.Descriptor{configDesc}, layers...)
	p.Content = mustMarshal(t, newManifest(configDesc, layers))
	p.Manifest = pushManifestEitherDigest(t, r, repo, tag, p.Content, ocispec.MediaTypeImageManifest)
	return p
}

func testManifestSHA512(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := pushSHA512Image(t, r, "test/sha512", "v1")
	for _, desc := range p.Blobs {
		qt.Assert(t, qt.Equals(desc.Digest.Algorithm(), digest.SHA512))
		assertBlob(t, r, "test/sha512", desc.Digest, p.BlobContent[desc.Digest])
	}
	assertManifestEitherDigest(t, r, "test/sha512", "v1", p.Content, ocispec.MediaTypeImageManifest)

	// Pushing it again is harmless.
	pushManifestEitherDigest(t, r, "test/sha512", "v1", p.Content, ocispec.MediaTypeImageManifest)
	assertManifestEitherDigest(t, r, "test/sha512", "v1", p.Content, ocispec.MediaTypeImageManifest)

	// A sha512 digest of content that is not there is unknown.
	assertNoManifest(t, r, "test/sha512", digest.SHA512.FromString("never pushed"))
}

func testManifestSHA512Index(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	idx := ociregistry.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	var children []Pushed
	for _, arch := range []string{"amd64", "arm64"} {
		child := pushSHA512Image(t, r, "test/sha512", "")
		children = append(children, child)
		desc := child.Manifest
		desc.Platform = &ocispec.Platform{Architecture: arch, OS: "linux"}
		idx.Manifests = append(idx.Manifests, desc)
	}
	content := mustMarshal(t, idx)
	pushManifestEitherDigest(t, r, "test/sha512", "multi", content, ocispec.MediaTypeImageIndex)
	assertManifestEitherDigest(t, r, "test/sha512", "multi", content, ocispec.MediaTypeImageIndex)
	for _, child := range children {
		// The index's children are found by the sha512 digests it
		// holds.
		assertManifest(t, r, "test/sha512", "", child.Manifest, child.Content)
	}

	if s.LaxReferences {
		return
	}
	// A child that is not there, by sha512, is missing like one by
	// sha256.
	missing := ociregistry.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.SHA512.FromString("never pushed"),
		Size:      int64(len("never pushed")),
	}
	idx.Manifests = append(idx.Manifests, missing)
	content = mustMarshal(t, idx)
	_, err := r.PushManifest(t.Context(), "test/sha512", "broken", content, ocispec.MediaTypeImageIndex)
	assertErrorIs(t, err, ociregistry.ErrManifestBlobUnknown)
	assertNoManifest(t, r, "test/sha512", digest.SHA512.FromBytes(content))
	assertNoManifest(t, r, "test/sha512", Digest(content))
	assertNoTag(t, r, "test/sha512", "broken")
}

func testReferrersSHA512Subject(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	r := s.newRegistry(t)
	image := pushSHA512Image(t, r, "test/referrers", "v1")
	const artifactType = "application/vnd.example.sig"
	config := pushBlobAlg(t, r, "test/referrers", ocispec.MediaTypeEmptyJSON, digest.SHA512, []byte("{}"))
	layer := pushBlobAlg(t, r, "test/referrers", "application/octet-stream", digest.SHA512, randomBytes(300))
	m := newManifest(config, []ociregistry.Descriptor{layer})
	m.ArtifactType = artifactType
	m.Subject = &image.Manifest
	content := mustMarshal(t, m)
	pushManifestEitherDigest(t, r, "test/referrers", "", content, ocispec.MediaTypeImageManifest)

	// Also a referrer of the same image by its sha256 digest, which is
	// another subject and must not be yielded.
	image256 := image.Manifest
	image256.Digest = Digest(image.Content)
	PushRandomArtifact(t, r, "test/referrers", image256, artifactType)

	for _, filter := range []string{"", artifactType} {
		got := referrers(t, r, "test/referrers", image.Manifest.Digest, filter)
		qt.Assert(t, qt.HasLen(got, 1), qt.Commentf("artifactType %q", filter))
		desc := got[0]
		qt.Assert(t, qt.IsTrue(isDigestOf(desc.Digest, content)), qt.Commentf("Referrers yielded digest %s", desc.Digest))
		qt.Assert(t, qt.Equals(desc.MediaType, ocispec.MediaTypeImageManifest))
		qt.Assert(t, qt.Equals(desc.Size, int64(len(content))))
		qt.Assert(t, qt.Equals(desc.ArtifactType, artifactType))
		// The digest yielded finds the referrer.
		assertManifest(t, r, "test/referrers", "", ociregistry.Descriptor{
			MediaType: ocispec.MediaTypeImageManifest,
			Digest:    desc.Digest,
			Size:      desc.Size,
		}, content)
	}
	got := referrers(t, r, "test/referrers", image.Manifest.Digest, "application/vnd.example.none")
	qt.Assert(t, qt.HasLen(got, 0))
}
