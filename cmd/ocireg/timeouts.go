// Idle timeouts: a request body or a response that stops flowing is cut
// off, while one that keeps flowing may take as long as it needs.

package main

import (
	"errors"
	"io"
	"net/http"
	"syscall"
	"time"
)

// idleReadTimeout returns a handler that serves with h and fails the
// request once its client has sent nothing for timeout. The connection's
// read deadline is moved forward after every read of the body, so an
// upload that keeps flowing may take as long as it needs; an http.Server
// ReadTimeout would instead bound the whole request, cutting off big
// uploads. idleWriteTimeout does the same for responses.
func idleReadTimeout(timeout time.Duration, h http.Handler) http.Handler {
	if timeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Only requests with a body get a deadline: with none, the
		// server's background read of the connection would hit it
		// and cancel a long download.
		if req.Body != nil && req.Body != http.NoBody {
			rc := http.NewResponseController(w)
			if err := rc.SetReadDeadline(time.Now().Add(timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			req = withBody(req, &deadlineReader{r: req.Body, rc: rc, timeout: timeout})
		}
		h.ServeHTTP(w, req)
	})
}

// withBody returns a shallow copy of req with body as its Body. The
// server's own request must keep the body it made: when the handler
// answers without reading a body that the client announced with
// "Expect: 100-continue", net/http closes the connection after the
// answer only if it finds its own reader there; with another, it reads
// the body first, which the client sends only after a 100 Continue that
// never comes, and both wait until the read deadline.
func withBody(req *http.Request, body io.ReadCloser) *http.Request {
	r := *req
	r.Body = body
	return &r
}

// deadlineReader moves the connection's read deadline forward on every
// read.
type deadlineReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	last    time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	// Moving the deadline costs a little, so do it at most every
	// hundredth of the timeout.
	if now := time.Now(); now.Sub(d.last) > d.timeout/100 {
		d.rc.SetReadDeadline(now.Add(d.timeout))
		d.last = now
	}
	n, err := d.r.Read(p)
	if err == io.EOF {
		// The body is all in: what the handler does next (hashing,
		// syncing) is not the client's idleness.
		d.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (d *deadlineReader) Close() error { return d.r.Close() }

// writeStep is the most written to the connection under one write
// deadline: a response goes out in steps of this size, and each step
// gets the whole idle timeout. Big enough that sendfile is worth it for
// each step, small enough that a client must keep reading (at least
// writeStep per timeout) to keep the connection.
const writeStep = 1 << 20

// idleWriteTimeout returns a handler that serves with h and fails the
// response once its client has not taken writeStep bytes of it for
// timeout. The connection's write deadline is moved forward before every
// step of the response, so a download that keeps flowing may take as
// long as it needs; an http.Server WriteTimeout would instead bound the
// whole response, cutting off big downloads, and without any deadline a
// client that stops reading would hold its connection and handler for
// ever.
func idleWriteTimeout(timeout time.Duration, h http.Handler) http.Handler {
	if timeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rc := http.NewResponseController(w)
		// The deadline of the connection's previous request may still
		// be set; what a handler does before it first writes (such as
		// fetching from upstream) is not the client's idleness.
		if err := rc.SetWriteDeadline(time.Time{}); errors.Is(err, http.ErrNotSupported) {
			// No connection to set a deadline on (as in tests).
			h.ServeHTTP(w, req)
			return
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		dw := &deadlineWriter{w: w, rc: rc, timeout: timeout}
		h.ServeHTTP(dw, req)
		// net/http flushes what is buffered after the handler returns:
		// bound that too.
		rc.SetWriteDeadline(time.Now().Add(timeout))
	})
}

// deadlineWriter moves the connection's write deadline forward before
// every step of at most writeStep bytes that it writes.
type deadlineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	last    time.Time
}

func (d *deadlineWriter) Header() http.Header { return d.w.Header() }

func (d *deadlineWriter) WriteHeader(code int) { d.w.WriteHeader(code) }

// extend moves the write deadline forward.
func (d *deadlineWriter) extend() {
	// Moving the deadline costs a little, so small writes do it at
	// most every hundredth of the timeout.
	if now := time.Now(); now.Sub(d.last) > d.timeout/100 {
		d.rc.SetWriteDeadline(now.Add(d.timeout))
		d.last = now
	}
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// A blob held in memory comes in one Write of all of it.
	var n int
	for len(p) > 0 {
		step := p[:min(len(p), writeStep)]
		d.extend()
		m, err := d.w.Write(step)
		n += m
		if err != nil {
			return n, err
		}
		p = p[len(step):]
	}
	return n, nil
}

// ReadFrom copies src to the response. A file goes in steps of
// writeStep, each under a fresh deadline, to the underlying writer's
// ReadFrom as an *io.LimitedReader of src, which a TCP connection still
// turns into sendfile. Anything else is read here and each write gets a
// fresh deadline, so that the time spent waiting for src (a proxy's
// upstream, say) is not taken for the client's.
func (d *deadlineWriter) ReadFrom(src io.Reader) (int64, error) {
	inner := src
	if lr, ok := src.(*io.LimitedReader); ok {
		inner = lr.R
	}
	// What sendfile takes: a file (os.File's WriteTo hands this a
	// wrapper of it), or a connection.
	if _, ok := inner.(syscall.Conn); !ok {
		return io.CopyBuffer(writerOnly{d}, src, make([]byte, 64<<10))
	}
	// A limited reader's limit is taken over, rather than limited
	// again, because sendfile sees through only one *io.LimitedReader.
	limit := int64(-1) // no limit
	if lr, ok := src.(*io.LimitedReader); ok {
		// A limited reader with N <= 0 yields nothing, so its limit
		// must not read as "none".
		src, limit = lr.R, max(lr.N, 0)
		defer func() { lr.N = limit }()
	}
	var total int64
	for limit != 0 {
		step := int64(writeStep)
		if limit > 0 {
			step = min(step, limit)
		}
		d.last = time.Time{} // a whole step deserves a fresh deadline
		d.extend()
		// An *io.LimitedReader has no WriteTo, so io.Copy calls the
		// underlying writer's ReadFrom when it has one.
		n, err := io.Copy(d.w, &io.LimitedReader{R: src, N: step})
		total += n
		if limit > 0 {
			limit -= n
		}
		if err != nil || n < step {
			// n < step without an error: src is at its end.
			return total, err
		}
	}
	return total, nil
}

// Unwrap lets http.ResponseController reach the underlying writer, for
// flushing and deadlines.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.w }
