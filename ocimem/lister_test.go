package ocimem_test

import (
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
)

func TestTags(t *testing.T) {
	r := ocimem.New()
	for _, tag := range []string{"v2", "latest", "V1", "a_b", "1.0", "v10"} {
		pushImage(t, r, "repo", tag, tag)
	}
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Tags(ctx, "repo", "")), []string{"1.0", "V1", "a_b", "latest", "v10", "v2"}))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Tags(ctx, "repo", "a_b")), []string{"latest", "v10", "v2"}))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Tags(ctx, "repo", "b")), []string{"latest", "v10", "v2"}))
	qt.Assert(t, qt.HasLen(mustAll(t, r.Tags(ctx, "repo", "v2")), 0))

	// Stopping early is fine.
	var first []string
	for tag, err := range r.Tags(ctx, "repo", "") {
		qt.Assert(t, qt.IsNil(err))
		first = append(first, tag)
		if len(first) == 2 {
			break
		}
	}
	qt.Assert(t, qt.DeepEquals(first, []string{"1.0", "V1"}))

	_, err := ociregistry.All(r.Tags(ctx, "nonexistent", ""))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameUnknown))

	// A repository with blobs but no tags has an empty list.
	pushBlob(t, r, "blobsonly", digest.SHA256, "x")
	tags, err := ociregistry.All(r.Tags(ctx, "blobsonly", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(tags, 0))
}

func TestRepositories(t *testing.T) {
	r := ocimem.New()
	qt.Assert(t, qt.HasLen(mustAll(t, r.Repositories(ctx, "")), 0))
	pushImage(t, r, "b/c", "t", "1")
	pushImage(t, r, "a", "", "2")
	pushBlob(t, r, "b", digest.SHA512, "blob")
	must(r.MountBlob(ctx, "b", "z", digest.SHA512.FromString("blob")))
	must(r.PushManifest(ctx, "b-c", "", []byte("opaque"), "application/x"))

	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Repositories(ctx, "")), []string{"a", "b", "b-c", "b/c", "z"}))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Repositories(ctx, "b")), []string{"b-c", "b/c", "z"}))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Repositories(ctx, "b/c")), []string{"z"}))

	// A repository whose content is all deleted is gone.
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "z", digest.SHA512.FromString("blob"))))
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "b-c", digest.FromString("opaque"))))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Repositories(ctx, "")), []string{"a", "b", "b/c"}))
	_, err := ociregistry.All(r.Tags(ctx, "z", ""))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameUnknown))
}

func TestIteratorsDoNotHoldLock(t *testing.T) {
	// The consumer of an iterator may use the registry meanwhile.
	r := ocimem.New()
	pushImage(t, r, "repo", "a", "1")
	pushImage(t, r, "repo", "b", "2")
	n := 0
	for repo, err := range r.Repositories(ctx, "") {
		qt.Assert(t, qt.IsNil(err))
		for tag, err := range r.Tags(ctx, repo, "") {
			qt.Assert(t, qt.IsNil(err))
			desc := must(r.ResolveTag(ctx, repo, tag))
			for _, err := range r.Referrers(ctx, repo, desc.Digest, "") {
				qt.Assert(t, qt.IsNil(err))
			}
			qt.Assert(t, qt.IsNil(r.DeleteTag(ctx, repo, tag)))
			n++
		}
	}
	qt.Assert(t, qt.Equals(n, 2))
}
