package ocifs_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
)

// TestRepositoriesOrder lists, from every starting point, repositories
// whose names order differently from the directories that hold them ("a"
// before "a-b" before "a/b", though the directory a comes before a-b),
// and checks each listing against the names sorted.
func TestRepositoriesOrder(t *testing.T) {
	ctx := context.Background()
	r, _ := newRegistry(t)
	names := []string{"a", "a-b", "a.b", "a/b", "a-b/c", "a0", "a/b/c", "a/-", "ab", "b/c/d", "a--b", "a_b", "a__b/x"}
	for _, name := range names {
		if name == "a/-" {
			continue // not a valid name: a component must start with a letter or digit
		}
		pushBlob(t, r, name, []byte("x"))
	}
	var all []string
	for _, n := range names {
		if ociregistry.IsValidRepository(n) {
			all = append(all, n)
		}
	}
	slices.Sort(all)
	got, err := ociregistry.All(r.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, all))
	starts := append([]string{"", "0", "a/", "a/a", "a/c", "a-", "a-b/", "a-c", "b", "b/c", "z"}, all...)
	for _, start := range starts {
		var want []string
		for _, n := range all {
			if n > start {
				want = append(want, n)
			}
		}
		got, err := ociregistry.All(r.Repositories(ctx, start))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want), qt.Commentf("after %q", start))
	}
}

// TestListingsSeeChanges lists tags and repositories once their
// directories are old enough to be cached, then changes them, within
// this Registry and from outside it, and checks that the next listings
// see the change.
func TestListingsSeeChanges(t *testing.T) {
	ctx := context.Background()
	r, dir := newRegistry(t)
	img := pushImage(t, r, "repo", "v1", 1)
	pushBlob(t, r, "other", []byte("x"))
	age(t, dir)
	listTags := func() []string {
		tags, err := ociregistry.All(r.Tags(ctx, "repo", ""))
		qt.Assert(t, qt.IsNil(err))
		return tags
	}
	listRepos := func() []string {
		repos, err := ociregistry.All(r.Repositories(ctx, ""))
		qt.Assert(t, qt.IsNil(err))
		return repos
	}
	// Twice, so that the second comes from the cache.
	for range 2 {
		qt.Assert(t, qt.DeepEquals(listTags(), []string{"v1"}))
		qt.Assert(t, qt.DeepEquals(listRepos(), []string{"other", "repo"}))
	}

	data := readAll(t, must(r.GetManifest(ctx, "repo", img.manifest.Digest)))
	_, err := r.PushManifest(ctx, "repo", "v2", data, img.manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(listTags(), []string{"v1", "v2"}))
	pushBlob(t, r, "new/repo", []byte("y"))
	qt.Assert(t, qt.DeepEquals(listRepos(), []string{"new/repo", "other", "repo"}))

	age(t, dir)
	listTags()
	listRepos()
	qt.Assert(t, qt.IsNil(r.DeleteTag(ctx, "repo", "v1")))
	qt.Assert(t, qt.DeepEquals(listTags(), []string{"v2"}))

	// A tag made by another process, here by hand, is seen too.
	age(t, dir)
	listTags()
	tagsDir := filepath.Join(dir, "repos", "repo", "_tags")
	qt.Assert(t, qt.IsNil(os.Link(filepath.Join(tagsDir, "v2"), filepath.Join(tagsDir, "v3"))))
	qt.Assert(t, qt.DeepEquals(listTags(), []string{"v2", "v3"}))

	// A registry opened on the same directory sees the same.
	r2, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	tags, err := ociregistry.All(r2.Tags(ctx, "repo", "v2"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"v3"}))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkTagsPage lists a page of 100 tags, from the middle, of a
// repository with few or many tags: once the directory is cached, the
// time and memory a page takes do not grow with the tags.
func BenchmarkTagsPage(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			r, err := ocifs.New(dir, nil)
			qt.Assert(b, qt.IsNil(err))
			data := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			_, err = r.PushManifest(ctx, "repo", "t000000", data, "")
			qt.Assert(b, qt.IsNil(err))
			// Tags made as copies of the first, as pushing each
			// would take minutes of fsyncs.
			tagsDir := filepath.Join(dir, "repos", "repo", "_tags")
			tag, err := os.ReadFile(filepath.Join(tagsDir, "t000000"))
			qt.Assert(b, qt.IsNil(err))
			for i := 1; i < n; i++ {
				qt.Assert(b, qt.IsNil(os.WriteFile(filepath.Join(tagsDir, fmt.Sprintf("t%06d", i)), tag, 0o666)))
			}
			old := timeAgo(90)
			qt.Assert(b, qt.IsNil(os.Chtimes(tagsDir, old, old)))
			startAfter := fmt.Sprintf("t%06d", n/2)
			// The first listing reads the directory.
			_, err = ociregistry.All(r.Tags(ctx, "repo", ""))
			qt.Assert(b, qt.IsNil(err))
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

// BenchmarkRepositoriesPage lists a page of 100 repositories, from the
// middle, of a registry with few or many: once the directories are
// cached, a page costs about the repositories it yields.
func BenchmarkRepositoriesPage(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			r, err := ocifs.New(dir, nil)
			qt.Assert(b, qt.IsNil(err))
			data := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			_, err = r.PushManifest(ctx, "r00000", "v1", data, "")
			qt.Assert(b, qt.IsNil(err))
			// Repositories made by copying the first one's tag.
			tag, err := os.ReadFile(filepath.Join(dir, "repos", "r00000", "_tags", "v1"))
			qt.Assert(b, qt.IsNil(err))
			for i := 1; i < n; i++ {
				tags := filepath.Join(dir, "repos", fmt.Sprintf("r%05d", i), "_tags")
				qt.Assert(b, qt.IsNil(os.MkdirAll(tags, 0o777)))
				qt.Assert(b, qt.IsNil(os.WriteFile(filepath.Join(tags, "v1"), tag, 0o666)))
			}
			old := timeAgo(90)
			filepath.WalkDir(filepath.Join(dir, "repos"), func(path string, _ fs.DirEntry, err error) error {
				if err == nil {
					os.Chtimes(path, old, old)
				}
				return nil
			})
			_, err = ociregistry.All(r.Repositories(ctx, ""))
			qt.Assert(b, qt.IsNil(err))
			startAfter := fmt.Sprintf("r%05d", n/2)
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				for _, err := range r.Repositories(ctx, startAfter) {
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
