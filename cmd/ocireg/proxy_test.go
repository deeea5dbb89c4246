package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocifs"
)

// TestProxySpoolInDataDir checks that a proxy whose cache is on disk
// spools the blobs it fetches inside its data directory, not in
// $TMPDIR (often memory): with $TMPDIR missing, a blob pulled through
// the proxy still reaches the cache.
func TestProxySpoolInDataDir(t *testing.T) {
	upstream := toolstest.StartOcireg(t, "--mem")
	up, err := ociclient.New("http://"+upstream, nil)
	qt.Assert(t, qt.IsNil(err))
	content := strings.Repeat("spooled ", 1<<14)
	desc := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString(content), Size: int64(len(content))}
	_, err = up.PushBlob(context.Background(), "app", desc, strings.NewReader(content))
	qt.Assert(t, qt.IsNil(err))

	tests := []struct {
		name string
		args func(dir string) []string
	}{{
		name: "upstream-flag",
		args: func(dir string) []string { return []string{"--dir", dir, "--upstream", "http://" + upstream} },
	}, {
		name: "config",
		args: func(dir string) []string {
			file := filepath.Join(t.TempDir(), "proxy.yaml")
			err := os.WriteFile(file, []byte("registry:\n  kind: proxy\n  upstream: {kind: remote, url: http://"+upstream+"}\n  cache: {kind: fs, dir: "+dir+"}\n"), 0o666)
			qt.Assert(t, qt.IsNil(err))
			return []string{"--config", file}
		},
	}}
	toolstest.BuildOcireg(t)
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			dir := t.TempDir()
			args := test.args(dir)
			t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))
			host := toolstest.StartOcireg(t, args...)

			resp, err := http.Get("http://" + host + "/v2/app/blobs/" + desc.Digest.String())
			qt.Assert(t, qt.IsNil(err))
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
			qt.Assert(t, qt.Equals(string(body), content))

			// The fill commits to the cache once it has read the
			// whole blob, which may be just after the response.
			cache, err := ocifs.New(dir, nil)
			qt.Assert(t, qt.IsNil(err))
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err = cache.ResolveBlob(context.Background(), "app", desc.Digest)
				if err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			qt.Check(t, qt.IsNil(err), qt.Commentf("the blob did not reach the cache"))
		})
	}
}

// TestProxyUpstreamErrorsNameTheRequest checks that an error a proxy
// passes on from upstream says which repository and tag it was about,
// and keeps the spec's code and status.
func TestProxyUpstreamErrorsNameTheRequest(t *testing.T) {
	upstream := toolstest.StartOcireg(t, "--mem")
	host := toolstest.StartOcireg(t, "--mem", "--upstream", "http://"+upstream)
	for _, method := range []string{"GET", "HEAD"} {
		req, err := http.NewRequest(method, "http://"+host+"/v2/team/app/manifests/v1", nil)
		qt.Assert(t, qt.IsNil(err))
		resp, err := http.DefaultClient.Do(req)
		qt.Assert(t, qt.IsNil(err))
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.Equals(resp.StatusCode, http.StatusNotFound))
		if method == "GET" {
			qt.Check(t, qt.StringContains(string(body), `"code":"MANIFEST_UNKNOWN"`))
			qt.Check(t, qt.StringContains(string(body), "team/app:v1"))
		}
	}
}
