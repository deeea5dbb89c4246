package ocifs

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

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

// failingWriter takes n bytes, then fails every write.
type failingWriter struct{ n int }

var errWriteFailed = errors.New("write failed")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	n := w.n
	w.n = 0
	return n, errWriteFailed
}

// TestCopyHashingFails checks that copyHashing stops and reports a
// failing writer or source, having written no more than it says, and
// leaves no goroutine behind.
func TestCopyHashingFails(t *testing.T) {
	data := make([]byte, 6*copyBufferSize)
	rand.Read(data)
	errRead := errors.New("read failed")
	tests := []struct {
		name    string
		w       io.Writer
		src     io.Reader
		wantN   int64
		wantErr error
	}{
		{"WriterFails", &failingWriter{n: 2*copyBufferSize + 5}, bytes.NewReader(data), 2*copyBufferSize + 5, errWriteFailed},
		{"WriterFailsAtOnce", &failingWriter{}, bytes.NewReader(data), 0, errWriteFailed},
		{"SourceFails", io.Discard, io.MultiReader(bytes.NewReader(data[:3*copyBufferSize+7]), iotest.ErrReader(errRead)), 3*copyBufferSize + 7, errRead},
	}
	before := runtime.NumGoroutine()
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			n, err := copyHashing(test.w, sha256.New(), test.src)
			qt.Assert(t, qt.ErrorIs(err, test.wantErr))
			qt.Assert(t, qt.Equals(n, test.wantN))
		})
	}
	// The writer and hasher goroutines end: they have sent their
	// last word by the time copyHashing returns.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	qt.Assert(t, qt.Equals(runtime.NumGoroutine(), before))
}
