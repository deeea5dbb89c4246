package ocifs

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/go-quicktest/qt"
)

// alignedBuffer returns n random bytes starting at an address aligned
// for direct I/O.
func alignedBuffer(n int) []byte {
	raw := make([]byte, n+directAlign)
	skip := (directAlign - int(uintptr(unsafe.Pointer(&raw[0]))%directAlign)) % directAlign
	p := raw[skip : skip+n]
	rand.Read(p)
	return p
}

// TestWriteDirect checks that writeDirect writes aligned data past the
// page cache and leaves the file as it was opened, and refuses, having
// written nothing, what direct I/O cannot take.
func TestWriteDirect(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	qt.Assert(t, qt.IsNil(err))
	defer f.Close()
	p := alignedBuffer(1 << 20)

	n, done, err := writeDirect(f, p, 0)
	if err == errNoDirect {
		// The file system is not a local disk's (tmpfs, a network
		// file system) or has no direct I/O: the caller writes as
		// usual.
		qt.Assert(t, qt.IsFalse(done))
		qt.Assert(t, qt.Equals(n, 0))
		t.Logf("no direct I/O on %s", f.Name())
	} else {
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsTrue(done))
		qt.Assert(t, qt.Equals(n, len(p)))
		flags, err := fcntl(f.Fd(), syscall.F_GETFL, 0)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(flags&syscall.O_DIRECT, 0), qt.Commentf("O_DIRECT left set"))
	}

	// What is not aligned is left to the caller, whatever the file
	// system.
	off := int64(n)
	for _, test := range []struct {
		name string
		p    []byte
		off  int64
	}{
		{"Length", p[:len(p)-1], off},
		{"Offset", p, off + 1},
		{"Address", alignedBuffer(2 << 20)[1 : 1+1<<20], off},
		{"Empty", nil, off},
	} {
		n, done, err := writeDirect(f, test.p, test.off)
		qt.Check(t, qt.Equals(n, 0), qt.Commentf("%s", test.name))
		qt.Check(t, qt.IsFalse(done), qt.Commentf("%s", test.name))
		qt.Check(t, qt.IsNil(err), qt.Commentf("%s", test.name))
	}
	fi, err := f.Stat()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(fi.Size(), off))
}

// TestWritebackWriterContent writes, through the writer that pushes use,
// aligned chunks, an unaligned tail and then more aligned chunks (which
// can no longer be written directly), and reads back what was written.
func TestWritebackWriterContent(t *testing.T) {
	r := &Registry{fs: osFS{}}
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	qt.Assert(t, qt.IsNil(err))
	defer f.Close()
	w := r.writer(f, 0)
	var want []byte
	for _, size := range []int{1 << 20, 1 << 20, 300 << 10, 4097, 1 << 20, 1 << 20} {
		p := alignedBuffer(size)
		n, err := w.Write(p)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(n, size))
		want = append(want, p...)
	}
	qt.Assert(t, qt.IsNil(f.Sync()))
	got, err := os.ReadFile(f.Name())
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(got, want)))
}
