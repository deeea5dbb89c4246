package ocis3_test

import (
	"net/http/httptest"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

// TestSuite runs the ocitest suite against the registry over versitygw.
func TestSuite(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ocitest.Run(t, ocitest.Suite{
		New: func(t *testing.T) ociregistry.Interface {
			return g.newRegistry(t, nil)
		},
	})
}

// TestConformance runs the project's spec-conformance tests over HTTP
// against ociserver serving the registry over versitygw.
func TestConformance(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	srv := httptest.NewServer(ociserver.New(g.newRegistry(t, nil), nil))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{})
}
