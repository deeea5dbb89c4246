package ociregistry_test

import (
	"io"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

func TestNewBytesReader(t *testing.T) {
	data := []byte("hello, world")
	desc := ociregistry.Descriptor{MediaType: "text/plain", Digest: digest.FromBytes(data), Size: int64(len(data))}
	r := ociregistry.NewBytesReader(data, desc)
	qt.Check(t, qt.DeepEquals(r.Descriptor(), desc))
	got, err := io.ReadAll(r)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(string(got), "hello, world"))
	qt.Check(t, qt.IsNil(r.Close()))

	// Servers rely on seeking and ReadAt to answer ranges.
	r = ociregistry.NewBytesReader(data, desc)
	s, ok := r.(io.ReadSeeker)
	qt.Assert(t, qt.IsTrue(ok))
	_, err = s.Seek(7, io.SeekStart)
	qt.Assert(t, qt.IsNil(err))
	got, err = io.ReadAll(s)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(string(got), "world"))
	ra, ok := r.(io.ReaderAt)
	qt.Assert(t, qt.IsTrue(ok))
	buf := make([]byte, 5)
	_, err = ra.ReadAt(buf, 0)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(string(buf), "hello"))
	var sb strings.Builder
	_, err = r.(io.WriterTo).WriteTo(&sb)
	qt.Assert(t, qt.IsNil(err))
}
