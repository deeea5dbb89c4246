package ociclient

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ocireg/ociregistry"
)

// closeNotifier is a request body that says when the transport has
// closed it and no Read of it is running, after which it is safe to
// read its content again.
type closeNotifier struct {
	r    io.Reader
	done chan struct{}

	// mu guards reading and closed. With HTTP/2 the transport may
	// close the body from another goroutine while a Read is running
	// (to end a Read that blocks), so done is closed by whichever of
	// Close and that Read comes last, and Read reads nothing after
	// Close. mu is not held across the Read of r, so that Close never
	// waits for it, and nothing is left waiting should it never end.
	mu      sync.Mutex
	reading bool
	closed  bool
}

// errBodyClosed is what a Read after Close returns.
var errBodyClosed = errors.New("ociclient: read on closed request body")

func (c *closeNotifier) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, errBodyClosed
	}
	c.reading = true
	c.mu.Unlock()

	n, err := c.r.Read(p)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.reading = false
	if c.closed {
		close(c.done)
	}
	return n, err
}

// Close marks the body closed, and closes done unless a Read is running,
// which closes it when it returns. It does not wait for that: the
// transport may call it to end a Read that blocks.
func (c *closeNotifier) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		if !c.reading {
			close(c.done)
		}
	}
	return nil
}

// sizeChecker reads exactly size bytes from r, returning an error that
// Is ErrSizeInvalid when r holds more or fewer.
type sizeChecker struct {
	r    io.Reader
	size int64
	n    int64
	dig  ociregistry.Digest
	// err holds the error that Read found in the content's length. It
	// is atomic because Read runs on the transport's goroutine while
	// Err is called from the caller's, and with HTTP/2 the transport
	// may close the body (which is what the caller waits for) while a
	// Read is still running: the close orders nothing.
	err atomic.Pointer[error]
}

// Err returns the error that Read found in the content's length, or nil.
func (s *sizeChecker) Err() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *sizeChecker) Read(p []byte) (int, error) {
	// Ask for one byte more than is left, to find content past the
	// end.
	if left := s.size - s.n + 1; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.n > s.size || err == io.EOF && s.n < s.size {
		err := sizeError(ociregistry.Descriptor{Digest: s.dig, Size: s.size}, s.n)
		s.err.Store(&err)
		return n - int(max(s.n-s.size, 0)), err
	}
	return n, err
}

// sizeError returns the error for content of n bytes pushed as desc.
func sizeError(desc ociregistry.Descriptor, n int64) error {
	if n > desc.Size {
		return fmt.Errorf("blob %s: content is longer than %d bytes: %w", desc.Digest, desc.Size, ociregistry.ErrSizeInvalid)
	}
	return fmt.Errorf("blob %s: content is %d bytes, want %d: %w", desc.Digest, n, desc.Size, ociregistry.ErrSizeInvalid)
}
