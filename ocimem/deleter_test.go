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

func TestDeleteManifestReplacedByOtherDigest(t *testing.T) {
	// A manifest of sha512 content is stored under its sha512 digest,
	// and its tags hold that digest. Pushing the same bytes as an
	// opaque media type stores them under their sha256 digest instead,
	// replacing the first manifest. The tag must follow, so that
	// deleting the manifest takes the tag with it instead of leaving it
	// pointing at nothing (which made ResolveTag panic).
	r := ocimem.New()
	config := pushBlob(t, r, "repo", digest.SHA512, `{"a":1}`)
	config.MediaType = ocispec.MediaTypeImageConfig
	data := imageManifest(t, ocispec.Manifest{Config: config})
	desc := must(r.PushManifest(ctx, "repo", "t", data, ocispec.MediaTypeImageManifest))
	qt.Assert(t, qt.Equals(desc.Digest, digest.SHA512.FromBytes(data)))

	const opaque = "application/vnd.example.opaque"
	opaqueDesc := must(r.PushManifest(ctx, "repo", "", data, opaque))
	qt.Assert(t, qt.Equals(opaqueDesc.Digest, digest.SHA256.FromBytes(data)))
	// The tag now names the manifest as last pushed.
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "t")), opaqueDesc))

	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", opaqueDesc.Digest)))
	_, err := r.ResolveTag(ctx, "repo", "t")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = r.GetTag(ctx, "repo", "t")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	qt.Assert(t, qt.HasLen(mustAll(t, r.Tags(ctx, "repo", "")), 0))

	// The other way round: sha256 first, then an image of sha512
	// content, whose digest field is sha512.
	r = ocimem.New()
	pushBlob(t, r, "repo", digest.SHA512, `{"a":1}`)
	opaqueDesc = must(r.PushManifest(ctx, "repo", "t", data, opaque))
	desc = must(r.PushManifest(ctx, "repo", "", data, ocispec.MediaTypeImageManifest))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "t")), desc))
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", opaqueDesc.Digest)))
	_, err = r.ResolveTag(ctx, "repo", "t")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}
