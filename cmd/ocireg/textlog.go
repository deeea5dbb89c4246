package main

import (
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// textHandler is slog's TextHandler writing to a logBuffer, through
// which the request log also writes its lines itself: formatting a
// request's line through slog's generic machinery cost a fifth of what
// the handler spends on a manifest request.
type textHandler struct {
	*slog.TextHandler
	w *logBuffer
}

// maxPooledLine is the capacity above which a line's buffer, grown for a
// long path, is left to the garbage collector rather than kept.
const maxPooledLine = 16 << 10

// lineBuffers holds the buffers that request lines are formatted in.
var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// logRequest writes the request's line as the TextHandler would have
// written the record that logRequests makes, and reports whether it did:
// it leaves to the TextHandler a line with a value the TextHandler would
// quote.
func (h *textHandler) logRequest(t time.Time, method, path string, status int, bytes int64, d time.Duration, user string) bool {
	if !plainText(method) || !plainText(path) || user != "" && !plainText(user) {
		return false
	}
	bp := lineBuffers.Get().(*[]byte)
	b := append((*bp)[:0], "time="...)
	b = appendRFC3339Millis(b, t)
	b = append(b, " level=INFO msg=request method="...)
	b = append(b, method...)
	b = append(b, " path="...)
	b = append(b, path...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, bytes, 10)
	b = append(b, " duration="...)
	b = append(b, d.String()...)
	if user != "" {
		b = append(b, " user="...)
		b = append(b, user...)
	}
	b = append(b, '\n')
	h.w.Write(b)
	if cap(b) <= maxPooledLine {
		*bp = b
		lineBuffers.Put(bp)
	}
	return true
}

// plainText reports whether the TextHandler writes s as it is: s is not
// empty and holds only printable ASCII other than a space, '=' and '"'.
func plainText(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || c == '=' || c == '"' {
			return false
		}
	}
	return true
}

// appendRFC3339Millis appends t as the TextHandler writes times: RFC 3339
// with exactly three digits of milliseconds, truncated.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	// RFC3339Nano drops trailing zeros; adding a tenth of a
	// millisecond to the truncated time makes four digits, of which
	// the fourth is then cut.
	const prefix = len("2006-01-02T15:04:05.000")
	n := len(b)
	b = t.Round(0).Truncate(time.Millisecond).Add(time.Millisecond/10).AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefix], b[n+prefix+1:]...)
}
