package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/opencontainers/go-digest"
)

// maxPullGrowth bounds how much "ocireg serve --dir" may grow its
// resident memory while it serves a 1 GiB blob: what it holds must not
// depend on the blob's size.
const maxPullGrowth = 32 * mib

// TestServeBigBlobMemory pushes a 1 GiB blob to "ocireg serve --dir" and
// pulls it back whole, checking its digest, and fails when the server's
// peak resident memory (VmHWM) during the pull exceeds its resident size
// before the pull by maxPullGrowth or more. The growth during the push is
// logged. Unlike BenchmarkPullBlob1GiB it needs only ocireg, so it runs
// under a plain go test (but not with -short).
func TestServeBigBlobMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes and pulls 1 GiB")
	}
	dir := t.TempDir()
	// Built by toolstest without -race, so that what is measured is
	// ocireg as users run it.
	cmd := exec.Command(toolstest.BuildOcireg(t), "serve", "--addr", "127.0.0.1:0", "--dir", dir+"/data")
	s, err := startPrinting("ocireg", cmd, dir)
	qt.Assert(t, qt.IsNil(err))
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stopping ocireg: %v", err)
		}
	})

	// The blob is generated as it is sent, twice: once for its digest,
	// which the monolithic push names up front, and once to push.
	h := sha256.New()
	_, err = io.Copy(h, newBigReader(bigSize))
	qt.Assert(t, qt.IsNil(err))
	dgst := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))

	before, peak := measure(t, s, func() error {
		return pushBlob(s.host, pullRepo, dgst, bigSize, newBigReader(bigSize))
	})
	t.Logf("push of 1 GiB: resident %.1f MiB before, peak growth %.1f MiB", float64(before)/mib, float64(peak-before)/mib)

	url := "http://" + s.host + "/v2/" + pullRepo + "/blobs/" + dgst.String()
	before, peak = measure(t, s, func() error { return pullVerified(url, bigSize, dgst) })
	growth := peak - before
	t.Logf("pull of 1 GiB: resident %.1f MiB before, peak growth %.1f MiB", float64(before)/mib, float64(growth)/mib)
	qt.Assert(t, qt.IsTrue(growth < maxPullGrowth), qt.Commentf("resident memory grew by %.1f MiB serving a 1 GiB blob; want under %d MiB", float64(growth)/mib, maxPullGrowth/mib))
}

// measure runs f and returns the server's resident size before f and
// its peak resident size while f ran.
func measure(t *testing.T, s *server, f func() error) (before, peak int64) {
	t.Helper()
	// Let the garbage of what came before go, so that it does not
	// count against f.
	time.Sleep(100 * time.Millisecond)
	qt.Assert(t, qt.IsNil(s.resetPeak()))
	before, _, err := s.memory()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(f()))
	_, peak, err = s.memory()
	qt.Assert(t, qt.IsNil(err))
	return before, peak
}

// pullVerified GETs url and checks that it answers 200 with size bytes
// whose digest is dgst.
func pullVerified(url string, size int64, dgst digest.Digest) error {
	v := dgst.Verifier()
	if err := pullTo(v, url, size); err != nil {
		return err
	}
	if !v.Verified() {
		return fmt.Errorf("GET %s: content does not have digest %s", url, dgst)
	}
	return nil
}

// bigReader generates a blob of n bytes without holding it in memory: a
// random block repeated, each copy starting with its index so that no
// two blocks are alike. Copying a block costs far less than generating
// random bytes, which keeps the test quick under -race.
type bigReader struct {
	block []byte
	off   int64 // bytes read so far
	n     int64
}

const bigBlockSize = 1 << 20

func newBigReader(n int64) *bigReader {
	return &bigReader{block: randomBytes(5, bigBlockSize), n: n}
}

func (r *bigReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	total := 0
	for len(p) > 0 {
		in := int(r.off % bigBlockSize)
		if in == 0 {
			binary.BigEndian.PutUint64(r.block, uint64(r.off/bigBlockSize))
		}
		c := copy(p, r.block[in:])
		p = p[c:]
		r.off += int64(c)
		total += c
	}
	return total, nil
}

// TestServeMemHolds pushes 256 MiB of blobs to "ocireg serve --mem",
// deletes them and pushes 256 MiB more, and fails when the server's
// resident memory then exceeds, beyond its size at start, 1.2 times what
// it holds plus 32 MiB: content is kept once, and what was deleted does
// not linger.
func TestServeMemHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 512 MiB")
	}
	dir := t.TempDir()
	cmd := exec.Command(toolstest.BuildOcireg(t), "serve", "--addr", "127.0.0.1:0", "--mem")
	cmd.Env = withoutGOGC(os.Environ())
	s, err := startPrinting("ocireg", cmd, dir)
	qt.Assert(t, qt.IsNil(err))
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stopping ocireg: %v", err)
		}
	})
	base, _, err := s.memory()
	qt.Assert(t, qt.IsNil(err))
	const blobs, size = 4, 64 * mib
	for round := range 2 {
		var dgsts []digest.Digest
		for i := range blobs {
			data := randomBytes(uint64(100+round*blobs+i), size)
			d := digest.FromBytes(data)
			qt.Assert(t, qt.IsNil(pushBlob(s.host, pushRepo, d, size, bytes.NewReader(data))))
			dgsts = append(dgsts, d)
		}
		if round > 0 {
			break
		}
		for _, d := range dgsts {
			qt.Assert(t, qt.IsNil(deleteBlob(s.host, pushRepo, d)))
		}
	}
	rss, _, err := s.memory()
	qt.Assert(t, qt.IsNil(err))
	held := float64(blobs * size)
	t.Logf("resident %.1f MiB at start, %.1f MiB holding %.0f MiB", float64(base)/mib, float64(rss)/mib, held/mib)
	limit := 1.2*held + 32*mib
	qt.Assert(t, qt.IsTrue(float64(rss-base) <= limit), qt.Commentf("resident memory grew by %.1f MiB holding %.0f MiB; want at most %.1f MiB", float64(rss-base)/mib, held/mib, limit/mib))
}

// withoutGOGC returns env without GOGC, so that the server runs with the
// collector's settings it chooses.
func withoutGOGC(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "GOGC=") {
			out = append(out, kv)
		}
	}
	return out
}
