package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

// startS3Replicas starts n "ocireg serve" processes over one versitygw
// bucket, from one config file of kind s3 (see toolstest.S3Config),
// behind a round-robin balancer, and returns the balancer's host and the
// config file.
func startS3Replicas(t *testing.T, n int) (lb, config string) {
	config = toolstest.S3Config(t)
	hosts := make([]string, n)
	for i := range hosts {
		// --addr overrides the config's addr, so replicas share it.
		hosts[i] = toolstest.StartOcireg(t, "--config", config)
	}
	return toolstest.StartBalancer(t, hosts...).Host, config
}

// TestServeS3ChunkedAcrossReplicas sends the chunks of one upload to
// three replicas in turn and pulls the blob back through another.
func TestServeS3ChunkedAcrossReplicas(t *testing.T) {
	lb, _ := startS3Replicas(t, 3)
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

// TestGCConfigS3 runs "ocireg gc --config" on the config that replicas
// serve: a blob that no manifest refers to goes once older than the
// grace period, one that a manifest refers to stays.
func TestGCConfigS3(t *testing.T) {
	lb, config := startS3Replicas(t, 2)
	r, err := ociclient.New("http://"+lb, nil)
	qt.Assert(t, qt.IsNil(err))
	img := ocitest.PushRandomImage(t, r, "gc/kept", "v1")
	orphan := ocitest.PushBlob(t, r, "gc/orphan", []byte("nothing refers to me"))

	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"gc", "--config", config, "--dry-run"}, &stdout, &stderr)
	qt.Assert(t, qt.Equals(code, exitOK), qt.Commentf("%s", &stderr))
	qt.Assert(t, qt.Equals(stdout.String(), "would delete 0 blobs (0 B), 0 blob links, 0 stale uploads\n"))

	// The collector allows the bucket's clock five seconds of slack.
	time.Sleep(6 * time.Second)
	stdout.Reset()
	code = run(context.Background(), []string{"gc", "--config", config, "--grace", "100ms"}, &stdout, &stderr)
	qt.Assert(t, qt.Equals(code, exitOK), qt.Commentf("%s", &stderr))
	qt.Assert(t, qt.Equals(stdout.String(), "deleted blob "+string(orphan.Digest)+"\ndeleted 1 blobs (20 B), 1 blob links, 0 stale uploads\n"))
	_, err = r.ResolveBlob(context.Background(), "gc/orphan", orphan.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	for _, b := range img.Blobs {
		_, err := r.ResolveBlob(context.Background(), "gc/kept", b.Digest)
		qt.Assert(t, qt.IsNil(err))
	}

	// A config without an s3 registry has nothing for gc --config.
	mem := filepath.Join(t.TempDir(), "mem.yaml")
	qt.Assert(t, qt.IsNil(os.WriteFile(mem, []byte("registry: {kind: mem}\n"), 0o666)))
	stderr.Reset()
	code = run(context.Background(), []string{"gc", "--config", mem}, &stdout, &stderr)
	qt.Assert(t, qt.Equals(code, exitUsage))
	qt.Assert(t, qt.StringContains(stderr.String(), "has no registry of kind s3"))
}

// TestServeS3KilledMidPush kills a replica with SIGKILL while a chunk
// streams into it: what it acknowledged is there for another replica,
// which carries the upload on to the end; an image pushed through the
// killed replica before stays whole.
func TestServeS3KilledMidPush(t *testing.T) {
	config := toolstest.S3Config(t)
	a, procA := toolstest.StartOciregToKill(t, "--config", config)
	b := toolstest.StartOcireg(t, "--config", config)
	ra, err := ociclient.New("http://"+a, nil)
	qt.Assert(t, qt.IsNil(err))
	img := ocitest.PushRandomImage(t, ra, "killed/img", "v1")

	data := make([]byte, 6<<20)
	rand.Read(data)
	first, second := data[:2<<20], data[2<<20:]
	do := func(method, url string, body io.Reader) (*http.Response, error) {
		req, err := http.NewRequest(method, url, body)
		qt.Assert(t, qt.IsNil(err))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := do("POST", "http://"+a+"/v2/killed/blobs/uploads/", nil)
	qt.Assert(t, qt.IsNil(err))
	loc := resp.Header.Get("Location")
	resp, err = do("PATCH", "http://"+a+loc, bytes.NewReader(first))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusAccepted))
	loc = resp.Header.Get("Location")

	// The next chunk streams in; A dies half-way through it.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := do("PATCH", "http://"+a+loc, pr)
		done <- err
	}()
	_, err = pw.Write(second[:1<<20])
	qt.Assert(t, qt.IsNil(err))
	procA.Kill()
	pw.CloseWithError(errors.New("replica killed"))
	<-done

	resp, err = do("GET", "http://"+b+loc, nil)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusNoContent))
	qt.Assert(t, qt.Equals(resp.Header.Get("Range"), fmt.Sprintf("0-%d", len(first)-1)))
	resp, err = do("PATCH", "http://"+b+loc, bytes.NewReader(second))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusAccepted))
	loc = resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	d := digest.FromBytes(data)
	resp, err = do("PUT", "http://"+b+loc+sep+"digest="+string(d), nil)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusCreated))

	rb, err := ociclient.New("http://"+b, nil)
	qt.Assert(t, qt.IsNil(err))
	rd, err := rb.GetBlob(context.Background(), "killed", d)
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(rd)
	rd.Close()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(got, data)))
	desc, err := rb.ResolveTag(context.Background(), "killed/img", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, img.Manifest.Digest))
}
