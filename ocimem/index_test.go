package ocimem_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
)

// TestListingsFollowChanges interleaves, at random, pushes and deletes
// of tags and of whole repositories with listings from random starting
// points, and checks every listing against the names that should be
// there, sorted.
func TestListingsFollowChanges(t *testing.T) {
	r := ocimem.New()
	rnd := rand.New(rand.NewPCG(1, 2))
	tags := map[string]bool{}
	repos := map[string]bool{"repo": true}
	// Every tag names an empty index; the other repositories hold
	// only a blob, so that they come and go with it.
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	_, err := r.PushManifest(ctx, "repo", "", index, "")
	qt.Assert(t, qt.IsNil(err))
	name := func(prefix string) string { return fmt.Sprintf("%s%d", prefix, rnd.IntN(40)) }
	sortedKeys := func(m map[string]bool) []string {
		var keys []string
		for k, ok := range m {
			if ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return keys
	}
	want := func(all []string, startAfter string) []string {
		var out []string
		for _, s := range all {
			if s > startAfter {
				out = append(out, s)
			}
		}
		return out
	}
	for range 2000 {
		switch op := rnd.IntN(7); op {
		case 0, 1:
			tag := name("t")
			_, err := r.PushManifest(ctx, "repo", tag, index, "")
			qt.Assert(t, qt.IsNil(err))
			tags[tag] = true
		case 2:
			tag := name("t")
			err := r.DeleteTag(ctx, "repo", tag)
			if tags[tag] {
				qt.Assert(t, qt.IsNil(err))
			} else {
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
			}
			delete(tags, tag)
		case 3:
			repo := name("r")
			pushBlob(t, r, repo, digest.SHA256, "blob")
			repos[repo] = true
		case 4:
			repo := name("r")
			err := r.DeleteBlob(ctx, repo, digest.FromString("blob"))
			qt.Assert(t, qt.Equals(err == nil, repos[repo]))
			delete(repos, repo)
		case 5:
			startAfter := ""
			if rnd.IntN(2) == 0 {
				startAfter = name("t")
			}
			qt.Assert(t, qt.DeepEquals(mustAll(t, r.Tags(ctx, "repo", startAfter)), want(sortedKeys(tags), startAfter)))
		case 6:
			startAfter := ""
			if rnd.IntN(2) == 0 {
				startAfter = name("r")
			}
			qt.Assert(t, qt.DeepEquals(mustAll(t, r.Repositories(ctx, startAfter)), want(sortedKeys(repos), startAfter)))
		}
	}
}

// BenchmarkTagsPage lists a page of 100 tags, from the middle, of a
// repository with few or many tags: the time and memory a page takes
// do not grow with the tags.
func BenchmarkTagsPage(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
			data := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			for i := range n {
				if _, err := r.PushManifest(ctx, "repo", fmt.Sprintf("t%06d", i), data, ""); err != nil {
					b.Fatal(err)
				}
			}
			startAfter := fmt.Sprintf("t%06d", n/2)
			// The first listing orders the tags pushed.
			if _, err := ociregistry.All(r.Tags(ctx, "repo", "")); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				for _, err := range r.Tags(ctx, "repo", startAfter) {
					if err != nil {
						b.Fatal(err)
					}
					if got++; got == 100 {
						break
					}
				}
			}
		})
	}
}
