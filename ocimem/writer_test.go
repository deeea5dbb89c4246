package ocimem_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestPushBlobChecks(t *testing.T) {
	const content = "some content"
	tests := []struct {
		name    string
		desc    ociregistry.Descriptor
		wantErr error
	}{{
		name:    "WrongDigest",
		desc:    ociregistry.Descriptor{Digest: digest.FromString("other"), Size: int64(len(content))},
		wantErr: ociregistry.ErrDigestInvalid,
	}, {
		name:    "WrongDigestSHA512",
		desc:    ociregistry.Descriptor{Digest: digest.SHA512.FromString("other"), Size: int64(len(content))},
		wantErr: ociregistry.ErrDigestInvalid,
	}, {
		name:    "TooShort",
		desc:    ociregistry.Descriptor{Digest: digest.FromString(content), Size: int64(len(content)) + 1},
		wantErr: ociregistry.ErrSizeInvalid,
	}, {
		name:    "TooLong",
		desc:    ociregistry.Descriptor{Digest: digest.FromString(content), Size: int64(len(content)) - 1},
		wantErr: ociregistry.ErrSizeInvalid,
	}, {
		name:    "ZeroSize",
		desc:    ociregistry.Descriptor{Digest: digest.FromString(content)},
		wantErr: ociregistry.ErrSizeInvalid,
	}, {
		name: "UnknownSize",
		desc: ociregistry.Descriptor{Digest: digest.FromString(content), Size: -1},
	}, {
		name: "SHA512",
		desc: ociregistry.Descriptor{Digest: digest.SHA512.FromString(content), Size: int64(len(content))},
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			r := ocimem.New()
			got, err := r.PushBlob(ctx, "repo", test.desc, strings.NewReader(content))
			if test.wantErr != nil {
				qt.Assert(t, qt.ErrorIs(err, test.wantErr))
				// Nothing is stored, not even the repository.
				_, err = r.ResolveBlob(ctx, "repo", test.desc.Digest)
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
				qt.Assert(t, qt.HasLen(mustAll(t, r.Repositories(ctx, "")), 0))
				return
			}
			qt.Assert(t, qt.IsNil(err))
			want := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: test.desc.Digest, Size: int64(len(content))}
			qt.Assert(t, qt.DeepEquals(got, want))
			br, err := r.GetBlob(ctx, "repo", test.desc.Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(readAll(t, br, want), content))
		})
	}
}

func TestPushBlobReaderError(t *testing.T) {
	r := ocimem.New()
	readErr := errors.New("broken pipe")
	rd := io.MultiReader(strings.NewReader("abc"), iotestErrReader{readErr})
	_, err := r.PushBlob(ctx, "repo", ociregistry.Descriptor{Digest: digest.FromString("abcdef"), Size: 6}, rd)
	qt.Assert(t, qt.ErrorIs(err, readErr))
	qt.Assert(t, qt.HasLen(mustAll(t, r.Repositories(ctx, "")), 0))
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// reentrantReader calls back into the registry while it is being read
// from, which deadlocks if the registry holds its lock meanwhile.
type reentrantReader struct {
	r    *ocimem.Registry
	data io.Reader
	seen bool
}

func (rr *reentrantReader) Read(p []byte) (int, error) {
	if !rr.seen {
		rr.seen = true
		rr.r.Repositories(ctx, "")
		rr.r.ResolveBlob(ctx, "repo", digest.FromString("x"))
	}
	return rr.data.Read(p)
}

func TestPushBlobReadsWithoutLock(t *testing.T) {
	r := ocimem.New()
	rd := &reentrantReader{r: r, data: strings.NewReader("content")}
	_, err := r.PushBlob(ctx, "repo", ociregistry.Descriptor{Digest: digest.FromString("content"), Size: 7}, rd)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(rd.seen))
}

func TestPushBlobKeepsMediaType(t *testing.T) {
	r := ocimem.New()
	desc := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("x"), Size: 1}
	got, err := r.PushBlob(ctx, "repo", desc, strings.NewReader("x"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, desc))
	got, err = r.ResolveBlob(ctx, "repo", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, desc))
}

func TestBlobsBelongToRepositories(t *testing.T) {
	r := ocimem.New()
	desc := pushBlob(t, r, "a", digest.SHA512, "shared")
	_, err := r.ResolveBlob(ctx, "b", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))

	got, err := r.MountBlob(ctx, "a", "b", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, desc))
	br, err := r.GetBlob(ctx, "b", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(readAll(t, br, desc), "shared"))
	// Mounting again is harmless.
	_, err = r.MountBlob(ctx, "a", "b", desc.Digest)
	qt.Assert(t, qt.IsNil(err))

	// Deleting from one repository leaves the other alone.
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "a", desc.Digest)))
	_, err = r.GetBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = r.ResolveBlob(ctx, "b", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	err = r.DeleteBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = r.MountBlob(ctx, "a", "c", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Repositories(ctx, "")), []string{"b"}))
}

func TestChunkedUpload(t *testing.T) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			r := ocimem.New()
			w, err := r.PushBlobChunked(ctx, "repo", 0)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsTrue(w.ChunkSize() > 0))
			id := w.ID()
			qt.Assert(t, qt.Not(qt.Equals(id, "")))
			_, err = io.WriteString(w, "hello ")
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(w.Size(), int64(6)))
			qt.Assert(t, qt.IsNil(w.Close()))
			_, err = io.WriteString(w, "x")
			qt.Assert(t, qt.IsNotNil(err))

			// Resuming at the wrong offset fails and changes nothing.
			_, err = r.PushBlobChunkedResume(ctx, "repo", id, 5, 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrRangeInvalid))
			_, err = r.PushBlobChunkedResume(ctx, "repo", id, 7, 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrRangeInvalid))
			// The upload belongs to its repository.
			_, err = r.PushBlobChunkedResume(ctx, "other", id, -1, 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
			_, err = r.PushBlobChunkedResume(ctx, "repo", "nonexistent", -1, 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))

			w, err = r.PushBlobChunkedResume(ctx, "repo", id, 6, 1234)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(w.ChunkSize(), 1234))
			qt.Assert(t, qt.Equals(w.ID(), id))
			qt.Assert(t, qt.Equals(w.Size(), int64(6)))
			_, err = io.WriteString(w, "wor")
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsNil(w.Close()))

			// A negative offset resumes wherever the upload is.
			w, err = r.PushBlobChunkedResume(ctx, "repo", id, -1, 0)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(w.Size(), int64(9)))
			_, err = io.WriteString(w, "ld")
			qt.Assert(t, qt.IsNil(err))

			// A wrong digest leaves the upload as it was.
			_, err = w.Commit(alg.FromString("hello"))
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
			_, err = w.Commit("sha256:bad")
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
			_, err = r.ResolveBlob(ctx, "repo", alg.FromString("hello world"))
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))

			want := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: alg.FromString("hello world"), Size: 11}
			desc, err := w.Commit(want.Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.DeepEquals(desc, want))
			br, err := r.GetBlob(ctx, "repo", want.Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(readAll(t, br, want), "hello world"))

			// The upload is gone.
			qt.Assert(t, qt.IsNil(w.Cancel()))
			_, err = r.PushBlobChunkedResume(ctx, "repo", id, -1, 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
			_, err = io.WriteString(w, "more")
			qt.Assert(t, qt.IsNotNil(err))
			// Cancel after Commit did not remove the blob.
			_, err = r.ResolveBlob(ctx, "repo", want.Digest)
			qt.Assert(t, qt.IsNil(err))
		})
	}
}

func TestChunkedUploadEmpty(t *testing.T) {
	r := ocimem.New()
	w, err := r.PushBlobChunked(ctx, "repo", 0)
	qt.Assert(t, qt.IsNil(err))
	desc, err := w.Commit(digest.FromString(""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Size, int64(0)))
	br, err := r.GetBlob(ctx, "repo", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(readAll(t, br, desc), ""))
}

func TestChunkedUploadCancel(t *testing.T) {
	r := ocimem.New()
	w, err := r.PushBlobChunked(ctx, "repo", 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = io.WriteString(w, "data")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(w.Close()))
	// Cancel works on a resumed writer, and twice.
	w, err = r.PushBlobChunkedResume(ctx, "repo", w.ID(), 4, 0)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(w.Cancel()))
	qt.Assert(t, qt.IsNil(w.Cancel()))
	_, err = r.PushBlobChunkedResume(ctx, "repo", w.ID(), -1, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
	_, err = w.Commit(digest.FromString("data"))
	qt.Assert(t, qt.IsNotNil(err))
	_, err = r.ResolveBlob(ctx, "repo", digest.FromString("data"))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	// An upload alone does not make a repository.
	qt.Assert(t, qt.HasLen(mustAll(t, r.Repositories(ctx, "")), 0))
}

// TestChunkedUploadStaleWriter checks that two writers of one upload
// never interleave their bytes: the writer that writes first after being
// made takes the upload over, and earlier writers fail from then on; a
// writer made while another has written meanwhile fails with
// ErrRangeInvalid; a writer only asked its size disturbs nobody.
func TestChunkedUploadStaleWriter(t *testing.T) {
	r := ocimem.New()
	w1, err := r.PushBlobChunked(ctx, "repo", 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = io.WriteString(w1, "ab")
	qt.Assert(t, qt.IsNil(err))

	// A status request in the middle.
	status, err := r.PushBlobChunkedResume(ctx, "repo", w1.ID(), -1, 0)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(status.Size(), int64(2)))
	qt.Assert(t, qt.IsNil(status.Close()))
	_, err = io.WriteString(w1, "cd")
	qt.Assert(t, qt.IsNil(err))

	// A writer made at 4 takes over when it writes.
	w2, err := r.PushBlobChunkedResume(ctx, "repo", w1.ID(), 4, 0)
	qt.Assert(t, qt.IsNil(err))
	late, err := r.PushBlobChunkedResume(ctx, "repo", w1.ID(), 4, 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = io.WriteString(w2, "ef")
	qt.Assert(t, qt.IsNil(err))
	_, err = io.WriteString(w1, "zz")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadInvalid))
	_, err = w1.Commit(digest.FromString("abcd"))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadInvalid))
	// One made at the same offset comes second.
	_, err = io.WriteString(late, "yy")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadInvalid))

	// One made before w2 wrote, that would write at the wrong offset.
	w3, err := r.PushBlobChunkedResume(ctx, "repo", w1.ID(), -1, 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = io.WriteString(w2, "gh")
	qt.Assert(t, qt.IsNil(err))
	_, err = io.WriteString(w3, "xx")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrRangeInvalid))

	desc, err := w2.Commit(digest.FromString("abcdefgh"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Size, int64(8)))
}

func TestUploadIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := ocimem.NewWithConfig(&ocimem.Config{UploadIdleTimeout: time.Minute})
		idle, err := r.PushBlobChunked(ctx, "repo", 0)
		qt.Assert(t, qt.IsNil(err))
		_, err = io.WriteString(idle, "abandoned")
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsNil(idle.Close()))
		busy, err := r.PushBlobChunked(ctx, "repo", 0)
		qt.Assert(t, qt.IsNil(err))

		for range 3 {
			time.Sleep(40 * time.Second)
			_, err = io.WriteString(busy, "x")
			qt.Assert(t, qt.IsNil(err))
		}
		// Starting an upload sweeps the idle one away.
		other, err := r.PushBlobChunked(ctx, "repo", 0)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsNil(other.Cancel()))
		_, err = r.PushBlobChunkedResume(ctx, "repo", idle.ID(), -1, 0)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
		// The upload kept busy survives.
		w, err := r.PushBlobChunkedResume(ctx, "repo", busy.ID(), 3, 0)
		qt.Assert(t, qt.IsNil(err))
		_, err = w.Commit(digest.FromString("xxx"))
		qt.Assert(t, qt.IsNil(err))
	})
}

func TestUploadIdleTimeoutDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := ocimem.New()
		w, err := r.PushBlobChunked(ctx, "repo", 0)
		qt.Assert(t, qt.IsNil(err))
		time.Sleep(59 * time.Minute)
		_, err = r.PushBlobChunkedResume(ctx, "repo", w.ID(), 0, 0)
		qt.Assert(t, qt.IsNil(err))
		time.Sleep(61 * time.Minute)
		_, err = r.PushBlobChunkedResume(ctx, "repo", w.ID(), 0, 0)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
	})
}

func TestConcurrentUse(t *testing.T) {
	r := ocimem.New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			repo := "repo" + string(rune('a'+i%3))
			for j := range 20 {
				seed := seedOf(i*100 + j)
				// Not pushImage: it calls qt.Assert, whose
				// t.Fatal must not be called from a goroutine
				// other than the test's.
				desc, err := pushImageErr(r, repo, "t"+seedOf(j), seed)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := r.GetManifest(ctx, repo, desc.Digest); err != nil {
					t.Error(err)
				}
				w, err := r.PushBlobChunked(ctx, repo, 0)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(w, bytes.NewReader([]byte(seed)))
				if _, err := w.Commit(digest.FromString(seed)); err != nil {
					t.Error(err)
				}
				for _, err := range r.Tags(ctx, repo, "") {
					if err != nil {
						t.Error(err)
					}
				}
				if j%2 == 0 {
					if err := r.DeleteManifest(ctx, repo, desc.Digest); err != nil && !errors.Is(err, ociregistry.ErrManifestUnknown) {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Repositories(ctx, "")), []string{"repoa", "repob", "repoc"}))
}

func TestZeroRegistry(t *testing.T) {
	var r ocimem.Registry
	qt.Assert(t, qt.HasLen(mustAll(t, r.Repositories(ctx, "")), 0))
	_, err := r.GetBlob(ctx, "repo", digest.FromString("x"))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	pushImage(t, &r, "repo", "latest", "zero")
	w, err := r.PushBlobChunked(ctx, "repo", 0)
	qt.Assert(t, qt.IsNil(err))
	// The default idle timeout applies: the upload is not swept at
	// once.
	_, err = r.PushBlobChunkedResume(ctx, "repo", w.ID(), 0, 0)
	qt.Assert(t, qt.IsNil(err))
}
