package ocimem_test

import (
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestDeleteManifest(t *testing.T) {
	for _, by512 := range []bool{false, true} {
		r := ocimem.New()
		desc := pushImage(t, r, "repo", "a", "1")
		must(r.PushManifest(ctx, "repo", "b", readBytes(t, r, desc), desc.MediaType))
		other := pushImage(t, r, "repo", "c", "2")

		dig := desc.Digest
		if by512 {
			dig = digest.SHA512.FromString(string(readBytes(t, r, desc)))
		}
		qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", dig)))
		// Both its digests and all its tags are gone, nothing else.
		_, err := r.GetManifest(ctx, "repo", desc.Digest)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = r.GetManifest(ctx, "repo", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = r.GetTag(ctx, "repo", "a")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		qt.Assert(t, qt.DeepEquals(mustAll(t, r.Tags(ctx, "repo", "")), []string{"c"}))
		qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "c")), other))

		err = r.DeleteManifest(ctx, "repo", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	}
}

func TestDeleteTag(t *testing.T) {
	r := ocimem.New()
	desc := pushImage(t, r, "repo", "a", "1")
	must(r.PushManifest(ctx, "repo", "b", readBytes(t, r, desc), desc.MediaType))
	qt.Assert(t, qt.IsNil(r.DeleteTag(ctx, "repo", "a")))
	_, err := r.ResolveTag(ctx, "repo", "a")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	// The manifest and its other tags stay.
	qt.Assert(t, qt.DeepEquals(must(r.ResolveManifest(ctx, "repo", desc.Digest)), desc))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "b")), desc))
	err = r.DeleteTag(ctx, "repo", "a")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}

func TestDeleteBlobLeavesManifests(t *testing.T) {
	r := ocimem.New()
	desc := pushImage(t, r, "repo", "a", "1")
	config := pushBlob(t, r, "repo", digest.SHA256, `{"seed":"1"}`)
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "repo", config.Digest)))
	_, err := r.GetBlob(ctx, "repo", config.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "a")), desc))
	// But the manifest cannot be pushed again without it.
	_, err = r.PushManifest(ctx, "repo", "", readBytes(t, r, desc), desc.MediaType)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestBlobUnknown))
}

func readBytes(t *testing.T, r *ocimem.Registry, desc ociregistry.Descriptor) []byte {
	t.Helper()
	return []byte(readAll(t, must(r.GetManifest(ctx, "repo", desc.Digest)), desc))
}

func TestManifestKeepsFirstMediaType(t *testing.T) {
	// A manifest of sha512 content is stored under its sha512 digest,
	// and its tags hold that digest. Pushing the same bytes as an opaque
	// media type contradicts their mediaType field and is refused;
	// nothing changes how the manifest or its tag is served.
	r := ocimem.New()
	config := pushBlob(t, r, "repo", digest.SHA512, `{"a":1}`)
	config.MediaType = ocispec.MediaTypeImageConfig
	data := imageManifest(t, ocispec.Manifest{Config: config})
	desc := must(r.PushManifest(ctx, "repo", "t", data, ocispec.MediaTypeImageManifest))
	qt.Assert(t, qt.Equals(desc.Digest, digest.SHA512.FromBytes(data)))
	for _, mt := range []string{"application/vnd.example.opaque", "text/plain", "application/json"} {
		_, err := r.PushManifest(ctx, "repo", "u", data, mt)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid), qt.Commentf("%s", mt))
	}
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "t")), desc))
	qt.Assert(t, qt.Equals(must(r.ResolveManifest(ctx, "repo", digest.SHA256.FromBytes(data))).MediaType, desc.MediaType))

	// Content that claims no type of its own keeps the type it was
	// first pushed as, and a second tag pushed with other types names
	// the same descriptor.
	opaque := []byte(`{"whatever":true}`)
	first := must(r.PushManifest(ctx, "repo", "o1", opaque, "application/vnd.example.one"))
	again := must(r.PushManifest(ctx, "repo", "o2", opaque, "application/vnd.example.two"))
	qt.Assert(t, qt.DeepEquals(again, first))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "o1")), first))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "o2")), first))
	rd := must(r.GetManifest(ctx, "repo", first.Digest))
	qt.Assert(t, qt.Equals(rd.Descriptor().MediaType, "application/vnd.example.one"))
	rd.Close()

	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", first.Digest)))
	for _, tag := range []string{"o1", "o2"} {
		_, err := r.ResolveTag(ctx, "repo", tag)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	}
}
