package ociproxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociproxy"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

// pull reads the blob dg through p whole and checks it against data
// and its digest.
func pull(ctx context.Context, p ociregistry.Interface, dg ociregistry.Digest, data []byte) error {
	rd, err := p.GetBlob(ctx, "a/b", dg)
	if err != nil {
		return err
	}
	defer rd.Close()
	got, err := io.ReadAll(rd)
	switch {
	case err != nil:
		return err
	case ocitest.Digest(got) != dg || !bytes.Equal(got, data):
		return errors.New("wrong content")
	}
	return nil
}

// pullConcurrently pulls the blob dg through p n times at once, as pull
// does, and returns the errors.
func pullConcurrently(ctx context.Context, p ociregistry.Interface, dg ociregistry.Digest, data []byte, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = pull(ctx, p, dg, data) })
	}
	wg.Wait()
	return errs
}

// openStalled opens the blob dg through p, reads a little of it and
// returns the reader, which the caller holds without reading more.
func openStalled(t *testing.T, p ociregistry.Interface, dg ociregistry.Digest, data []byte) ociregistry.BlobReader {
	t.Helper()
	rd, err := p.GetBlob(t.Context(), "a/b", dg)
	qt.Assert(t, qt.IsNil(err))
	buf := make([]byte, 1000)
	_, err = io.ReadFull(rd, buf)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(buf, data[:len(buf)]))
	return rd
}

// stallingUpstream returns an upstream over mem, counting calls, whose
// first GetBlob answers a reader that sends n bytes and then nothing
// until gate is closed or its context ends.
func stallingUpstream(mem ociregistry.Interface, calls *counter, n int, gate chan struct{}) *ociregistry.Funcs {
	up := counting(mem, calls)
	upGetBlob := up.GetBlob_
	var gated atomic.Bool
	up.GetBlob_ = func(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
		rd, err := upGetBlob(ctx, repo, dg)
		if err != nil || gated.Swap(true) {
			return rd, err
		}
		return &gatedReader{BlobReader: rd, ctx: ctx, n: n, gate: gate}, nil
	}
	return up
}

// gatedReader reads n bytes, then waits for gate to be closed or ctx to
// end, as a reader of an HTTP response does.
type gatedReader struct {
	ociregistry.BlobReader
	ctx  context.Context
	n    int
	gate chan struct{}
}

func (r *gatedReader) Read(buf []byte) (int, error) {
	if r.n <= 0 {
		select {
		case <-r.gate:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
		return r.BlobReader.Read(buf)
	}
	if len(buf) > r.n {
		buf = buf[:r.n]
	}
	n, err := r.BlobReader.Read(buf)
	r.n -= n
	return n, err
}

// assertNoSpool checks that dir holds no spool file.
func assertNoSpool(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(entries, 0))
}

// TestSlowReaderHoldsUpNoOne checks that a caller that opens a blob
// first and then stops reading it neither stops the fill nor holds up
// the callers that come after it: they read the blob at once, fetched
// from upstream once, and it is cached. The slow caller then reads the
// rest from the cache.
func TestSlowReaderHoldsUpNoOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := ocimem.New()
		data := randomBlob(1 << 20)
		dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
		var calls counter
		cache := newCache()
		tmp := t.TempDir()
		p := ociproxy.New(counting(mem, &calls), cache, &ociproxy.Options{TempDir: tmp})
		slow := openStalled(t, p, dg, data)

		start := time.Now()
		for _, err := range pullConcurrently(t.Context(), p, dg, data, 20) {
			qt.Assert(t, qt.IsNil(err))
		}
		// The clock is synctest's: nobody waited for a timeout.
		qt.Assert(t, qt.Equals(time.Since(start), 0))
		qt.Assert(t, qt.Equals(calls.get("GetBlob"), 1))
		synctest.Wait()
		_, err := cache.ResolveBlob(t.Context(), "a/b", dg)
		qt.Assert(t, qt.IsNil(err))

		// The slow caller reads on, from the cache: the spool file
		// is gone once it has moved there.
		buf := make([]byte, 1000)
		_, err = io.ReadFull(slow, buf)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(buf, data[1000:2000]))
		assertNoSpool(t, tmp)
		rest, err := io.ReadAll(slow)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsTrue(bytes.Equal(rest, data[2000:])))
		qt.Assert(t, qt.IsNil(slow.Close()))
		underWay, spooled := ociproxy.Fills(p)
		qt.Assert(t, qt.Equals(underWay, 0))
		qt.Assert(t, qt.Equals(spooled, 0))
	})
}

// TestStalledUpstream checks that a fill whose upstream stops sending
// fails after FillStallTimeout, with every read waiting for it, that
// nothing is cached, and that the next pull fetches again.
func TestStalledUpstream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := ocimem.New()
		data := randomBlob(256 << 10)
		dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
		var calls counter
		var logs toolstest.Buffer
		cache := newCache()
		tmp := t.TempDir()
		const timeout = 100 * time.Millisecond
		p := ociproxy.New(stallingUpstream(mem, &calls, 64<<10, make(chan struct{})), cache, &ociproxy.Options{
			FillStallTimeout: timeout,
			TempDir:          tmp,
			Logger:           slog.New(slog.NewTextHandler(&logs, nil)),
		})
		start := time.Now()
		for _, err := range pullConcurrently(t.Context(), p, dg, data, 10) {
			qt.Assert(t, qt.ErrorMatches(err, `ociproxy: upstream sent nothing of blob .* for 100ms .*`))
		}
		qt.Assert(t, qt.Equals(time.Since(start), timeout))
		qt.Assert(t, qt.StringContains(logs.String(), "blob fetch failed"))
		_, err := cache.ResolveBlob(t.Context(), "a/b", dg)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
		assertNoSpool(t, tmp)

		qt.Assert(t, qt.IsNil(pull(t.Context(), p, dg, data)))
		qt.Assert(t, qt.Equals(calls.get("GetBlob"), 2))
		_, err = cache.ResolveBlob(t.Context(), "a/b", dg)
		qt.Assert(t, qt.IsNil(err))
	})
}

// TestSlowUpstreamNotStalled checks that a fill whose upstream is slow,
// but sends some of the blob more often than FillStallTimeout, goes on
// however long it takes in all.
func TestSlowUpstreamNotStalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := ocimem.New()
		data := randomBlob(256 << 10)
		dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
		var calls counter
		var logs toolstest.Buffer
		cache := newCache()
		const timeout = 100 * time.Millisecond
		up := counting(mem, &calls)
		upGetBlob := up.GetBlob_
		up.GetBlob_ = func(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
			rd, err := upGetBlob(ctx, repo, dg)
			if err != nil {
				return nil, err
			}
			// 8 chunks, one every 60ms: 480ms in all.
			return &slowReader{BlobReader: rd, chunk: len(data) / 8, pause: 60 * time.Millisecond}, nil
		}
		p := ociproxy.New(up, cache, &ociproxy.Options{
			FillStallTimeout: timeout,
			Logger:           slog.New(slog.NewTextHandler(&logs, nil)),
		})
		start := time.Now()
		for _, err := range pullConcurrently(t.Context(), p, dg, data, 20) {
			qt.Assert(t, qt.IsNil(err))
		}
		qt.Assert(t, qt.IsTrue(time.Since(start) > 4*timeout))
		qt.Assert(t, qt.Equals(calls.get("GetBlob"), 1))
		qt.Assert(t, qt.Equals(logs.String(), ""))
		_, err := cache.ResolveBlob(t.Context(), "a/b", dg)
		qt.Assert(t, qt.IsNil(err))
	})
}

// slowReader reads chunk bytes at a time, after a pause before each.
type slowReader struct {
	ociregistry.BlobReader
	chunk int
	pause time.Duration
}

func (r *slowReader) Read(buf []byte) (int, error) {
	time.Sleep(r.pause)
	return r.BlobReader.Read(buf[:min(len(buf), r.chunk)])
}

// TestFillStallTimeoutSettings checks that a zero FillStallTimeout
// means DefaultFillStallTimeout, and that with a negative one a fill
// waits for upstream for ever, while a reader waiting for it stops when
// its context ends.
func TestFillStallTimeoutSettings(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			mem := ocimem.New()
			data := randomBlob(64 << 10)
			dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
			var calls counter
			p := ociproxy.New(stallingUpstream(mem, &calls, 1000, make(chan struct{})), newCache(), nil)
			start := time.Now()
			qt.Assert(t, qt.IsNotNil(pull(t.Context(), p, dg, data)))
			qt.Assert(t, qt.Equals(time.Since(start), ociproxy.DefaultFillStallTimeout))
		})
	})
	t.Run("Negative", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			mem := ocimem.New()
			data := randomBlob(64 << 10)
			dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
			var calls counter
			gate := make(chan struct{})
			cache := newCache()
			p := ociproxy.New(stallingUpstream(mem, &calls, 1000, gate), cache, &ociproxy.Options{FillStallTimeout: -1})
			ctx, cancel := context.WithCancel(t.Context())
			var pullErr error
			var wg sync.WaitGroup
			wg.Go(func() { pullErr = pull(ctx, p, dg, data) })
			time.Sleep(time.Hour)
			synctest.Wait()
			underWay, _ := ociproxy.Fills(p)
			qt.Assert(t, qt.Equals(underWay, 1))
			// The reader stops waiting when its context ends.
			cancel()
			wg.Wait()
			qt.Assert(t, qt.ErrorIs(pullErr, context.Canceled))
			// The fill goes on, and ends once upstream sends.
			close(gate)
			synctest.Wait()
			underWay, spooled := ociproxy.Fills(p)
			qt.Assert(t, qt.Equals(underWay, 0))
			qt.Assert(t, qt.Equals(spooled, 0))
			_, err := cache.ResolveBlob(t.Context(), "a/b", dg)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(calls.get("GetBlob"), 1))
		})
	})
}

// TestCallerStopsHalfWay checks that a caller that closes a blob half
// way does not stop its fill: the blob is cached all the same, and the
// next pull reads it from the cache.
func TestCallerStopsHalfWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := ocimem.New()
		data := randomBlob(256 << 10)
		dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
		var calls counter
		gate := make(chan struct{})
		cache := &recordingCache{Registry: newCache()}
		p := ociproxy.New(stallingUpstream(mem, &calls, 64<<10, gate), cache, nil)

		rd, err := p.GetBlob(t.Context(), "a/b", dg)
		qt.Assert(t, qt.IsNil(err))
		half := make([]byte, 32<<10)
		_, err = io.ReadFull(rd, half)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsTrue(bytes.Equal(half, data[:len(half)])))
		qt.Assert(t, qt.IsNil(rd.Close()))
		close(gate)
		synctest.Wait()
		qt.Assert(t, qt.Equals(cache.commits.Load(), int32(1)))
		qt.Assert(t, qt.IsNil(pull(t.Context(), p, dg, data)))
		qt.Assert(t, qt.Equals(calls.get("GetBlob"), 1))
	})
}

// TestClientDisconnectsOverHTTP checks that an HTTP client that hangs
// up half way through a blob does not stop its fill: the blob is cached
// all the same.
func TestClientDisconnectsOverHTTP(t *testing.T) {
	mem := ocimem.New()
	data := randomBlob(4 << 20)
	dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
	var calls counter
	// Upstream holds back all but the start of the blob until the
	// client has gone.
	gate := make(chan struct{})
	cache := newCache()
	p := ociproxy.New(stallingUpstream(mem, &calls, 64<<10, gate), cache, nil)
	srv := httptest.NewServer(ociserver.New(p, nil))
	t.Cleanup(srv.Close)

	resp, err := srv.Client().Get(srv.URL + "/v2/a/b/blobs/" + string(dg))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	_, err = io.ReadFull(resp.Body, make([]byte, 32<<10))
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	srv.CloseClientConnections()
	close(gate)

	waitFills(t, p)
	qt.Assert(t, qt.IsNil(pull(t.Context(), p, dg, data)))
	qt.Assert(t, qt.Equals(calls.get("GetBlob"), 1))
	_, err = cache.ResolveBlob(t.Context(), "a/b", dg)
	qt.Assert(t, qt.IsNil(err))
}

// waitFills waits until the proxy p has no fill under way or holding a
// spool file, failing the test when that takes more than 10s.
func waitFills(t *testing.T, p ociregistry.Interface) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		underWay, spooled := ociproxy.Fills(p)
		if underWay == 0 && spooled == 0 {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("fills under way: %d, holding spool files: %d", underWay, spooled)
		}
	}
}

// TestSlowAndFastReaderOverHTTP is a hostile-client test: a client that
// asks for a blob through a server over the proxy first, then reads it
// slowly (here: not at all, with a small receive buffer), does not hold
// up a client that asks for the same blob after it. The fast client
// reads the whole blob while the slow one has read a few bytes; then
// the slow one reads the rest, and both get the right content.
func TestSlowAndFastReaderOverHTTP(t *testing.T) {
	mem := ocimem.New()
	data := randomBlob(16 << 20)
	dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
	var calls counter
	cache := newCache()
	// Fills wait for upstream for ever, so that a fill held up by a
	// reader would show as a fast reader that never finishes.
	p := ociproxy.New(counting(mem, &calls), cache, &ociproxy.Options{FillStallTimeout: -1})
	srv := httptest.NewServer(ociserver.New(p, nil))
	t.Cleanup(srv.Close)
	url := srv.URL + "/v2/a/b/blobs/" + string(dg)

	slowClient := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				// Keep what the server can push ahead of the
				// reader small.
				err = conn.(*net.TCPConn).SetReadBuffer(64 << 10)
			}
			return conn, err
		},
	}}
	defer slowClient.CloseIdleConnections()
	slow, err := slowClient.Get(url)
	qt.Assert(t, qt.IsNil(err))
	defer slow.Body.Close()
	qt.Assert(t, qt.Equals(slow.StatusCode, http.StatusOK))
	slowGot := make([]byte, 100)
	_, err = io.ReadFull(slow.Body, slowGot)
	qt.Assert(t, qt.IsNil(err))

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	qt.Assert(t, qt.IsNil(err))
	fast, err := srv.Client().Do(req)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("the fast client waited for the slow one"))
	fastGot, err := io.ReadAll(fast.Body)
	fast.Body.Close()
	qt.Assert(t, qt.IsNil(err), qt.Commentf("the fast client waited for the slow one"))
	qt.Assert(t, qt.Equals(ocitest.Digest(fastGot), dg))

	rest, err := io.ReadAll(slow.Body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(ocitest.Digest(append(slowGot, rest...)), dg))
	qt.Assert(t, qt.Equals(calls.get("GetBlob"), 1))
	_, err = cache.ResolveBlob(t.Context(), "a/b", dg)
	qt.Assert(t, qt.IsNil(err))
	waitFills(t, p)
}

// TestMaxFills checks that no more than MaxFills fills hold spool files
// at once: a blob asked for beyond that is read from upstream, verified
// but not cached.
func TestMaxFills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := ocimem.New()
		data1 := randomBlob(64 << 10)
		data2 := randomBlob(64<<10 + 1)
		dg1 := ocitest.PushBlob(t, mem, "a/b", data1).Digest
		dg2 := ocitest.PushBlob(t, mem, "a/b", data2).Digest
		var calls counter
		var logs toolstest.Buffer
		gate := make(chan struct{})
		cache := newCache()
		p := ociproxy.New(stallingUpstream(mem, &calls, 1000, gate), cache, &ociproxy.Options{
			MaxFills: 1,
			Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
		})
		held := openStalled(t, p, dg1, data1)
		qt.Assert(t, qt.IsNil(pull(t.Context(), p, dg2, data2)))
		qt.Assert(t, qt.StringContains(logs.String(), "too many blob fetches under way"))
		_, err := cache.ResolveBlob(t.Context(), "a/b", dg2)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))

		close(gate)
		synctest.Wait()
		qt.Assert(t, qt.IsNil(held.Close()))
		// The slot is free again: the next blob is cached.
		qt.Assert(t, qt.IsNil(pull(t.Context(), p, dg2, data2)))
		_, err = cache.ResolveBlob(t.Context(), "a/b", dg2)
		qt.Assert(t, qt.IsNil(err))
	})
}

// staleCache is a cache whose first GetBlob in a context marked with
// staleKey answers "unknown", as a cache asked just before a fill
// committed the blob would.
type staleCache struct {
	*ocimem.Registry
	answered atomic.Bool
}

type staleKey struct{}

func (c *staleCache) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if ctx.Value(staleKey{}) != nil && !c.answered.Swap(true) {
		return nil, ociregistry.ErrBlobUnknown
	}
	return c.Registry.GetBlob(ctx, repo, dg)
}

// TestFillAfterCommit checks that a caller that missed the cache just
// before a fill committed the blob, and then found that fill gone,
// reads the blob from the cache rather than fetch it again.
func TestFillAfterCommit(t *testing.T) {
	mem := ocimem.New()
	data := randomBlob(64 << 10)
	dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
	var calls counter
	p := ociproxy.New(counting(mem, &calls), &staleCache{Registry: newCache()}, nil)
	qt.Assert(t, qt.IsNil(pull(t.Context(), p, dg, data)))
	waitFills(t, p)
	qt.Assert(t, qt.IsNil(pull(context.WithValue(t.Context(), staleKey{}, true), p, dg, data)))
	qt.Assert(t, qt.Equals(calls.get("GetBlob"), 1))
}
