package ocimem

import (
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/ocireg/ociregistry"
)

// Blob content is kept as a list of chunks rather than one slice. A
// slice that grows by append copies everything it holds each time it
// doubles and leaves the old copies to the garbage collector, so that a
// push of unknown length cost several copies of the blob in time and up
// to three in memory; chunks are filled in place, read straight into
// from the request body, hashed as they fill, and never copied again.
const (
	// minChunk is the size of the first chunk of content of unknown
	// length; each next chunk is as big as the content so far, up to
	// maxChunk, so that small content wastes little and big content
	// is in few chunks.
	minChunk = 64 << 10

	// maxChunk bounds the size of a chunk, and so the capacity left
	// unused at the end of content of unknown length before it is
	// trimmed.
	maxChunk = 4 << 20
)

// content is stored blob content: its chunks, which are never modified
// once stored, so that readers read them without a lock.
type content struct {
	chunks [][]byte
	size   int64
}

// builder accumulates content. Its zero value is empty and hashes
// nothing.
type builder struct {
	chunks [][]byte // the last one may have spare capacity
	size   int64

	// h, when not nil, hashes every byte committed: the bytes of the
	// last chunk from hashed on are still to be given to it, in
	// batches (see hasher.go).
	h      hash.Hash
	hashed int
	hashing

	// remaining is how many more bytes are expected, or -1 when that
	// is not known. It sizes new chunks.
	remaining int64

	// reserve, when not nil, is called with the size of each new chunk
	// of expected content before it is allocated; an error it returns
	// is kept in err, and the chunk is not allocated.
	reserve func(n int64) error
	err     error
}

func newBuilder(h hash.Hash, size int64) *builder {
	return &builder{h: h, remaining: size}
}

// spare returns the free capacity at the end of the content, allocating
// a new chunk when the last one is full. It returns nil when b.reserve
// refuses the new chunk.
func (b *builder) spare() []byte {
	if n := len(b.chunks); n > 0 {
		last := b.chunks[n-1]
		if len(last) < cap(last) {
			return last[len(last):cap(last)]
		}
	}
	b.hashTail()
	size := int64(maxChunk)
	switch {
	case b.remaining > 0:
		size = min(b.remaining, maxChunk)
	case b.remaining < 0:
		size = min(max(b.size, minChunk), maxChunk)
	default:
		// Expecting nothing more: a small chunk in which to notice
		// content that is too long.
		size = 512
	}
	if b.reserve != nil && b.remaining != 0 {
		// (The small chunk that only notices content that is too
		// long is not counted.)
		if err := b.reserve(size); err != nil {
			b.err = err
			return nil
		}
	}
	b.chunks = append(b.chunks, make([]byte, 0, size))
	b.hashed = 0
	return b.chunks[len(b.chunks)-1][0:size]
}

// commit adds the first n bytes of what spare last returned to the
// content.
func (b *builder) commit(n int) {
	last := b.chunks[len(b.chunks)-1]
	b.chunks[len(b.chunks)-1] = last[:len(last)+n]
	b.size += int64(n)
	if b.remaining >= 0 {
		b.remaining = max(b.remaining-int64(n), 0)
	}
	if b.h != nil && len(last)+n-b.hashed >= hashBatch {
		b.hashTail()
	}
}

// seal makes the spare capacity of the last chunk unusable, so that a
// reader still filling it (a writer that lost its upload to another)
// cannot race with whoever fills the content next.
func (b *builder) seal() {
	if n := len(b.chunks); n > 0 {
		last := b.chunks[n-1]
		b.chunks[n-1] = last[:len(last):len(last)]
	}
}

// write appends p to the content.
func (b *builder) write(p []byte) {
	b.startHashing()
	defer b.stopHashing()
	for len(p) > 0 {
		buf := b.spare()
		if buf == nil {
			// Not with reserve set: write's callers count the
			// bytes themselves.
			panic("ocimem: builder.write refused a chunk")
		}
		n := copy(buf, p)
		b.commit(n)
		p = p[n:]
	}
}

// readFrom appends what r yields until io.EOF to the content, reading
// straight into its chunks.
func (b *builder) readFrom(r io.Reader) (int64, error) {
	b.startHashing()
	defer b.stopHashing()
	var total int64
	for {
		buf := b.spare()
		if buf == nil {
			return total, b.err
		}
		n, err := r.Read(buf)
		if n > 0 {
			b.commit(n)
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// content returns what was built. The last chunk is copied when it has
// capacity to spare, so that stored content holds no more memory than
// its size. The builder must not be added to afterwards.
func (b *builder) content() content {
	b.stopHashing()
	if n := len(b.chunks); n > 0 {
		last := b.chunks[n-1]
		switch {
		case len(last) == 0:
			b.chunks = b.chunks[:n-1]
		case len(last) < cap(last):
			b.chunks[n-1] = append(make([]byte, 0, len(last)), last...)
		}
	}
	c := content{chunks: b.chunks, size: b.size}
	// Size still answers what was built; nothing else may be used.
	b.chunks, b.h = nil, nil
	return c
}

// hashContent hashes the whole of c with h and returns h.
func hashContent(h hash.Hash, c content) hash.Hash {
	for _, chunk := range c.chunks {
		h.Write(chunk)
	}
	return h
}

// slice returns the content from offset off0 up to off1, sharing its
// chunks. The offsets must be within the content, off0 <= off1.
func (c content) slice(off0, off1 int64) content {
	if off0 == 0 && off1 == c.size {
		return c
	}
	var chunks [][]byte
	var pos int64
	for _, chunk := range c.chunks {
		start, end := pos, pos+int64(len(chunk))
		pos = end
		if end <= off0 {
			continue
		}
		if start >= off1 {
			break
		}
		chunks = append(chunks, chunk[max(off0-start, 0):min(off1, end)-start])
	}
	return content{chunks: chunks, size: off1 - off0}
}

// reader reads stored content, which is never modified, so it needs no
// lock. Like a bytes.Reader it seeks, which lets a client that pushes it
// elsewhere send it again, and writes itself to a writer without an
// intermediate buffer.
type reader struct {
	c    content
	pos  int64 // offset in c
	ci   int   // index of the chunk holding pos
	co   int   // offset of pos in that chunk
	desc ociregistry.Descriptor
}

func newReader(c content, desc ociregistry.Descriptor) *reader {
	return &reader{c: c, desc: desc}
}

func (r *reader) Close() error                       { return nil }
func (r *reader) Descriptor() ociregistry.Descriptor { return r.desc }

func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.c.size {
		return 0, io.EOF
	}
	total := 0
	for len(p) > 0 && r.ci < len(r.c.chunks) {
		chunk := r.c.chunks[r.ci]
		n := copy(p, chunk[r.co:])
		p = p[n:]
		total += n
		r.advance(n)
	}
	return total, nil
}

// advance moves the position n bytes on within the current chunk.
func (r *reader) advance(n int) {
	r.pos += int64(n)
	r.co += n
	for r.ci < len(r.c.chunks) && r.co >= len(r.c.chunks[r.ci]) {
		r.ci++
		r.co = 0
	}
}

// WriteTo writes the rest of the content to w.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.ci < len(r.c.chunks) {
		chunk := r.c.chunks[r.ci][r.co:]
		n, err := w.Write(chunk)
		total += int64(n)
		r.advance(n)
		if err != nil {
			return total, err
		}
		if n < len(chunk) {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

var errNegativePosition = errors.New("ocimem: seek to a negative position")

// Seek sets the position for the next Read, as io.Seeker says.
func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.c.size
	default:
		return 0, fmt.Errorf("ocimem: seek with invalid whence %d", whence)
	}
	if offset < 0 {
		return 0, errNegativePosition
	}
	r.pos, r.ci, r.co = offset, 0, 0
	rest := offset
	for r.ci < len(r.c.chunks) && rest >= int64(len(r.c.chunks[r.ci])) {
		rest -= int64(len(r.c.chunks[r.ci]))
		r.ci++
	}
	if r.ci < len(r.c.chunks) {
		r.co = int(rest)
	}
	return offset, nil
}
