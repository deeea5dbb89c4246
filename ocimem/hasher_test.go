package ocimem_test

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
)

// TestPushHashedInBatches pushes content of sizes on either side of the
// batches that are hashed on another goroutine (256 KiB) and of the
// chunks content is kept in (4 MiB), arriving in pieces of several
// sizes: each push is accepted with its digest and refused with one byte
// changed, and leaves no goroutine behind.
func TestPushHashedInBatches(t *testing.T) {
	data := bigContent(5<<20 + 3)
	sizes := []int{0, 1, 256<<10 - 1, 256 << 10, 256<<10 + 1, 4 << 20, 4<<20 + 1, len(data)}
	pieces := []int{1000, 64 << 10, len(data)}
	before := runtime.NumGoroutine()
	for _, size := range sizes {
		for _, piece := range pieces {
			for _, known := range []bool{true, false} {
				t.Run(fmt.Sprintf("size=%d/piece=%d/known=%v", size, piece, known), func(t *testing.T) {
					content := data[:size]
					desc := ociregistry.Descriptor{Digest: digest.FromBytes(content), Size: int64(size)}
					if !known {
						desc.Size = -1
					}
					r := ocimem.New()
					if size > 0 {
						bad := bytes.Clone(content)
						bad[size/2] ^= 1
						_, err := r.PushBlob(ctx, "repo", desc, &pieceReader{data: bad, piece: piece})
						qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
					}
					_, err := r.PushBlob(ctx, "repo", desc, &pieceReader{data: content, piece: piece})
					qt.Assert(t, qt.IsNil(err))
					qt.Assert(t, qt.IsTrue(bytes.Equal(blobContent(t, r, "repo", desc.Digest), content)))
				})
			}
		}
	}
	assertGoroutinesBack(t, before)
}

// TestChunkedHashedAcrossCalls checks that an upload's hash goes on
// across the writers' calls: a Commit with the wrong digest in the middle
// (the upload stays) and Writes and ReadFroms of pieces bigger and
// smaller than a batch, by the first writer and by one that resumes it.
func TestChunkedHashedAcrossCalls(t *testing.T) {
	data := bigContent(3<<20 + 77)
	parts := [][]byte{data[:700<<10], data[700<<10 : 700<<10+5], data[700<<10+5 : 2<<20], data[2<<20:]}
	before := runtime.NumGoroutine()
	r := ocimem.New()
	w, err := r.PushBlobChunked(ctx, "repo", 0)
	qt.Assert(t, qt.IsNil(err))
	for i, part := range parts {
		if i == 2 {
			// A client that lost its connection resumes where
			// the upload stands.
			w, err = r.PushBlobChunkedResume(ctx, "repo", w.ID(), w.Size(), 0)
			qt.Assert(t, qt.IsNil(err))
		}
		if i%2 == 0 {
			_, err = io.Copy(w, &pieceReader{data: part, piece: 64 << 10})
		} else {
			_, err = w.Write(part)
		}
		qt.Assert(t, qt.IsNil(err))
		_, err = w.Commit(digest.FromString("not this"))
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
	}
	desc, err := w.Commit(digest.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(blobContent(t, r, "repo", desc.Digest), data)))
	assertGoroutinesBack(t, before)
}

// blobContent returns the content of the blob dig in repo.
func blobContent(t *testing.T, r ociregistry.Interface, repo string, dig ociregistry.Digest) []byte {
	t.Helper()
	rd, err := r.GetBlob(ctx, repo, dig)
	qt.Assert(t, qt.IsNil(err))
	defer rd.Close()
	got, err := io.ReadAll(rd)
	qt.Assert(t, qt.IsNil(err))
	return got
}

// assertGoroutinesBack checks that no more than before goroutines run,
// once those that are ending have had a moment to.
func assertGoroutinesBack(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	qt.Assert(t, qt.IsTrue(runtime.NumGoroutine() <= before), qt.Commentf("%d goroutines, %d before", runtime.NumGoroutine(), before))
}
