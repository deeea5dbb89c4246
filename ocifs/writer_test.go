package ocifs

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"runtime"
	"testing"

	"github.com/go-quicktest/qt"
)

// TestCopyHashing copies content of several sizes, around the buffer
// size, and checks what was written and hashed, and that a small blob
// takes one buffer rather than copyBuffers.
func TestCopyHashing(t *testing.T) {
	for _, size := range []int{0, 1, 4096, copyBufferSize - 1, copyBufferSize, copyBufferSize + 1, 5*copyBufferSize + 17} {
		data := make([]byte, size)
		rand.Read(data)
		var w bytes.Buffer
		h := sha256.New()
		n, err := copyHashing(&w, h, io.LimitReader(bytes.NewReader(data), int64(size)))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(n, int64(size)))
		qt.Assert(t, qt.IsTrue(bytes.Equal(w.Bytes(), data)))
		want := sha256.Sum256(data)
		qt.Assert(t, qt.DeepEquals(h.Sum(nil), want[:]))
	}

	// Two collections empty the buffer pool.
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := copyHashing(io.Discard, sha256.New(), bytes.NewReader(make([]byte, 4096)))
	runtime.ReadMemStats(&after)
	qt.Assert(t, qt.IsNil(err))
	allocated := after.TotalAlloc - before.TotalAlloc
	qt.Assert(t, qt.IsTrue(allocated < 2*copyBufferSize), qt.Commentf("copying 4 KiB allocated %d bytes", allocated))
}
