package ociregistry

import "bytes"

// NewBytesReader returns a BlobReader of data that describes it with desc.
// It is for implementations that hold content in memory (a manifest read
// whole, a cache, a test double): Close does nothing and never fails, and
// the reader also implements io.Seeker, io.ReaderAt and io.WriterTo, so
// that servers can answer ranges and copy it without buffering. desc is
// returned as it is given; data is not copied and must not be changed
// while the reader is in use.
func NewBytesReader(data []byte, desc Descriptor) BlobReader {
	return &bytesReader{Reader: bytes.NewReader(data), desc: desc}
}

// bytesReader is the BlobReader that NewBytesReader returns. Embedding
// *bytes.Reader gives it Seek, ReadAt and WriteTo.
type bytesReader struct {
	*bytes.Reader
	desc Descriptor
}

func (r *bytesReader) Close() error           { return nil }
func (r *bytesReader) Descriptor() Descriptor { return r.desc }
