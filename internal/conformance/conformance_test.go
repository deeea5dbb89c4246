package conformance_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
)

// TestServer runs the whole suite against the server over the in-memory
// registry, with the default options of both.
func TestServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ociserver.New(ocimem.New(), nil))
	t.Cleanup(srv.Close)
	// MaxManifestSize stays zero: probing the 4 MiB limit means two
	// manifests of 4 MiB, slow under the race detector;
	// TestServerOptions probes a small limit instead.
	conformance.Run(t, srv.URL, conformance.Options{})
}

// TestServerSeeded runs the read-only part of the suite the way a
// pull-through proxy is tested: content goes straight into the backend
// and is read through the server.
func TestServerSeeded(t *testing.T) {
	t.Parallel()
	r := ocimem.New()
	srv := httptest.NewServer(ociserver.New(r, nil))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{
		PullOnly: true,
		Seed:     r,
	})
}

// TestServerOptions runs the suite against a server with a small
// manifest limit and without single-POST uploads, with the options that
// describe them.
func TestServerOptions(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	srv := httptest.NewServer(ociserver.New(ocimem.New(), &ociserver.Options{
		MaxManifestSize:         limit,
		DisableSinglePostUpload: true,
	}))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{
		Namespace:               "other/namespace",
		CrossMountNamespace:     "other/source",
		MaxManifestSize:         limit,
		AllowSinglePostFallback: true,
		SkipSHA512:              true,
	})
}

// TestServerWithoutReferrers runs the suite against a server without the
// referrers API, as for a registry of distribution spec 1.0.
func TestServerWithoutReferrers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ociserver.New(ocimem.New(), &ociserver.Options{DisableReferrersAPI: true}))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{
		SkipReferrers: true,
		SkipSHA512:    true,
	})
}

// noTagDelete is a registry that refuses to delete tags, as the
// specification allows.
type noTagDelete struct{ *ocimem.Registry }

func (noTagDelete) DeleteTag(ctx context.Context, repo, tag string) error {
	return fmt.Errorf("tags are kept here: %w", ociregistry.ErrUnsupported)
}

// TestServerWithoutTagDelete runs the suite against a server that
// refuses tag deletes, with the option that declares it.
func TestServerWithoutTagDelete(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ociserver.New(noTagDelete{ocimem.New()}, nil))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{
		TagDeleteUnsupported: true,
		SkipSHA512:           true,
	})
}
