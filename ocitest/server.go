package ocitest

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociserver"
)

// NewServer serves r over HTTP with ociserver's default options on a
// loopback port, and returns the server's host, such as
// "127.0.0.1:34567", for a client to talk plain HTTP to. The server is
// closed when t's test ends.
func NewServer(t testing.TB, r ociregistry.Interface) string {
	t.Helper()
	srv := httptest.NewServer(ociserver.New(r, nil))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
