package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// logRequests returns a handler that serves with h, logs every request
// with its method, path, status, response size and duration, and counts
// it in m when m is not nil.
func logRequests(logger *slog.Logger, m *metrics, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		req = req.WithContext(context.WithValue(req.Context(), requestInfoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		var body *countingReader
		if req.Body != nil && req.Body != http.NoBody {
			body = &countingReader{r: req.Body}
			req.Body = body
		}
		h.ServeHTTP(sw, req)
		if sw.status == 0 {
			// The handler wrote nothing, so net/http answers 200.
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		var in int64
		if body != nil {
			in = body.n
		}
		if m != nil {
			m.observe(req, sw.status, in, sw.bytes, d)
		}
		attrs := []slog.Attr{
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", d),
		}
		if info.user != "" {
			attrs = append(attrs, slog.String("user", info.user))
		}
		logger.LogAttrs(req.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// requestInfo is what handlers further in learn about a request that
// logRequests logs.
type requestInfo struct {
	user string // the authenticated user
}

type requestInfoKey struct{}

// setRequestUser records the authenticated user of the request with ctx
// for the log.
func setRequestUser(ctx context.Context, user string) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.user = user
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// statusWriter records the status and the number of body bytes of a
// response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	// Informational (1xx) headers are followed by the real status.
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom passes src to the underlying writer's ReadFrom, so that a blob
// held in a file still goes out with sendfile through this wrapper.
func (w *statusWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.bytes += n
	return n, err
}

// writerOnly hides every method but Write, so that io.Copy does not loop
// back into ReadFrom.
type writerOnly struct{ io.Writer }

// Unwrap lets http.ResponseController reach the underlying writer, for
// flushing and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// idleReadTimeout returns a handler that serves with h and fails the
// request once its client has sent nothing for timeout. The connection's
// read deadline is moved forward after every read of the body, so an
// upload that keeps flowing may take as long as it needs; an http.Server
// ReadTimeout would instead bound the whole request, cutting off big
// uploads. Responses have no such deadline: a response written with
// sendfile reports no progress to move one by, so a client that stops
// reading is left to TCP keep-alives and the kernel's send timeouts.
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
			req.Body = &deadlineReader{r: req.Body, rc: rc, timeout: timeout}
		}
		h.ServeHTTP(w, req)
	})
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
