package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/opencontainers/go-digest"
)

// maxS3Growth bounds how much a replica's resident memory may grow while
// it streams a blob many times bigger to or from S3: its two 8 MiB part
// buffers and what the SDK and net/http hold.
const maxS3Growth = 48 << 20

// TestServeS3Memory pushes a 160 MiB blob in one request through
// "ocireg serve" over S3 and pulls it back, and fails when the replica's
// peak resident memory grows by maxS3Growth or more during either: the
// blob streams through, it is never held.
func TestServeS3Memory(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes and pulls 160 MiB")
	}
	config := toolstest.S3Config(t)
	host, proc := toolstest.StartOciregToKill(t, "--config", config)
	const size = 160 << 20
	newBlob := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{1}), size) }
	h := sha256.New()
	io.Copy(h, newBlob())
	d := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))

	growth := func(f func()) int64 {
		time.Sleep(100 * time.Millisecond)
		qt.Assert(t, qt.IsNil(os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", proc.PID()), []byte("5"), 0)))
		before, _ := procMemory(t, proc.PID())
		f()
		_, peak := procMemory(t, proc.PID())
		return peak - before
	}
	push := growth(func() {
		req, err := http.NewRequest("POST", "http://"+host+"/v2/mem/blobs/uploads/?digest="+string(d), newBlob())
		qt.Assert(t, qt.IsNil(err))
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		qt.Assert(t, qt.IsNil(err))
		resp.Body.Close()
		qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusCreated))
	})
	pull := growth(func() {
		resp, err := http.Get("http://" + host + "/v2/mem/blobs/" + string(d))
		qt.Assert(t, qt.IsNil(err))
		defer resp.Body.Close()
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(n, int64(size)))
		qt.Assert(t, qt.Equals(digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil)), d))
	})
	t.Logf("160 MiB through one replica: resident memory grew by %.1f MiB pushing, %.1f MiB pulling", float64(push)/(1<<20), float64(pull)/(1<<20))
	qt.Check(t, qt.IsTrue(push < maxS3Growth), qt.Commentf("push grew %d bytes", push))
	qt.Check(t, qt.IsTrue(pull < maxS3Growth), qt.Commentf("pull grew %d bytes", pull))
}

// procMemory returns a process's resident set size and its peak since
// the last reset, in bytes.
func procMemory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	qt.Assert(t, qt.IsNil(err))
	for line := range strings.Lines(string(data)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		qt.Assert(t, qt.IsNil(err))
		if key == "VmRSS" {
			rss = kib << 10
		} else {
			peak = kib << 10
		}
	}
	return rss, peak
}
