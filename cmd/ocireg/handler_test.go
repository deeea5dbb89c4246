package main

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
)

// BenchmarkHandlerManifest measures what the whole server handler
// (request log, metrics, idle timeouts, registry API) costs for a
// manifest HEAD or GET by tag, without the HTTP connection.
func BenchmarkHandlerManifest(b *testing.B) {
	fsReg, err := ocifs.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	stores := []struct {
		name string
		reg  ociregistry.Interface
	}{{"mem", ocimem.New()}, {"fs", fsReg}}
	for _, store := range stores {
		ocitest.PushRandomImage(b, store.reg, "bench/repo", "v1")
	}
	// ocifs caches what it reads of a tag only once the tag file is
	// older than the file system clock's slack (a second); a
	// registry's tags mostly are.
	time.Sleep(time.Second)
	for _, store := range stores {
		logs := newLogBuffer(io.Discard)
		defer logs.Close()
		logger, err := newLogger(logs, "text")
		if err != nil {
			b.Fatal(err)
		}
		h, _ := newHandler(store.reg, nil, nil, nil, logger, newMetrics(), serverLimits{readTimeout: time.Minute, writeTimeout: time.Minute, maxUploads: -1}, false)
		for _, method := range []string{http.MethodHead, http.MethodGet} {
			b.Run(store.name+"/"+method, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req, _ := http.NewRequestWithContext(context.Background(), method, "/v2/bench/repo/manifests/v1", nil)
						req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
						w := &benchWriter{header: http.Header{}}
						h.ServeHTTP(w, req)
						if w.status != http.StatusOK {
							b.Errorf("%s: status %d", method, w.status)
							return
						}
					}
				})
			})
		}
	}
}

// benchWriter is an http.ResponseWriter that keeps only the status, and
// takes deadlines as a connection's writer does.
type benchWriter struct {
	header http.Header
	status int
}

func (w *benchWriter) Header() http.Header { return w.header }

func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}

func (w *benchWriter) SetReadDeadline(time.Time) error  { return nil }
func (w *benchWriter) SetWriteDeadline(time.Time) error { return nil }
