package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/opencontainers/go-digest"
)

// startS3Replicas starts versitygw and n "ocireg serve" processes over
// its bucket, from one config file of kind s3, behind a round-robin
// balancer, and returns the balancer's host. Credentials reach the
// replicas through the environment, as the standard AWS chain reads
// them.
func startS3Replicas(t *testing.T, n int) string {
	v := toolstest.StartVersitygw(t)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", v.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", v.SecretKey)
	// Nothing of the user's AWS setup may leak in.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "nosuch-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "nosuch-credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	config := filepath.Join(dir, "config.yaml")
	err := os.WriteFile(config, fmt.Appendf(nil, `addr: 127.0.0.1:5000
registry:
  kind: s3
  bucket: %s
  prefix: ocireg/
  endpoint: %s
  region: %s
  pathStyle: true
`, v.Bucket, v.Endpoint, v.Region), 0o666)
	qt.Assert(t, qt.IsNil(err))
	hosts := make([]string, n)
	for i := range hosts {
		// --addr overrides the config's addr, so replicas share it.
		hosts[i] = toolstest.StartOcireg(t, "--config", config)
	}
	return toolstest.RoundRobin(t, hosts...)
}

// TestServeS3Replicas runs the spec-conformance tests through a
// round-robin balancer over three replicas serving one bucket, so that
// consecutive requests of every flow (each PATCH of a chunked upload,
// a push and the pull after it) go to different replicas.
func TestServeS3Replicas(t *testing.T) {
	lb := startS3Replicas(t, 3)
	conformance.Run(t, "http://"+lb, conformance.Options{})
}

// TestServeS3ChunkedAcrossReplicas sends the chunks of one upload to
// three replicas in turn and pulls the blob back through another.
func TestServeS3ChunkedAcrossReplicas(t *testing.T) {
	lb := startS3Replicas(t, 3)
	base := "http://" + lb
	data := make([]byte, 7<<20)
	rand.Read(data)
	do := func(method, url string, body []byte) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		qt.Assert(t, qt.IsNil(err))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		qt.Assert(t, qt.IsNil(err))
		t.Cleanup(func() { resp.Body.Close() })
		qt.Assert(t, qt.IsTrue(resp.StatusCode < 300), qt.Commentf("%s %s: %s", method, url, resp.Status))
		return resp
	}
	loc := do("POST", base+"/v2/chunks/blobs/uploads/", nil).Header.Get("Location")
	const chunk = 1 << 20
	for off := 0; off < len(data); off += chunk {
		resp := do("PATCH", base+loc, data[off:off+chunk])
		loc = resp.Header.Get("Location")
		qt.Assert(t, qt.Equals(resp.Header.Get("Range"), fmt.Sprintf("0-%d", off+chunk-1)))
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	d := digest.FromBytes(data)
	do("PUT", base+loc+sep+"digest="+string(d), nil)
	resp := do("GET", base+"/v2/chunks/blobs/"+string(d), nil)
	got, err := io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(got, data)))
}
