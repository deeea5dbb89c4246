package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-quicktest/qt"
)

func TestLogRequests(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantStatus int
		wantBytes  int64
	}{{
		name:       "WritesNothing",
		handler:    func(w http.ResponseWriter, req *http.Request) {},
		wantStatus: http.StatusOK,
	}, {
		name: "StatusOnly",
		handler: func(w http.ResponseWriter, req *http.Request) {
			w.WriteHeader(http.StatusAccepted)
		},
		wantStatus: http.StatusAccepted,
	}, {
		name: "BodyWithoutStatus",
		handler: func(w http.ResponseWriter, req *http.Request) {
			io.WriteString(w, "hello")
			io.WriteString(w, ", world")
		},
		wantStatus: http.StatusOK,
		wantBytes:  12,
	}, {
		name: "StatusAfterInformational",
		handler: func(w http.ResponseWriter, req *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "gone")
		},
		wantStatus: http.StatusNotFound,
		wantBytes:  4,
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
			srv := httptest.NewServer(logRequests(logger, nil, false, test.handler))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/v2/some/path")
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
			qt.Assert(t, qt.Equals(resp.StatusCode, test.wantStatus))

			var entry struct {
				Msg, Method, Path string
				Status            int
				Bytes             int64
				Duration          *int64
			}
			qt.Assert(t, qt.IsNil(json.Unmarshal(logBuf.Bytes(), &entry)), qt.Commentf("%s", logBuf.Bytes()))
			qt.Check(t, qt.Equals(entry.Msg, "request"))
			qt.Check(t, qt.Equals(entry.Method, "GET"))
			qt.Check(t, qt.Equals(entry.Path, "/v2/some/path"))
			qt.Check(t, qt.Equals(entry.Status, test.wantStatus))
			qt.Check(t, qt.Equals(entry.Bytes, test.wantBytes))
			qt.Check(t, qt.IsNotNil(entry.Duration))
		})
	}
}

// TestLogRequestsClientGone checks that a request whose client went
// away before any answer is logged as 499, not as the 200 that no one
// received.
func TestLogRequestsClientGone(t *testing.T) {
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	reached, logged := make(chan struct{}), make(chan struct{})
	h := logRequests(logger, nil, false, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		close(reached)
		<-req.Context().Done()
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(w, req)
		close(logged)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "DELETE", srv.URL+"/v2/a/manifests/v1", nil)
	qt.Assert(t, qt.IsNil(err))
	go func() {
		<-reached
		cancel()
	}()
	_, err = http.DefaultClient.Do(req)
	qt.Assert(t, qt.ErrorIs(err, context.Canceled))
	<-logged
	qt.Check(t, qt.StringContains(logBuf.String(), `"status":499`))
}

// TestStatusWriterUnwrap checks that flushing reaches the real writer
// through the wrapper, as streaming responses need.
func TestStatusWriterUnwrap(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec}
	qt.Assert(t, qt.IsNil(http.NewResponseController(sw).Flush()))
	qt.Assert(t, qt.IsTrue(rec.Flushed))
}
