package ocifs_test

import (
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

// TestServeOverHTTP serves blobs from ocifs through ociserver: whole,
// and in ranges that the reader seeks to.
func TestServeOverHTTP(t *testing.T) {
	r, _ := newRegistry(t)
	data := make([]byte, 8<<20)
	rand.Read(data)
	desc := pushBlob(t, r, "a/b", data)
	host := ocitest.NewServer(t, r)
	url := "http://" + host + "/v2/a/b/blobs/" + string(desc.Digest)

	resp, err := http.Get(url)
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	qt.Assert(t, qt.Equals(digest.FromBytes(got), desc.Digest))

	tests := []struct {
		rng        string
		start, end int
	}{
		{"bytes=0-0", 0, 1},
		{"bytes=100-199", 100, 200},
		{"bytes=8000000-", 8000000, len(data)},
	}
	for _, test := range tests {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Range", test.rng)
		resp, err := http.DefaultClient.Do(req)
		qt.Assert(t, qt.IsNil(err))
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusPartialContent), qt.Commentf("%s", test.rng))
		qt.Assert(t, qt.DeepEquals(got, data[test.start:test.end]), qt.Commentf("%s", test.rng))
	}
}

// TestConformance runs the project's spec-conformance tests over HTTP
// against ociserver serving ocifs.
func TestConformance(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(t)
	srv := httptest.NewServer(ociserver.New(r, nil))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{})
}
