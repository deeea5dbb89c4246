package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// logRequests returns a handler that serves with h, logs every request
// with its method, path, status, response size and duration (and, with
// withUser, the user that authentication recorded), and counts it in m
// when m is not nil.
func logRequests(logger *slog.Logger, m *metrics, withUser bool, h http.Handler) http.Handler {
	lh := logger.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		var info *requestInfo
		if withUser {
			// A request copy and a context value cost allocations
			// that only a server with users needs.
			info = &requestInfo{}
			req = req.WithContext(context.WithValue(req.Context(), requestInfoKey{}, info))
		}
		sw := &statusWriter{ResponseWriter: w}
		var body *countingReader
		if req.Body != nil && req.Body != http.NoBody {
			body = &countingReader{r: req.Body}
			req = withBody(req, body)
		}
		h.ServeHTTP(sw, req)
		switch {
		case sw.status != 0:
		case req.Context().Err() != nil:
			// The client went away before any answer: nginx's
			// "client closed request", not the 200 net/http would
			// have sent.
			sw.status = statusClientClosed
		default:
			// The handler wrote nothing, so net/http answers 200.
			sw.status = http.StatusOK
		}
		end := time.Now()
		d := end.Sub(start)
		var in int64
		if body != nil {
			in = body.n
		}
		if m != nil {
			m.observe(req, sw.status, in, sw.bytes, d)
		}
		ctx := req.Context()
		if !lh.Enabled(ctx, slog.LevelInfo) {
			return
		}
		var user string
		if info != nil {
			user = info.user
		}
		if th, ok := lh.(*textHandler); ok && th.logRequest(end, req.Method, req.URL.Path, sw.status, sw.bytes, d, user) {
			return
		}
		// A record made here rather than through Logger.LogAttrs
		// skips finding the caller's program counter, which no
		// handler of ours prints and which cost a tenth of the
		// handler's time per request.
		r := slog.NewRecord(end, slog.LevelInfo, "request", 0)
		r.AddAttrs(
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", d),
		)
		if user != "" {
			r.AddAttrs(slog.String("user", user))
		}
		lh.Handle(ctx, r)
	})
}

// statusClientClosed is what the log and metrics say of a request whose
// client went away before it was answered.
const statusClientClosed = 499

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
	n, err := readFromVia(w.ResponseWriter, src)
	w.bytes += n
	return n, err
}

// readFromVia copies src to w with w's ReadFrom when it has one, for the
// ReadFrom of a wrapper of w: a blob held in a file still goes out with
// sendfile, and a store still reads a request body straight in.
func readFromVia(w io.Writer, src io.Reader) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w}, src)
}

// writerOnly hides every method but Write, so that io.Copy does not loop
// back into ReadFrom.
type writerOnly struct{ io.Writer }

// Unwrap lets http.ResponseController reach the underlying writer, for
// flushing and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}
