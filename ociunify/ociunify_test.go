package ociunify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/ocireg/ociregistry/ociunify"
)

func TestSuite(t *testing.T) {
	for _, policy := range []ociunify.ReadPolicy{ociunify.ReadSequential, ociunify.ReadConcurrent} {
		t.Run(fmt.Sprint("policy", policy), func(t *testing.T) {
			ocitest.Run(t, ocitest.Suite{
				New: func(t *testing.T) ociregistry.Interface {
					return ociunify.New(ocimem.New(), ocimem.New(), &ociunify.Options{ReadPolicy: policy})
				},
			})
		})
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ociserver.New(ociunify.New(ocimem.New(), ocimem.New(), nil), nil))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{})
}

func TestConformanceConcurrentReads(t *testing.T) {
	t.Parallel()
	u := ociunify.New(ocimem.New(), ocimem.New(), &ociunify.Options{ReadPolicy: ociunify.ReadConcurrent})
	srv := httptest.NewServer(ociserver.New(u, nil))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{SkipSHA512: true})
}

// TestReadsFromEither checks that content held by one registry only is
// read whichever one holds it, with both read policies.
func TestReadsFromEither(t *testing.T) {
	for _, policy := range []ociunify.ReadPolicy{ociunify.ReadSequential, ociunify.ReadConcurrent} {
		for side := range 2 {
			t.Run(fmt.Sprintf("policy%d/r%d", policy, side), func(t *testing.T) {
				rs := [2]*ocimem.Registry{ocimem.New(), ocimem.New()}
				img := ocitest.PushRandomImage(t, rs[side], "a/b", "v1")
				u := ociunify.New(rs[0], rs[1], &ociunify.Options{ReadPolicy: policy})
				ctx := t.Context()

				for _, b := range img.Blobs {
					got := readAll(t)(u.GetBlob(ctx, "a/b", b.Digest))
					qt.Assert(t, qt.DeepEquals(got, img.BlobContent[b.Digest]))
					desc, err := u.ResolveBlob(ctx, "a/b", b.Digest)
					qt.Assert(t, qt.IsNil(err))
					qt.Assert(t, qt.Equals(desc.Size, b.Size))
				}
				qt.Assert(t, qt.DeepEquals(readAll(t)(u.GetManifest(ctx, "a/b", img.Manifest.Digest)), img.Content))
				qt.Assert(t, qt.DeepEquals(readAll(t)(u.GetTag(ctx, "a/b", "v1")), img.Content))
				desc, err := u.ResolveTag(ctx, "a/b", "v1")
				qt.Assert(t, qt.IsNil(err))
				qt.Assert(t, qt.Equals(desc.Digest, img.Manifest.Digest))

				missing := ocitest.Digest([]byte("missing"))
				_, err = u.GetBlob(ctx, "a/b", missing)
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
				_, err = u.ResolveManifest(ctx, "a/b", missing)
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
				_, err = u.GetTag(ctx, "a/b", "nope")
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
			})
		}
	}
}

// TestInconsistentTag checks that a tag that the two registries point
// at different manifests is reported, not resolved to either.
func TestInconsistentTag(t *testing.T) {
	r0, r1 := ocimem.New(), ocimem.New()
	img0 := ocitest.PushRandomImage(t, r0, "a/b", "latest")
	img1 := ocitest.PushRandomImage(t, r1, "a/b", "latest")
	// A tag the two agree on is fine.
	ocitest.PushRandomImage(t, r0, "a/b", "")
	_, err := r1.PushManifest(t.Context(), "a/b", "same", img0.Content, img0.Manifest.MediaType)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestBlobUnknown))
	for _, r := range []*ocimem.Registry{r0, r1} {
		for dg, data := range img0.BlobContent {
			ocitest.PushBlob(t, r, "a/b", data)
			_ = dg
		}
		_, err := r.PushManifest(t.Context(), "a/b", "same", img0.Content, img0.Manifest.MediaType)
		qt.Assert(t, qt.IsNil(err))
	}
	for _, policy := range []ociunify.ReadPolicy{ociunify.ReadSequential, ociunify.ReadConcurrent} {
		u := ociunify.New(r0, r1, &ociunify.Options{ReadPolicy: policy})
		_, err = u.ResolveTag(t.Context(), "a/b", "latest")
		qt.Assert(t, qt.ErrorIs(err, ociunify.ErrInconsistent))
		qt.Assert(t, qt.StringContains(err.Error(), string(img0.Manifest.Digest)))
		qt.Assert(t, qt.StringContains(err.Error(), string(img1.Manifest.Digest)))
		_, err = u.GetTag(t.Context(), "a/b", "latest")
		qt.Assert(t, qt.ErrorIs(err, ociunify.ErrInconsistent))

		desc, err := u.ResolveTag(t.Context(), "a/b", "same")
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(desc.Digest, img0.Manifest.Digest))
	}
}

// TestInconsistentTagOverHTTP checks that a server over a unified
// registry answers an inconsistent tag with an error, not a manifest.
func TestInconsistentTagOverHTTP(t *testing.T) {
	r0, r1 := ocimem.New(), ocimem.New()
	ocitest.PushRandomImage(t, r0, "a/b", "latest")
	ocitest.PushRandomImage(t, r1, "a/b", "latest")
	srv := httptest.NewServer(ociserver.New(ociunify.New(r0, r1, nil), nil))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/v2/a/b/manifests/latest")
	qt.Assert(t, qt.IsNil(err))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, 500), qt.Commentf("%s", body))
	qt.Assert(t, qt.StringContains(string(body), "inconsistent"))
}

// TestWritesGoToBoth checks that every kind of write reaches both
// registries.
func TestWritesGoToBoth(t *testing.T) {
	r0, r1 := ocimem.New(), ocimem.New()
	u := ociunify.New(r0, r1, nil)
	ctx := t.Context()
	img := ocitest.PushRandomImage(t, u, "a/b", "v1")

	w, err := u.PushBlobChunked(ctx, "a/b", 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.Write([]byte("hello, "))
	qt.Assert(t, qt.IsNil(err))
	id := w.ID()
	qt.Assert(t, qt.IsNil(w.Close()))
	w, err = u.PushBlobChunkedResume(ctx, "a/b", id, 7, 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.Write([]byte("world"))
	qt.Assert(t, qt.IsNil(err))
	chunked := ocitest.Digest([]byte("hello, world"))
	_, err = w.Commit(chunked)
	qt.Assert(t, qt.IsNil(err))

	_, err = u.MountBlob(ctx, "a/b", "c/d", chunked)
	qt.Assert(t, qt.IsNil(err))

	for i, r := range []*ocimem.Registry{r0, r1} {
		for dg, data := range img.BlobContent {
			qt.Assert(t, qt.DeepEquals(readAll(t)(r.GetBlob(ctx, "a/b", dg)), data), qt.Commentf("r%d", i))
		}
		qt.Assert(t, qt.DeepEquals(readAll(t)(r.GetTag(ctx, "a/b", "v1")), img.Content), qt.Commentf("r%d", i))
		qt.Assert(t, qt.Equals(string(readAll(t)(r.GetBlob(ctx, "a/b", chunked))), "hello, world"), qt.Commentf("r%d", i))
		qt.Assert(t, qt.Equals(string(readAll(t)(r.GetBlob(ctx, "c/d", chunked))), "hello, world"), qt.Commentf("r%d", i))
	}

	_, err = u.PushBlobChunkedResume(ctx, "a/b", "not-an-id", -1, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
}

// TestWriteFailsWhenEitherFails checks that a write that one registry
// refuses fails as a whole, with that registry's error.
func TestWriteFailsWhenEitherFails(t *testing.T) {
	for side := range 2 {
		t.Run(fmt.Sprint("r", side), func(t *testing.T) {
			rs := [2]ociregistry.Interface{ocimem.New(), ocimem.New()}
			rs[side] = ocifilter.ReadOnly(rs[side])
			u := ociunify.New(rs[0], rs[1], nil)
			ctx := t.Context()
			data := []byte("some data")
			_, err := u.PushBlob(ctx, "a/b", ociregistry.Descriptor{Digest: ocitest.Digest(data), Size: int64(len(data))}, strings.NewReader(string(data)))
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
			_, err = u.PushBlobChunked(ctx, "a/b", 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
			_, err = u.PushManifest(ctx, "a/b", "x", []byte("{}"), "application/vnd.oci.image.manifest.v1+json")
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
		})
	}
}

// TestPushBlobReadsOnce checks that PushBlob reads its reader once,
// even when one registry stops reading early because the blob is too
// long.
func TestPushBlobReadsOnce(t *testing.T) {
	u := ociunify.New(ocimem.New(), ocimem.New(), nil)
	data := make([]byte, 200<<10)
	for i := range data {
		data[i] = byte(i)
	}
	rd := &countingReader{r: strings.NewReader(string(data))}
	desc, err := u.PushBlob(t.Context(), "a/b", ociregistry.Descriptor{Digest: ocitest.Digest(data), Size: int64(len(data))}, rd)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
	qt.Assert(t, qt.Equals(rd.n, int64(len(data))))

	// Declared too short: both registries stop reading and refuse.
	_, err = u.PushBlob(t.Context(), "a/b", ociregistry.Descriptor{Digest: ocitest.Digest(data), Size: 10}, strings.NewReader(string(data)))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrSizeInvalid))
}

type countingReader struct {
	r io.Reader
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	return n, err
}

// TestDeleteFromEither checks that content in one registry only can be
// deleted, and that content in neither is unknown.
func TestDeleteFromEither(t *testing.T) {
	r0, r1 := ocimem.New(), ocimem.New()
	u := ociunify.New(r0, r1, nil)
	ctx := t.Context()
	img := ocitest.PushRandomImage(t, r1, "a/b", "v1")
	qt.Assert(t, qt.IsNil(u.DeleteTag(ctx, "a/b", "v1")))
	qt.Assert(t, qt.ErrorIs(u.DeleteTag(ctx, "a/b", "v1"), ociregistry.ErrManifestUnknown))
	qt.Assert(t, qt.IsNil(u.DeleteManifest(ctx, "a/b", img.Manifest.Digest)))
	qt.Assert(t, qt.ErrorIs(u.DeleteManifest(ctx, "a/b", img.Manifest.Digest), ociregistry.ErrManifestUnknown))
	qt.Assert(t, qt.IsNil(u.DeleteBlob(ctx, "a/b", img.Blobs[0].Digest)))
	qt.Assert(t, qt.ErrorIs(u.DeleteBlob(ctx, "a/b", img.Blobs[0].Digest), ociregistry.ErrBlobUnknown))

	// A registry that refuses to delete makes the delete fail.
	img = ocitest.PushRandomImage(t, r0, "a/b", "v2")
	u = ociunify.New(ocifilter.ReadOnly(r0), r1, nil)
	qt.Assert(t, qt.ErrorIs(u.DeleteTag(ctx, "a/b", "v2"), ociregistry.ErrUnsupported))
}

// TestListingsMerge checks that listings merge in order without
// duplicates, and that a repository unknown to one side is fine.
func TestListingsMerge(t *testing.T) {
	r0, r1 := ocimem.New(), ocimem.New()
	ctx := t.Context()
	subject := ocitest.PushRandomImage(t, r0, "both", "a")
	for _, tag := range []string{"c", "e"} {
		ocitest.PushRandomImage(t, r0, "both", tag)
	}
	// r1 needs the subject too, with the same digest.
	for _, data := range subject.BlobContent {
		ocitest.PushBlob(t, r1, "both", data)
	}
	_, err := r1.PushManifest(ctx, "both", "a", subject.Content, subject.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	for _, tag := range []string{"b", "d", "f"} {
		ocitest.PushRandomImage(t, r1, "both", tag)
	}
	ocitest.PushRandomImage(t, r0, "only0", "x")
	ocitest.PushRandomImage(t, r1, "only1", "y")
	ref0 := ocitest.PushRandomArtifact(t, r0, "both", subject.Manifest, "application/x.a")
	ref1 := ocitest.PushRandomArtifact(t, r1, "both", subject.Manifest, "application/x.b")

	u := ociunify.New(r0, r1, nil)
	repos, err := ociregistry.All(u.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"both", "only0", "only1"}))
	repos, err = ociregistry.All(u.Repositories(ctx, "only0"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"only1"}))

	tags, err := ociregistry.All(u.Tags(ctx, "both", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"a", "b", "c", "d", "e", "f"}))
	tags, err = ociregistry.All(u.Tags(ctx, "both", "c"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"d", "e", "f"}))
	tags, err = ociregistry.All(u.Tags(ctx, "only1", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"y"}))
	_, err = ociregistry.All(u.Tags(ctx, "neither", ""))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameUnknown))

	refs, err := ociregistry.All(u.Referrers(ctx, "both", subject.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	want := []ociregistry.Digest{ref0.Manifest.Digest, ref1.Manifest.Digest}
	if want[1] < want[0] {
		want[0], want[1] = want[1], want[0]
	}
	qt.Assert(t, qt.HasLen(refs, 2))
	qt.Assert(t, qt.Equals(refs[0].Digest, want[0]))
	qt.Assert(t, qt.Equals(refs[1].Digest, want[1]))
	refs, err = ociregistry.All(u.Referrers(ctx, "both", subject.Manifest.Digest, "application/x.b"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 1))
	qt.Assert(t, qt.Equals(refs[0].Digest, ref1.Manifest.Digest))
}

// TestListingsStream checks that a merged listing is consumed as it is
// yielded: with two endless listings, taking a few names returns.
func TestListingsStream(t *testing.T) {
	endless := func(prefix string, step int) *ociregistry.Funcs {
		return &ociregistry.Funcs{
			Repositories_: func(ctx context.Context, startAfter string) iter.Seq2[string, error] {
				return func(yield func(string, error) bool) {
					for i := 0; ; i += step {
						if !yield(fmt.Sprintf("%s%09d", prefix, i), nil) {
							return
						}
					}
				}
			},
		}
	}
	u := ociunify.New(endless("r", 2), endless("r", 3), nil)
	var got []string
	for name, err := range u.Repositories(t.Context(), "") {
		qt.Assert(t, qt.IsNil(err))
		got = append(got, name)
		if len(got) == 6 {
			break
		}
	}
	// 0, 2, 3, 4, 6, 8: 0 and 6 come from both and appear once.
	qt.Assert(t, qt.DeepEquals(got, []string{"r000000000", "r000000002", "r000000003", "r000000004", "r000000006", "r000000008"}))
}

// TestListingError checks that an error from either side is yielded.
func TestListingError(t *testing.T) {
	boom := errors.New("boom")
	failing := &ociregistry.Funcs{
		Tags_: func(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
			return func(yield func(string, error) bool) {
				if yield("a", nil) {
					yield("", boom)
				}
			}
		},
	}
	r := ocimem.New()
	ocitest.PushRandomImage(t, r, "a/b", "z")
	_, err := ociregistry.All(ociunify.New(r, failing, nil).Tags(t.Context(), "a/b", ""))
	qt.Assert(t, qt.ErrorIs(err, boom))
	_, err = ociregistry.All(ociunify.New(failing, r, nil).Tags(t.Context(), "a/b", ""))
	qt.Assert(t, qt.ErrorIs(err, boom))
}

// TestConcurrentReadTakesFirstAnswer checks that with ReadConcurrent a
// registry that does not answer does not hold the read up, and that its
// request is cancelled.
func TestConcurrentReadTakesFirstAnswer(t *testing.T) {
	fast := ocimem.New()
	data := []byte("fast data")
	dg := ocitest.PushBlob(t, fast, "a/b", data).Digest
	cancelled := make(chan struct{})
	slow := &ociregistry.Funcs{
		GetBlob_: func(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		},
	}
	u := ociunify.New(slow, fast, &ociunify.Options{ReadPolicy: ociunify.ReadConcurrent})
	qt.Assert(t, qt.DeepEquals(readAll(t)(u.GetBlob(t.Context(), "a/b", dg)), data))
	<-cancelled

	// With ReadSequential, an error other than "not found" from r0 is
	// returned rather than hidden.
	boom := errors.New("boom")
	broken := &ociregistry.Funcs{NewError: func(context.Context, string, string) error { return boom }}
	u = ociunify.New(broken, fast, nil)
	_, err := u.GetBlob(t.Context(), "a/b", dg)
	qt.Assert(t, qt.ErrorIs(err, boom))
}

// readAll returns a func that reads all of a BlobReader returned with
// a nil error, and closes it.
func readAll(t *testing.T) func(rd ociregistry.BlobReader, err error) []byte {
	return func(rd ociregistry.BlobReader, err error) []byte {
		t.Helper()
		qt.Assert(t, qt.IsNil(err))
		defer rd.Close()
		data, err := io.ReadAll(rd)
		qt.Assert(t, qt.IsNil(err))
		return data
	}
}
