package ociclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ocitest"
)

// TestDistribution runs the client against CNCF Distribution's registry
// (v3.1.2 in ./test.sh), a server we did not write, which has no
// referrers API and answers 416 to a Content-Range on an empty final PUT.
func TestDistribution(t *testing.T) {
	host := toolstest.StartDistribution(t)
	c, err := New(host, &Options{ListPageSize: 2})
	qt.Assert(t, qt.IsNil(err))
	ctx := context.Background()
	// withManifests holds the repositories that the subtests that ran
	// pushed a manifest to, so that the catalog can be checked whichever
	// of them ran. Distribution's catalog lists only those: a repository
	// of blobs alone, such as dist/range, is missing from it.
	withManifests := map[string]bool{}

	var img ocitest.Pushed
	t.Run("PushPull", func(t *testing.T) {
		withManifests["dist/app"] = true
		img = ocitest.PushRandomImage(t, c, "dist/app", "v1")
		r, err := c.GetTag(ctx, "dist/app", "v1")
		qt.Assert(t, qt.IsNil(err))
		data, err := io.ReadAll(r)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(digest.FromBytes(data), img.Manifest.Digest))
		qt.Assert(t, qt.Equals(r.Descriptor().MediaType, img.Manifest.MediaType))
		desc, err := c.ResolveManifest(ctx, "dist/app", img.Manifest.Digest)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(desc.Size, img.Manifest.Size))
		for _, b := range img.Blobs {
			r, err := c.GetBlob(ctx, "dist/app", b.Digest)
			qt.Assert(t, qt.IsNil(err))
			data, err := io.ReadAll(r)
			r.Close()
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(int64(len(data)), b.Size))
		}
		_, err = c.ResolveBlob(ctx, "dist/app", digest.FromString("nope"))
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
		_, err = c.GetTag(ctx, "dist/app", "nope")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = c.ResolveTag(ctx, "dist/app", "nope")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = c.GetTag(ctx, "dist/nothing", "v1")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = c.GetBlob(ctx, "dist/nothing", img.Blobs[0].Digest)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	})
	t.Run("Range", func(t *testing.T) {
		data := []byte("0123456789abcdef")
		desc := ocitest.PushBlob(t, c, "dist/range", data)
		r, err := c.GetBlobRange(ctx, "dist/range", desc.Digest, 3, 7)
		qt.Assert(t, qt.IsNil(err))
		got, err := io.ReadAll(r)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(string(got), "3456"))
		_, err = c.GetBlobRange(ctx, "dist/range", desc.Digest, 100, -1)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrRangeInvalid))
	})
	t.Run("ChunkedPush", func(t *testing.T) {
		data := bytes.Repeat([]byte("chunk"), 3000)
		w, err := c.PushBlobChunked(ctx, "dist/chunked", 4096)
		qt.Assert(t, qt.IsNil(err))
		_, err = w.Write(data[:5000])
		qt.Assert(t, qt.IsNil(err))
		id := w.ID()
		qt.Assert(t, qt.IsNil(w.Close()))
		w, err = c.PushBlobChunkedResume(ctx, "dist/chunked", id, 5000, 4096)
		qt.Assert(t, qt.IsNil(err))
		_, err = w.Write(data[5000:])
		qt.Assert(t, qt.IsNil(err))
		// The last write sent everything: the final PUT is empty,
		// which Distribution wants without a Content-Range.
		qt.Assert(t, qt.IsNil(w.(*blobWriter).flush()))
		desc, err := w.Commit(digest.FromBytes(data))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
		r, err := c.GetBlob(ctx, "dist/chunked", desc.Digest)
		qt.Assert(t, qt.IsNil(err))
		got, err := io.ReadAll(r)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsTrue(bytes.Equal(got, data)))

		w, err = c.PushBlobChunked(ctx, "dist/chunked", 0)
		qt.Assert(t, qt.IsNil(err))
		w.Write([]byte("wrong"))
		_, err = w.Commit(digest.FromString("right"))
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
	})
	t.Run("Mount", func(t *testing.T) {
		data := []byte("mounted blob")
		desc := ocitest.PushBlob(t, c, "dist/from", data)
		got, err := c.MountBlob(ctx, "dist/from", "dist/to", desc.Digest)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(got.Size, desc.Size))
		_, err = c.ResolveBlob(ctx, "dist/to", desc.Digest)
		qt.Assert(t, qt.IsNil(err))
		_, err = c.MountBlob(ctx, "dist/from", "dist/to", digest.FromString("absent"))
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	})
	t.Run("TagsPagination", func(t *testing.T) {
		withManifests["dist/tags"] = true
		img := ocitest.PushRandomImage(t, c, "dist/tags", "t0")
		r, err := c.GetManifest(ctx, "dist/tags", img.Manifest.Digest)
		qt.Assert(t, qt.IsNil(err))
		data, _ := io.ReadAll(r)
		want := []string{"t0"}
		for i := 1; i < 5; i++ {
			tag := fmt.Sprintf("t%d", i)
			_, err := c.PushManifest(ctx, "dist/tags", tag, data, img.Manifest.MediaType)
			qt.Assert(t, qt.IsNil(err))
			want = append(want, tag)
		}
		got, err := ociregistry.All(c.Tags(ctx, "dist/tags", ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want))
		got, err = ociregistry.All(c.Tags(ctx, "dist/tags", "t2"))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want[3:]))
		qt.Assert(t, qt.IsNil(c.DeleteTag(ctx, "dist/tags", "t4")))
		got, err = ociregistry.All(c.Tags(ctx, "dist/tags", ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want[:4]))
		_, err = c.ResolveManifest(ctx, "dist/tags", img.Manifest.Digest)
		qt.Assert(t, qt.IsNil(err))
		// The catalog, in pages of 2, holds exactly the repositories
		// with manifests so far: enough of them for three pages.
		for i := range 3 {
			repo := fmt.Sprintf("dist/cat%d", i)
			ocitest.PushRandomImage(t, c, repo, "v1")
			withManifests[repo] = true
		}
		repos, err := ociregistry.All(c.Repositories(ctx, ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(repos, slices.Sorted(maps.Keys(withManifests))))
	})
	t.Run("ReferrersFallback", func(t *testing.T) {
		img := ocitest.PushRandomImage(t, c, "dist/refs", "v1")
		a1 := ocitest.PushRandomArtifact(t, c, "dist/refs", img.Manifest, "application/vnd.example.sig")
		a2 := ocitest.PushRandomArtifact(t, c, "dist/refs", img.Manifest, "application/vnd.example.sbom")
		// Distribution keeps the fallback tag like any other.
		tags, err := ociregistry.All(c.Tags(ctx, "dist/refs", ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsTrue(slices.Contains(tags, "sha256-"+img.Manifest.Digest.Encoded())))

		got, err := ociregistry.All(c.Referrers(ctx, "dist/refs", img.Manifest.Digest, ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(got, 2))
		digests := map[ociregistry.Digest]bool{got[0].Digest: true, got[1].Digest: true}
		qt.Assert(t, qt.IsTrue(digests[a1.Manifest.Digest] && digests[a2.Manifest.Digest]))
		got, err = ociregistry.All(c.Referrers(ctx, "dist/refs", img.Manifest.Digest, "application/vnd.example.sbom"))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(got, 1))
		qt.Assert(t, qt.Equals(got[0].Digest, a2.Manifest.Digest))

		qt.Assert(t, qt.IsNil(c.DeleteManifest(ctx, "dist/refs", a1.Manifest.Digest)))
		got, err = ociregistry.All(c.Referrers(ctx, "dist/refs", img.Manifest.Digest, ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(got, 1))
		qt.Assert(t, qt.Equals(got[0].Digest, a2.Manifest.Digest))
	})
	t.Run("Delete", func(t *testing.T) {
		qt.Assert(t, qt.IsNil(c.DeleteManifest(ctx, "dist/app", img.Manifest.Digest)))
		_, err := c.ResolveManifest(ctx, "dist/app", img.Manifest.Digest)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		err = c.DeleteManifest(ctx, "dist/app", img.Manifest.Digest)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		qt.Assert(t, qt.IsNil(c.DeleteBlob(ctx, "dist/app", img.Blobs[0].Digest)))
		_, err = c.ResolveBlob(ctx, "dist/app", img.Blobs[0].Digest)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	})
}
