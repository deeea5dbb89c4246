package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
)

// TestTextHandlerRequestLine checks that the request lines textHandler
// writes itself are those slog's TextHandler writes for the same record,
// and that it leaves to the TextHandler the lines with values it quotes.
func TestTextHandlerRequestLine(t *testing.T) {
	east := time.FixedZone("east", 5*3600+30*60)
	tests := []struct {
		name         string
		t            time.Time
		method, path string
		status       int
		bytes        int64
		d            time.Duration
		user         string
		wantSlog     bool // the line is left to slog
	}{
		{name: "Manifest", t: time.Date(2026, 12, 7, 10, 5, 25, 902_345_678, time.UTC), method: "HEAD", path: "/v2/bench/m/manifests/v1", status: 200, d: 8833 * time.Nanosecond},
		{name: "WholeSecond", t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), method: "GET", path: "/v2/", status: 401, bytes: 87, d: 2 * time.Millisecond},
		{name: "MillisOnly", t: time.Date(2026, 1, 2, 3, 4, 5, 100_000_000, east), method: "PUT", path: "/v2/a/b/manifests/sha256:" + string(bytes.Repeat([]byte("a"), 64)), status: 201, d: 3*time.Second + 5*time.Microsecond},
		{name: "WithUser", t: time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC), method: "PATCH", path: "/v2/r/blobs/uploads/x?y", status: 202, bytes: 1 << 30, d: time.Hour, user: "alice.b-c@example"},
		{name: "Backslash", t: time.Now(), method: "GET", path: `/v2/a\b`, status: 404, d: time.Nanosecond},
		{name: "SpaceInPath", t: time.Now(), method: "GET", path: "/v2/a b", status: 400, wantSlog: true},
		{name: "QuoteInPath", t: time.Now(), method: "GET", path: `/v2/"a"`, status: 400, wantSlog: true},
		{name: "EqualsInPath", t: time.Now(), method: "GET", path: "/v2/a=b", status: 400, wantSlog: true},
		{name: "NonASCII", t: time.Now(), method: "GET", path: "/v2/é", status: 400, wantSlog: true},
		{name: "OddMethod", t: time.Now(), method: "GET\x7f", path: "/v2/", status: 405, wantSlog: true},
		{name: "UserWithSpace", t: time.Now(), method: "GET", path: "/v2/", status: 200, user: "a b", wantSlog: true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var want bytes.Buffer
			r := slog.NewRecord(test.t, slog.LevelInfo, "request", 0)
			r.AddAttrs(
				slog.String("method", test.method),
				slog.String("path", test.path),
				slog.Int("status", test.status),
				slog.Int64("bytes", test.bytes),
				slog.Duration("duration", test.d),
			)
			if test.user != "" {
				r.AddAttrs(slog.String("user", test.user))
			}
			qt.Assert(t, qt.IsNil(slog.NewTextHandler(&want, nil).Handle(context.Background(), r)))

			var got bytes.Buffer
			lb := newLogBuffer(&got)
			h := &textHandler{TextHandler: slog.NewTextHandler(lb, nil), w: lb}
			wrote := h.logRequest(test.t, test.method, test.path, test.status, test.bytes, test.d, test.user)
			lb.Close()
			qt.Assert(t, qt.Equals(wrote, !test.wantSlog))
			if wrote {
				qt.Assert(t, qt.Equals(got.String(), want.String()))
			} else {
				qt.Assert(t, qt.Equals(got.String(), ""))
			}
		})
	}
}

// TestServeLogsRequestsItself checks that serve's text logger, writing
// to a logBuffer, is the one whose request lines logRequests writes
// itself, and that a request's line comes out as slog would write it.
func TestServeLogsRequestsItself(t *testing.T) {
	var out bytes.Buffer
	lb := newLogBuffer(&out)
	logger, err := newLogger(lb, "text")
	qt.Assert(t, qt.IsNil(err))
	_, ok := logger.Handler().(*textHandler)
	qt.Assert(t, qt.IsTrue(ok))
	h := logRequests(logger, nil, false, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/pot", nil))
	lb.Close()
	qt.Assert(t, qt.Matches(out.String(), `time=\S+ level=INFO msg=request method=GET path=/v2/pot status=418 bytes=15 duration=\S+\n`))
}
