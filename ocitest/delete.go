package ocitest

import (
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
)

var deleteTests = []test{
	{"Blob", testDeleteBlob},
	{"Manifest", testDeleteManifest},
	{"Tag", testDeleteTag},
	{"Unknown", testDeleteUnknown},
	{"Refused", testDeleteRefused},
}

func testDeleteBlob(t *testing.T, s Suite) {
	if s.NoDelete {
		t.Skip("Suite.NoDelete")
	}
	r := s.newRegistry(t)
	gone := PushBlob(t, r, "test/delete", []byte("deleted")).Digest
	kept := []byte("kept")
	PushBlob(t, r, "test/delete", kept)
	qt.Assert(t, qt.IsNil(r.DeleteBlob(t.Context(), "test/delete", gone)))
	assertNoBlob(t, r, "test/delete", gone)
	assertBlob(t, r, "test/delete", Digest(kept), kept)
	assertErrorIs(t, r.DeleteBlob(t.Context(), "test/delete", gone), ociregistry.ErrBlobUnknown)
}

func testDeleteManifest(t *testing.T, s Suite) {
	if s.NoDelete {
		t.Skip("Suite.NoDelete")
	}
	r := s.newRegistry(t)
	gone := PushRandomImage(t, r, "test/delete", "t1")
	pushTags(t, r, "test/delete", gone, []string{"t2"})
	kept := PushRandomImage(t, r, "test/delete", "t3")

	qt.Assert(t, qt.IsNil(r.DeleteManifest(t.Context(), "test/delete", gone.Manifest.Digest)))
	assertNoManifest(t, r, "test/delete", gone.Manifest.Digest)
	// Deleting a manifest deletes the tags that pointed at it.
	assertNoTag(t, r, "test/delete", "t1")
	assertNoTag(t, r, "test/delete", "t2")
	assertManifest(t, r, "test/delete", "t3", kept.Manifest, kept.Content)
	qt.Assert(t, qt.DeepEquals(collect(t, r.Tags(t.Context(), "test/delete", "")), []string{"t3"}))
	assertErrorIs(t, r.DeleteManifest(t.Context(), "test/delete", gone.Manifest.Digest), ociregistry.ErrManifestUnknown)
}

func testDeleteTag(t *testing.T, s Suite) {
	if s.NoDelete {
		t.Skip("Suite.NoDelete")
	}
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/delete", "t1")
	pushTags(t, r, "test/delete", p, []string{"t2"})

	qt.Assert(t, qt.IsNil(r.DeleteTag(t.Context(), "test/delete", "t1")))
	assertNoTag(t, r, "test/delete", "t1")
	// The manifest stays, by digest and by its other tag.
	assertManifest(t, r, "test/delete", "t2", p.Manifest, p.Content)
	qt.Assert(t, qt.DeepEquals(collect(t, r.Tags(t.Context(), "test/delete", "")), []string{"t2"}))
	assertErrorIs(t, r.DeleteTag(t.Context(), "test/delete", "t1"), ociregistry.ErrManifestUnknown)
}

func testDeleteUnknown(t *testing.T, s Suite) {
	if s.NoDelete {
		t.Skip("Suite.NoDelete")
	}
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/delete", "v1")
	absent := Digest([]byte("never pushed"))
	assertErrorIs(t, r.DeleteBlob(t.Context(), "test/delete", absent), ociregistry.ErrBlobUnknown)
	assertErrorIs(t, r.DeleteManifest(t.Context(), "test/delete", absent), ociregistry.ErrManifestUnknown)
	assertErrorIs(t, r.DeleteTag(t.Context(), "test/delete", "v2"), ociregistry.ErrManifestUnknown)
	// A blob is not a manifest. (The converse is not checked: some
	// registries store manifests as blobs too.)
	assertErrorIs(t, r.DeleteManifest(t.Context(), "test/delete", p.Blobs[0].Digest), ociregistry.ErrManifestUnknown)
	assertManifest(t, r, "test/delete", "v1", p.Manifest, p.Content)
	assertBlob(t, r, "test/delete", p.Blobs[0].Digest, p.BlobContent[p.Blobs[0].Digest])
	if s.SingleRepository {
		return
	}

	assertErrorIs(t, r.DeleteBlob(t.Context(), "test/nothing", absent), ociregistry.ErrBlobUnknown, ociregistry.ErrNameUnknown)
	assertErrorIs(t, r.DeleteManifest(t.Context(), "test/nothing", absent), ociregistry.ErrManifestUnknown, ociregistry.ErrNameUnknown)
	assertErrorIs(t, r.DeleteTag(t.Context(), "test/nothing", "v1"), ociregistry.ErrManifestUnknown, ociregistry.ErrNameUnknown)
}

// testDeleteRefused checks that a registry that cannot delete says so
// with an error instead of pretending.
func testDeleteRefused(t *testing.T, s Suite) {
	if !s.NoDelete {
		t.Skip("only with Suite.NoDelete")
	}
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/delete", "v1")
	qt.Assert(t, qt.IsNotNil(r.DeleteTag(t.Context(), "test/delete", "v1")))
	qt.Assert(t, qt.IsNotNil(r.DeleteManifest(t.Context(), "test/delete", p.Manifest.Digest)))
	qt.Assert(t, qt.IsNotNil(r.DeleteBlob(t.Context(), "test/delete", p.Blobs[1].Digest)))
	assertManifest(t, r, "test/delete", "v1", p.Manifest, p.Content)
	assertBlob(t, r, "test/delete", p.Blobs[1].Digest, p.BlobContent[p.Blobs[1].Digest])
}
