package ocitest_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestOCIMem(t *testing.T) {
	ocitest.Run(t, ocitest.Suite{
		New: func(t *testing.T) ociregistry.Interface { return ocimem.New() },
	})
}

func TestNewServer(t *testing.T) {
	r := ocimem.New()
	host := ocitest.NewServer(t, r)
	p := ocitest.PushRandomImage(t, r, "foo/bar", "latest")

	req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+host+"/v2/foo/bar/manifests/latest", nil)
	qt.Assert(t, qt.IsNil(err))
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	qt.Assert(t, qt.Equals(resp.Header.Get("Content-Type"), ocispec.MediaTypeImageManifest))
	qt.Assert(t, qt.Equals(resp.Header.Get("Docker-Content-Digest"), string(p.Manifest.Digest)))
	qt.Assert(t, qt.DeepEquals(body, p.Content))

	// The layers are served too.
	layer := p.Blobs[1]
	resp, err = http.Get("http://" + host + "/v2/foo/bar/blobs/" + string(layer.Digest))
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	qt.Assert(t, qt.DeepEquals(body, p.BlobContent[layer.Digest]))
}
