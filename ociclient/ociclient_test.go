package ociclient

import (
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

func TestMain(m *testing.M) {
	retryBaseDelay = time.Millisecond
	os.Exit(m.Run())
}

// newClient returns a client of a fresh ociserver over ocimem.
func newClient(t *testing.T) ociregistry.Interface {
	host := ocitest.NewServer(t, ocimem.New())
	c, err := New(host, nil)
	qt.Assert(t, qt.IsNil(err))
	return c
}

func TestSuite(t *testing.T) {
	t.Parallel()
	ocitest.Run(t, ocitest.Suite{New: newClient})
}

// TestSuiteFallbacks runs the suite against a server without the
// referrers API nor single-request uploads, so that the client's
// fallbacks (the referrers tag schema, POST then PUT) do the work.
func TestSuiteFallbacks(t *testing.T) {
	t.Parallel()
	ocitest.Run(t, ocitest.Suite{New: func(t *testing.T) ociregistry.Interface {
		srv := httptest.NewServer(ociserver.New(ocimem.New(), &ociserver.Options{
			DisableReferrersAPI:     true,
			DisableSinglePostUpload: true,
		}))
		t.Cleanup(srv.Close)
		c, err := New(srv.Listener.Addr().String(), nil)
		qt.Assert(t, qt.IsNil(err))
		return c
	}})
}
