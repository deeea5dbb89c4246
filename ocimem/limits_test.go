package ocimem_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
)

// TestMaxUploadBytes checks that uploads in progress hold no more than
// Config.MaxUploadBytes together: a write past it fails with
// ErrTooManyRequests and leaves the upload as it was, and committing or
// cancelling an upload gives its bytes back.
func TestMaxUploadBytes(t *testing.T) {
	ctx := context.Background()
	r := ocimem.NewWithConfig(&ocimem.Config{MaxUploadBytes: 100})
	w1, err := r.PushBlobChunked(ctx, "foo", 0)
	qt.Assert(t, qt.IsNil(err))
	w2, err := r.PushBlobChunked(ctx, "foo", 0)
	qt.Assert(t, qt.IsNil(err))
	a := strings.Repeat("a", 60)
	_, err = io.WriteString(w1, a)
	qt.Assert(t, qt.IsNil(err))
	n, err := io.WriteString(w2, strings.Repeat("b", 50))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))
	qt.Check(t, qt.StringContains(err.Error(), "limit of 100"))
	qt.Check(t, qt.Equals(n, 0))
	qt.Check(t, qt.Equals(w2.Size(), int64(0)))
	_, err = io.WriteString(w2, strings.Repeat("b", 40))
	qt.Assert(t, qt.IsNil(err))

	// Committed content is stored, not in progress: its bytes are
	// free again.
	_, err = w1.Commit(digest.FromString(a))
	qt.Assert(t, qt.IsNil(err))
	_, err = io.WriteString(w2, strings.Repeat("b", 60))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(w2.Size(), int64(100)))

	// A push of known size that cannot fit fails before it reads.
	big := strings.Repeat("c", 30)
	_, err = r.PushBlob(ctx, "foo", ociregistry.Descriptor{Digest: digest.FromString(big), Size: int64(len(big))}, failingReader{t})
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))
	qt.Assert(t, qt.IsNil(w2.Cancel()))
	desc, err := r.PushBlob(ctx, "foo", ociregistry.Descriptor{Digest: digest.FromString(big), Size: int64(len(big))}, strings.NewReader(big))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Size, int64(30)))

	// One of unknown size fails when it reaches the limit, and gives
	// back what it took.
	huge := strings.Repeat("d", 150)
	_, err = r.PushBlob(ctx, "foo", ociregistry.Descriptor{Digest: digest.FromString(huge), Size: -1}, strings.NewReader(huge))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))
	_, err = r.ResolveBlob(ctx, "foo", digest.FromString(huge))
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	fits := strings.Repeat("e", 99)
	_, err = r.PushBlob(ctx, "foo", ociregistry.Descriptor{Digest: digest.FromString(fits), Size: -1}, strings.NewReader(fits))
	qt.Assert(t, qt.IsNil(err))
	_, err = r.PushBlob(ctx, "foo", ociregistry.Descriptor{Digest: digest.FromString(fits), Size: 99}, strings.NewReader(fits))
	qt.Assert(t, qt.IsNil(err))
}

// TestMaxUploadBytesAbandoned checks that an abandoned upload gives its
// bytes back when it is swept.
func TestMaxUploadBytesAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		r := ocimem.NewWithConfig(&ocimem.Config{MaxUploadBytes: 100, UploadIdleTimeout: time.Minute})
		w, err := r.PushBlobChunked(ctx, "foo", 0)
		qt.Assert(t, qt.IsNil(err))
		_, err = io.WriteString(w, strings.Repeat("a", 100))
		qt.Assert(t, qt.IsNil(err))
		w.Close()
		w2, err := r.PushBlobChunked(ctx, "foo", 0)
		qt.Assert(t, qt.IsNil(err))
		_, err = io.WriteString(w2, "x")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))
		time.Sleep(2 * time.Minute)
		w3, err := r.PushBlobChunked(ctx, "foo", 0)
		qt.Assert(t, qt.IsNil(err))
		_, err = io.WriteString(w3, strings.Repeat("b", 100))
		qt.Assert(t, qt.IsNil(err))
	})
}

// failingReader fails the test when read.
type failingReader struct{ t *testing.T }

func (r failingReader) Read([]byte) (int, error) {
	r.t.Error("content read although the push could not fit")
	return 0, io.ErrUnexpectedEOF
}

// TestMaxUploadBytesHugeSize checks that a push declaring a size too big
// to count (as a Content-Length of 2^63-1 does) is refused without
// disturbing the count: other pushes still fit afterwards.
func TestMaxUploadBytesHugeSize(t *testing.T) {
	ctx := t.Context()
	r := ocimem.NewWithConfig(&ocimem.Config{MaxUploadBytes: 100})
	data := []byte("hello")
	huge := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: math.MaxInt64}
	_, err := r.PushBlob(ctx, "a/b", huge, bytes.NewReader(data))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))

	// The count is as it was: a small push fits, one past the limit
	// does not.
	desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	_, err = r.PushBlob(ctx, "a/b", desc, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	big := bytes.Repeat([]byte("x"), 101)
	_, err = r.PushBlob(ctx, "a/b", ociregistry.Descriptor{Digest: digest.FromBytes(big), Size: 101}, bytes.NewReader(big))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))
}

// TestMaxUploadBytesSlowPush checks that a push of known size holds of
// the budget the memory it has taken, a chunk (up to 4 MiB) at a time,
// not its whole declared size: a client that declares a big blob and
// sends it slowly cannot keep others from pushing, and the push fails if
// the budget is gone by the time the rest of its bytes arrive.
func TestMaxUploadBytesSlowPush(t *testing.T) {
	const mib = 1 << 20
	r := ocimem.NewWithConfig(&ocimem.Config{MaxUploadBytes: 16 * mib})
	slow := strings.Repeat("s", 12*mib)
	pr, pw := io.Pipe()
	pushed := make(chan error, 1)
	go func() {
		_, err := r.PushBlob(t.Context(), "foo", ociregistry.Descriptor{Digest: digest.FromString(slow), Size: int64(len(slow))}, pr)
		// Writes of what the push no longer reads fail.
		pr.Close()
		pushed <- err
	}()
	_, err := io.WriteString(pw, slow[:1])
	qt.Assert(t, qt.IsNil(err))

	// 4 MiB held by the slow push, 10 MiB more fit.
	other := strings.Repeat("w", 10*mib)
	w, err := r.PushBlobChunked(t.Context(), "foo", 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = io.WriteString(w, other)
	qt.Assert(t, qt.IsNil(err))

	// The slow push's next chunk does not fit any more.
	io.WriteString(pw, slow[1:])
	pw.Close()
	qt.Assert(t, qt.ErrorIs(<-pushed, ociregistry.ErrTooManyRequests))
	_, err = w.Commit(digest.FromString(other))
	qt.Assert(t, qt.IsNil(err))
}

// TestMaxUploadBytesManySlowPushes checks that pushes of known size that
// each send a byte and wait hold memory within the budget: they take
// chunks until it is gone, and the rest are refused before they read.
func TestMaxUploadBytesManySlowPushes(t *testing.T) {
	const mib = 1 << 20
	r := ocimem.NewWithConfig(&ocimem.Config{MaxUploadBytes: 8 * mib})
	const pushes = 20
	data := strings.Repeat("x", 4*mib)
	desc := ociregistry.Descriptor{Digest: digest.FromString(data), Size: int64(len(data))}
	results := make(chan error, pushes)
	var writers []*io.PipeWriter
	for range pushes {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		go func() {
			_, err := r.PushBlob(t.Context(), "foo", desc, pr)
			pr.Close()
			results <- err
		}()
	}
	// The refused ones end at once; the others wait for their byte.
	defer func() {
		for _, pw := range writers {
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
	}()
	for range pushes - 2 {
		select {
		case err := <-results:
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))
		case <-time.After(10 * time.Second):
			t.Fatal("pushes past the budget were not refused")
		}
	}
	for _, pw := range writers {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	for range 2 {
		qt.Assert(t, qt.ErrorIs(<-results, io.ErrUnexpectedEOF))
	}
}
