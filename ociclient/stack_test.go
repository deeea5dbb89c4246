package ociclient

import (
	"net/http/httptest"
	"testing"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

// newStack returns the base URL of ociserver(ociclient(ociserver(
// ocimem))): a registry that forwards everything to another, as a proxy
// built on this package does.
func newStack(t *testing.T, upstream *ociserver.Options) string {
	up := httptest.NewServer(ociserver.New(ocimem.New(), upstream))
	t.Cleanup(up.Close)
	c, err := New(up.Listener.Addr().String(), nil)
	qt.Assert(t, qt.IsNil(err))
	front := httptest.NewServer(ociserver.New(c, nil))
	t.Cleanup(front.Close)
	return front.URL
}

func TestConformanceStacked(t *testing.T) {
	t.Parallel()
	conformance.Run(t, newStack(t, nil), conformance.Options{})
}

func TestConformanceStackedFallbacks(t *testing.T) {
	t.Parallel()
	conformance.Run(t, newStack(t, &ociserver.Options{
		DisableReferrersAPI:     true,
		DisableSinglePostUpload: true,
	}), conformance.Options{})
}

// TestSuiteStacked runs the suite through two clients and two servers,
// so that upload IDs, errors and descriptors survive being passed on.
func TestSuiteStacked(t *testing.T) {
	t.Parallel()
	ocitest.Run(t, ocitest.Suite{New: func(t *testing.T) ociregistry.Interface {
		base := newStack(t, nil)
		c, err := New(base, nil)
		qt.Assert(t, qt.IsNil(err))
		return c
	}})
}
