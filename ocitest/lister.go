package ocitest

import (
	"bytes"
	"fmt"
	"iter"
	mathrand "math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
)

var listerTests = []test{
	{"Tags", testListerTags},
	{"TagsNone", testListerTagsNone},
	{"TagsUnknownRepository", testListerTagsUnknownRepository},
	{"TagsBreakEarly", testListerTagsBreakEarly},
	{"TagsPushedConcurrently", testListerTagsPushedConcurrently},
	{"TagsPaginated", testListerTagsPaginated},
	{"Repositories", testListerRepositories},
	{"RepositoriesBreakEarly", testListerRepositoriesBreakEarly},
	{"RepositoriesPaginated", testListerRepositoriesPaginated},
}

// manyTags returns 100 distinct tags, in no particular order, that mix
// the characters a tag may hold so that lexical order is tested: upper
// case sorts before lower case, "-" and "." before digits, "_" between.
func manyTags() []string {
	patterns := []string{"v%d", "V%d", "%d", "rc-%d", "release_%d", "a.%d", "_x%d", "latest%d", "Z%d", "z-%d"}
	var tags []string
	for i := range 100 {
		tags = append(tags, fmt.Sprintf(patterns[i%len(patterns)], i*7%100))
	}
	mathrand.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
	return tags
}

// after returns the elements of sorted that sort after s.
func after(sorted []string, s string) []string {
	i, found := slices.BinarySearch(sorted, s)
	if found {
		i++
	}
	if i == len(sorted) {
		return nil
	}
	return sorted[i:]
}

// walkPages lists what list yields in pages of n, as a client of the
// tags or catalog API does: each page starts after the last name of the
// one before, and its iteration is abandoned once it holds n names, so
// that the implementation is asked for a page at a time and must stop
// early. It returns the pages, the last of which is empty.
func walkPages(t *testing.T, n int, list func(startAfter string) iter.Seq2[string, error]) [][]string {
	t.Helper()
	var pages [][]string
	startAfter := ""
	for {
		page := []string{}
		for name, err := range list(startAfter) {
			qt.Assert(t, qt.IsNil(err), qt.Commentf("page after %q", startAfter))
			page = append(page, name)
			if len(page) == n {
				break
			}
		}
		pages = append(pages, page)
		if len(page) == 0 {
			return pages
		}
		if len(pages) > 1000 {
			t.Fatalf("no end after %d pages; last page %q", len(pages), page)
		}
		startAfter = page[len(page)-1]
	}
}

// assertPages checks that pages are sorted cut into pages of n, followed
// by an empty page.
func assertPages(t *testing.T, pages [][]string, sorted []string, n int) {
	t.Helper()
	var want [][]string
	for chunk := range slices.Chunk(sorted, n) {
		want = append(want, chunk)
	}
	want = append(want, []string{})
	qt.Assert(t, qt.DeepEquals(pages, want))
}

// pushTags pushes p's manifest again under each of tags.
func pushTags(t *testing.T, r ociregistry.Interface, repo string, p Pushed, tags []string) {
	t.Helper()
	for _, tag := range tags {
		_, err := r.PushManifest(t.Context(), repo, tag, p.Content, p.Manifest.MediaType)
		qt.Assert(t, qt.IsNil(err), qt.Commentf("tag %q", tag))
	}
}

func testListerTags(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	tags := manyTags()
	p := PushRandomImage(t, r, "test/tags", "")
	pushTags(t, r, "test/tags", p, tags)
	if !s.SingleRepository {
		// Tags of another repository are not listed.
		PushRandomImage(t, r, "test/other", "elsewhere")
	}
	sorted := slices.Sorted(slices.Values(tags))

	tests := []struct {
		name       string
		startAfter string
		want       []string
	}{
		{"All", "", sorted},
		{"AfterTag", sorted[41], sorted[42:]},
		{"AfterFirst", sorted[0], sorted[1:]},
		{"AfterLast", sorted[len(sorted)-1], nil},
		{"NotATag", "m", after(sorted, "m")},
		{"PrefixOfTags", "v", after(sorted, "v")},
		{"BeforeAll", "-", sorted},
		{"AfterAll", "zzzz", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(t, r.Tags(t.Context(), "test/tags", tc.startAfter))
			qt.Assert(t, qt.DeepEquals(got, tc.want))
		})
	}
}

func testListerTagsNone(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushRandomImage(t, r, "test/tags", "")
	got := collect(t, r.Tags(t.Context(), "test/tags", ""))
	qt.Assert(t, qt.HasLen(got, 0))
}

func testListerTagsUnknownRepository(t *testing.T, s Suite) {
	if s.SingleRepository {
		t.Skip("Suite.SingleRepository")
	}
	r := s.newRegistry(t)
	PushRandomImage(t, r, "test/tags", "v1")
	_, err := ociregistry.All(r.Tags(t.Context(), "test/nothing", ""))
	assertErrorIs(t, err, ociregistry.ErrNameUnknown)
}

func testListerTagsBreakEarly(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	tags := manyTags()[:10]
	p := PushRandomImage(t, r, "test/tags", "")
	pushTags(t, r, "test/tags", p, tags)
	sorted := slices.Sorted(slices.Values(tags))
	var got []string
	for tag, err := range r.Tags(t.Context(), "test/tags", "") {
		qt.Assert(t, qt.IsNil(err))
		got = append(got, tag)
		if len(got) == 3 {
			break
		}
	}
	qt.Assert(t, qt.DeepEquals(got, sorted[:3]))
	// The registry still answers after an iteration was abandoned.
	qt.Assert(t, qt.DeepEquals(collect(t, r.Tags(t.Context(), "test/tags", "")), sorted))
}

func testListerTagsPushedConcurrently(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/tags", "")
	tags := manyTags()[:20]
	errs := make(chan error, len(tags))
	var wg sync.WaitGroup
	for _, tag := range tags {
		wg.Go(func() {
			// Each goroutine pushes the same blob as well, which
			// must be as harmless as pushing it twice in a row.
			_, err := r.PushBlob(t.Context(), "test/tags", p.Blobs[1], bytes.NewReader(p.BlobContent[p.Blobs[1].Digest]))
			if err == nil {
				_, err = r.PushManifest(t.Context(), "test/tags", tag, p.Content, p.Manifest.MediaType)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		qt.Assert(t, qt.IsNil(err))
	}
	qt.Assert(t, qt.DeepEquals(collect(t, r.Tags(t.Context(), "test/tags", "")), slices.Sorted(slices.Values(tags))))
	assertBlob(t, r, "test/tags", p.Blobs[1].Digest, p.BlobContent[p.Blobs[1].Digest])
}

// repoNames are the repositories the catalog tests push to, in no
// particular order. "-" sorts before "/", which sorts before letters.
var repoNames = []string{"test/b", "a", "test/a/x", "test-a", "test/a", "c/d/e", "test/a-b", "z"}

func testListerRepositories(t *testing.T, s Suite) {
	if s.noRepositories() {
		t.Skip("Suite.NoRepositories or SingleRepository")
	}
	r := s.newRegistry(t)
	for _, repo := range repoNames {
		PushRandomImage(t, r, repo, "v1")
	}
	sorted := slices.Sorted(slices.Values(repoNames))
	tests := []struct {
		name       string
		startAfter string
		want       []string
	}{
		{"All", "", sorted},
		{"AfterRepository", "test/a", sorted[slices.Index(sorted, "test/a")+1:]},
		{"NotARepository", "b", after(sorted, "b")},
		{"PrefixOfRepositories", "test", after(sorted, "test")},
		{"AfterLast", "z", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(t, r.Repositories(t.Context(), tc.startAfter))
			qt.Assert(t, qt.DeepEquals(got, tc.want))
		})
	}
}

func testListerRepositoriesBreakEarly(t *testing.T, s Suite) {
	if s.noRepositories() {
		t.Skip("Suite.NoRepositories or SingleRepository")
	}
	r := s.newRegistry(t)
	for _, repo := range repoNames {
		PushRandomImage(t, r, repo, "v1")
	}
	sorted := slices.Sorted(slices.Values(repoNames))
	var got []string
	for repo, err := range r.Repositories(t.Context(), "") {
		qt.Assert(t, qt.IsNil(err))
		got = append(got, repo)
		if len(got) == 2 {
			break
		}
	}
	qt.Assert(t, qt.DeepEquals(got, sorted[:2]))
	qt.Assert(t, qt.DeepEquals(collect(t, r.Repositories(t.Context(), "")), sorted))
}

func testListerTagsPaginated(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	tags := manyTags()
	p := PushRandomImage(t, r, "test/tags", "")
	pushTags(t, r, "test/tags", p, tags)
	sorted := slices.Sorted(slices.Values(tags))
	for _, n := range []int{10, 7} {
		pages := walkPages(t, n, func(startAfter string) iter.Seq2[string, error] {
			return r.Tags(t.Context(), "test/tags", startAfter)
		})
		assertPages(t, pages, sorted, n)
	}
}

func testListerRepositoriesPaginated(t *testing.T, s Suite) {
	if s.noRepositories() {
		t.Skip("Suite.NoRepositories or SingleRepository")
	}
	r := s.newRegistry(t)
	// 25 repositories, each holding a blob, whose names mix the
	// characters that sort around "/": pages of 10 end in the middle of
	// a group of names that share a prefix.
	var repos []string
	for i := range 25 {
		repos = append(repos, fmt.Sprintf([]string{"test/r%d", "test/r%d/x", "test-r%d", "test.r%d", "t%d"}[i%5], i/5))
	}
	mathrand.Shuffle(len(repos), func(i, j int) { repos[i], repos[j] = repos[j], repos[i] })
	for _, repo := range repos {
		PushBlob(t, r, repo, []byte("blob in "+repo))
	}
	sorted := slices.Sorted(slices.Values(repos))
	pages := walkPages(t, 10, func(startAfter string) iter.Seq2[string, error] {
		return r.Repositories(t.Context(), startAfter)
	})
	assertPages(t, pages, sorted, 10)
}
