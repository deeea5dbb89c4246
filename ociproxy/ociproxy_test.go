package ociproxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociproxy"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

// newCache returns a cache registry as ociproxy wants it.
func newCache() *ocimem.Registry {
	return ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
}

// TestSuite runs the suite against a proxy that writes to its cache,
// over an empty upstream: the suite's content all lives in the cache.
func TestSuite(t *testing.T) {
	ocitest.Run(t, ocitest.Suite{
		New: func(t *testing.T) ociregistry.Interface {
			return ociproxy.New(ocimem.New(), ocimem.New(), &ociproxy.Options{WritesToCache: true})
		},
	})
}

// TestConformance runs the pull parts of the conformance tests over
// HTTP, against a server over the proxy, seeding upstream.
func TestConformance(t *testing.T) {
	t.Run("ViaClient", func(t *testing.T) {
		t.Parallel()
		upstream := ocimem.New()
		client := newClient(t, ocitest.NewServer(t, upstream))
		srv := httptest.NewServer(ociserver.New(ociproxy.New(client, newCache(), nil), nil))
		t.Cleanup(srv.Close)
		conformance.Run(t, srv.URL, conformance.Options{PullOnly: true, Seed: upstream})
	})
	t.Run("Direct", func(t *testing.T) {
		t.Parallel()
		upstream := ocimem.New()
		srv := httptest.NewServer(ociserver.New(ociproxy.New(upstream, newCache(), nil), nil))
		t.Cleanup(srv.Close)
		conformance.Run(t, srv.URL, conformance.Options{PullOnly: true, Seed: upstream, SkipSHA512: true})
	})
	t.Run("WritesToCache", func(t *testing.T) {
		// The whole suite, pushes included, against a proxy whose
		// upstream is empty: what is pushed lands in the cache.
		t.Parallel()
		client := newClient(t, ocitest.NewServer(t, ocimem.New()))
		p := ociproxy.New(client, ocimem.New(), &ociproxy.Options{WritesToCache: true})
		srv := httptest.NewServer(ociserver.New(p, nil))
		t.Cleanup(srv.Close)
		conformance.Run(t, srv.URL, conformance.Options{SkipSHA512: true})
	})
	t.Run("ReadOnlyMirror", func(t *testing.T) {
		t.Parallel()
		upstream := ocimem.New()
		client := newClient(t, ocitest.NewServer(t, upstream))
		mirror := ocifilter.ReadOnly(ociproxy.New(client, newCache(), nil))
		srv := httptest.NewServer(ociserver.New(mirror, nil))
		t.Cleanup(srv.Close)
		conformance.Run(t, srv.URL, conformance.Options{PullOnly: true, Seed: upstream, SkipSHA512: true})
	})
}

func newClient(t *testing.T, host string) ociregistry.Interface {
	t.Helper()
	c, err := ociclient.New(host, &ociclient.Options{MaxRetries: -1})
	qt.Assert(t, qt.IsNil(err))
	return c
}

// counter counts calls by method name.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) inc(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[method]++
}

func (c *counter) get(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

// counting returns a registry that reads from r and counts its calls.
func counting(r ociregistry.Interface, c *counter) *ociregistry.Funcs {
	return &ociregistry.Funcs{
		GetBlob_: func(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
			c.inc("GetBlob")
			return r.GetBlob(ctx, repo, dg)
		},
		GetBlobRange_: func(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
			c.inc("GetBlobRange")
			return r.GetBlobRange(ctx, repo, dg, o0, o1)
		},
		GetManifest_: func(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
			c.inc("GetManifest")
			return r.GetManifest(ctx, repo, dg)
		},
		GetTag_: func(ctx context.Context, repo string, tag string) (ociregistry.BlobReader, error) {
			c.inc("GetTag")
			return r.GetTag(ctx, repo, tag)
		},
		ResolveBlob_: func(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
			c.inc("ResolveBlob")
			return r.ResolveBlob(ctx, repo, dg)
		},
		ResolveManifest_: func(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
			c.inc("ResolveManifest")
			return r.ResolveManifest(ctx, repo, dg)
		},
		ResolveTag_: func(ctx context.Context, repo string, tag string) (ociregistry.Descriptor, error) {
			c.inc("ResolveTag")
			return r.ResolveTag(ctx, repo, tag)
		},
		Tags_: func(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
			c.inc("Tags")
			return r.Tags(ctx, repo, startAfter)
		},
	}
}

func randomBlob(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	return data
}

// TestConcurrentPulls checks that a blob pulled 100 times at once
// through the proxy is fetched from upstream once, and that every
// caller gets it whole.
func TestConcurrentPulls(t *testing.T) {
	mem := ocimem.New()
	data := randomBlob(256 << 10)
	dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
	var calls counter
	up := counting(mem, &calls)
	// Upstream answers slowly, so that the pulls overlap.
	slow := *up
	slow.GetBlob_ = func(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
		time.Sleep(50 * time.Millisecond)
		return up.GetBlob(ctx, repo, dg)
	}
	cache := newCache()
	p := ociproxy.New(&slow, cache, nil)

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			rd, err := p.GetBlob(t.Context(), "a/b", dg)
			if err != nil {
				errs <- err
				return
			}
			defer rd.Close()
			got, err := io.ReadAll(rd)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("wrong content")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		qt.Assert(t, qt.IsNil(err))
	}
	qt.Assert(t, qt.Equals(calls.get("GetBlob"), 1))
	desc, err := cache.ResolveBlob(t.Context(), "a/b", dg)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
}

// TestConcurrentTagPulls checks that an image pulled by tag 100 times at
// once is resolved and fetched upstream once.
func TestConcurrentTagPulls(t *testing.T) {
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "a/b", "latest")
	var calls counter
	p := ociproxy.New(counting(mem, &calls), newCache(), nil)
	var wg sync.WaitGroup
	var failures atomic.Int32
	for range 100 {
		wg.Go(func() {
			rd, err := p.GetTag(t.Context(), "a/b", "latest")
			if err != nil {
				failures.Add(1)
				return
			}
			got, err := io.ReadAll(rd)
			rd.Close()
			if err != nil || !bytes.Equal(got, img.Content) {
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	qt.Assert(t, qt.Equals(failures.Load(), int32(0)))
	qt.Assert(t, qt.Equals(calls.get("ResolveTag"), 1))
	qt.Assert(t, qt.Equals(calls.get("GetManifest"), 1))
}

// TestReadExactlyThenClose checks that a caller that reads exactly the
// blob's size, then closes without seeing io.EOF, has the blob cached.
func TestReadExactlyThenClose(t *testing.T) {
	mem := ocimem.New()
	data := randomBlob(1000)
	dg := ocitest.PushBlob(t, mem, "a/b", data).Digest
	cache := newCache()
	p := ociproxy.New(mem, cache, nil)
	rd, err := p.GetBlob(t.Context(), "a/b", dg)
	qt.Assert(t, qt.IsNil(err))
	_, err = io.ReadFull(rd, make([]byte, len(data)))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(rd.Close()))
	_, err = cache.ResolveBlob(t.Context(), "a/b", dg)
	qt.Assert(t, qt.IsNil(err))
}

// TestWrongBytesUpstream checks that content from upstream that does not
// match its digest fails the read at its end, without its last bytes,
// and is not cached, however upstream splits its stream into reads.
// upstreamContent is what an upstream may send for a blob whose content
// is good, and the error reading it through the proxy must end with.
type upstreamContent struct {
	name    string
	content []byte
	want    error
}

// upstreamContents returns good content and the ways upstream can get
// it wrong.
func upstreamContents(good []byte) []upstreamContent {
	bad := bytes.Clone(good)
	bad[100]++
	badEnd := bytes.Clone(good)
	badEnd[len(badEnd)-1]++
	return []upstreamContent{
		{"Good", good, nil},
		{"Corrupt", bad, ociregistry.ErrDigestInvalid},
		{"CorruptLastByte", badEnd, ociregistry.ErrDigestInvalid},
		{"Short", good[:len(good)-96], ociregistry.ErrSizeInvalid},
		{"Long", append(bytes.Clone(good), 'x'), ociregistry.ErrSizeInvalid},
	}
}

func TestWrongBytesUpstream(t *testing.T) {
	good := randomBlob(4096)
	dg := ocitest.Digest(good)
	mem := ocimem.New()
	for _, c := range upstreamContents(good) {
		for _, split := range readSplits {
			t.Run(c.name+"/"+split.name, func(t *testing.T) {
				up := wrongBytesUpstream(c.content, dg, int64(len(good)), split.wrap)
				cache := &recordingCache{Registry: newCache()}
				p := ociproxy.New(up, cache, nil)
				rd, err := p.GetBlob(t.Context(), "a/b", dg)
				qt.Assert(t, qt.IsNil(err))
				got, err := io.ReadAll(rd)
				qt.Assert(t, qt.IsNil(rd.Close()))
				_, cerr := cache.ResolveBlob(t.Context(), "a/b", dg)
				if c.want == nil {
					qt.Assert(t, qt.IsNil(err))
					qt.Assert(t, qt.IsTrue(bytes.Equal(got, good)))
					qt.Assert(t, qt.IsNil(cerr))
					qt.Assert(t, qt.Equals(cache.commits.Load(), int32(1)))
					return
				}
				qt.Assert(t, qt.ErrorIs(err, c.want))
				// The read that would have completed the blob
				// returned none of its bytes: the caller never
				// holds the whole of wrong content.
				qt.Assert(t, qt.IsTrue(len(got) < len(good)), qt.Commentf("read %d bytes", len(got)))
				qt.Assert(t, qt.IsTrue(bytes.HasPrefix(c.content, got)))
				qt.Assert(t, qt.ErrorIs(cerr, ociregistry.ErrBlobUnknown))
				qt.Assert(t, qt.Equals(cache.commits.Load(), int32(0)))
				qt.Assert(t, qt.Equals(cache.cancels.Load(), int32(1)))
			})
		}
	}
	t.Run("Manifest", func(t *testing.T) {
		img := ocitest.PushRandomImage(t, mem, "a/b", "v1")
		wrong := ocitest.PushRandomImage(t, mem, "a/b", "v2")
		up := &ociregistry.Funcs{
			GetManifest_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
				return mem.GetManifest(ctx, repo, wrong.Manifest.Digest)
			},
		}
		cache := newCache()
		p := ociproxy.New(up, cache, nil)
		_, err := p.GetManifest(t.Context(), "a/b", img.Manifest.Digest)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
		for _, d := range []ociregistry.Digest{img.Manifest.Digest, wrong.Manifest.Digest} {
			_, err = cache.ResolveManifest(t.Context(), "a/b", d)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		}
	})
}

// readSplits are ways an upstream stream may come in reads: whole,
// with io.EOF alongside the last bytes, and a byte at a time.
var readSplits = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"Plain", func(r io.Reader) io.Reader { return r }},
	{"DataErr", iotest.DataErrReader},
	{"OneByte", iotest.OneByteReader},
}

// wrongBytesUpstream returns an upstream whose GetBlob answers any digest
// with content, read through wrap, under a descriptor that claims digest
// dg and size.
func wrongBytesUpstream(content []byte, dg ociregistry.Digest, size int64, wrap func(io.Reader) io.Reader) *ociregistry.Funcs {
	return &ociregistry.Funcs{
		GetBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
			return &fakeReader{Reader: wrap(bytes.NewReader(content)), desc: ociregistry.Descriptor{
				MediaType: "application/octet-stream", Digest: dg, Size: size,
			}}, nil
		},
	}
}

// TestWrongBytesOverHTTP checks that a client pulling a blob through a
// server over the proxy, from an upstream that sends other bytes of the
// right size, sees the pull fail: the server has sent "200 OK" before
// the content can be checked, so the failure shows as a body cut short.
// Nothing is cached, and the next pull fails again.
func TestWrongBytesOverHTTP(t *testing.T) {
	good := randomBlob(1 << 20)
	dg := ocitest.Digest(good)
	// Only the last byte is wrong: what is checked only at the end.
	bad := bytes.Clone(good)
	bad[len(bad)-1]++
	cache := &recordingCache{Registry: newCache()}
	p := ociproxy.New(wrongBytesUpstream(bad, dg, int64(len(good)), iotest.HalfReader), cache, nil)
	srv := httptest.NewServer(ociserver.New(p, nil))
	t.Cleanup(srv.Close)

	for range 2 {
		resp, err := srv.Client().Get(srv.URL + "/v2/a/b/blobs/" + string(dg))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
		qt.Assert(t, qt.Equals(resp.ContentLength, int64(len(good))))
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		qt.Assert(t, qt.ErrorIs(err, io.ErrUnexpectedEOF))
		qt.Assert(t, qt.IsTrue(len(body) < len(good)), qt.Commentf("received %d bytes", len(body)))
		qt.Assert(t, qt.Not(qt.Equals(ocitest.Digest(body), dg)))
	}

	// A registry client, which checks what it reads, fails too.
	client := newClient(t, strings.TrimPrefix(srv.URL, "http://"))
	rd, err := client.GetBlob(t.Context(), "a/b", dg)
	if err == nil {
		_, err = io.ReadAll(rd)
		rd.Close()
	}
	qt.Assert(t, qt.IsNotNil(err))

	_, err = cache.ResolveBlob(t.Context(), "a/b", dg)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	qt.Assert(t, qt.Equals(cache.commits.Load(), int32(0)))
}

// TestUncachedReadVerified checks that a blob read from upstream
// uncached, as it is when a fill cannot make its spool file, is checked against its digest as a fetch into the cache is, and
// that nothing is written to the cache.
func TestUncachedReadVerified(t *testing.T) {
	good := randomBlob(4096)
	dg := ocitest.Digest(good)
	for _, c := range upstreamContents(good) {
		for _, split := range readSplits {
			t.Run(c.name+"/"+split.name, func(t *testing.T) {
				cache := &recordingCache{Registry: newCache()}
				p := ociproxy.New(wrongBytesUpstream(c.content, dg, int64(len(good)), split.wrap), cache, &ociproxy.Options{
					TempDir: filepath.Join(t.TempDir(), "missing"),
				})
				rd, err := p.GetBlob(t.Context(), "a/b", dg)
				qt.Assert(t, qt.IsNil(err))
				qt.Assert(t, qt.Equals(rd.Descriptor().Digest, dg))
				got, err := io.ReadAll(rd)
				qt.Assert(t, qt.IsNil(rd.Close()))
				if c.want == nil {
					qt.Assert(t, qt.IsNil(err))
					qt.Assert(t, qt.IsTrue(bytes.Equal(got, good)))
				} else {
					qt.Assert(t, qt.ErrorIs(err, c.want))
					qt.Assert(t, qt.IsTrue(len(got) < len(good)), qt.Commentf("read %d bytes", len(got)))
					// The error stays.
					_, err = rd.Read(make([]byte, 10))
					qt.Assert(t, qt.ErrorIs(err, c.want))
				}
				qt.Assert(t, qt.Equals(cache.uploads.Load(), int32(0)))
				_, err = cache.ResolveBlob(t.Context(), "a/b", dg)
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
			})
		}
	}
}

// recordingCache is a cache that counts the commits and cancels of
// chunked uploads, and the uploads started.
type recordingCache struct {
	*ocimem.Registry
	uploads, commits, cancels atomic.Int32
}

func (c *recordingCache) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	c.uploads.Add(1)
	w, err := c.Registry.PushBlobChunked(ctx, repo, chunkSize)
	if err != nil {
		return nil, err
	}
	return &recordingWriter{BlobWriter: w, c: c}, nil
}

type recordingWriter struct {
	ociregistry.BlobWriter
	c        *recordingCache
	finished bool
}

func (w *recordingWriter) Commit(dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	w.c.commits.Add(1)
	w.finished = true
	return w.BlobWriter.Commit(dg)
}

func (w *recordingWriter) Cancel() error {
	if !w.finished {
		w.c.cancels.Add(1)
		w.finished = true
	}
	return w.BlobWriter.Cancel()
}

type fakeReader struct {
	io.Reader
	desc ociregistry.Descriptor
}

func (r *fakeReader) Descriptor() ociregistry.Descriptor { return r.desc }
func (r *fakeReader) Close() error                       { return nil }

// TestUpstreamDown checks that when upstream stops answering, what was
// pulled is still served: blobs and manifests from the cache, and tags
// from the cache once their TTL has passed, with a warning logged.
func TestUpstreamDown(t *testing.T) {
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "a/b", "latest")
	upSrv := httptest.NewServer(ociserver.New(mem, nil))
	defer upSrv.Close()
	client := newClient(t, strings.TrimPrefix(upSrv.URL, "http://"))
	var logs toolstest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	p := ociproxy.New(client, newCache(), &ociproxy.Options{Logger: logger})
	now := time.Now()
	ociproxy.SetNow(p, func() time.Time { return now })
	ctx := t.Context()

	// Pull the image while upstream is up.
	qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetTag(ctx, "a/b", "latest")), img.Content))
	for dg, data := range img.BlobContent {
		qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetBlob(ctx, "a/b", dg)), data))
	}
	other := ocitest.PushBlob(t, mem, "a/b", []byte("never pulled"))

	upSrv.Close()
	now = now.Add(time.Hour)

	qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetTag(ctx, "a/b", "latest")), img.Content))
	desc, err := p.ResolveTag(ctx, "a/b", "latest")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, img.Manifest.Digest))
	qt.Assert(t, qt.StringContains(logs.String(), "serving cached tag"))
	qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetManifest(ctx, "a/b", img.Manifest.Digest)), img.Content))
	for dg, data := range img.BlobContent {
		qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetBlob(ctx, "a/b", dg)), data))
	}
	tags, err := ociregistry.All(p.Tags(ctx, "a/b", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"latest"}))

	// What was never pulled is not there, and the error says why.
	_, err = p.GetBlob(ctx, "a/b", other.Digest)
	qt.Assert(t, qt.IsNotNil(err))
	qt.Assert(t, qt.IsFalse(errors.Is(err, ociregistry.ErrBlobUnknown)))
	_, err = p.GetTag(ctx, "a/b", "other")
	qt.Assert(t, qt.IsNotNil(err))
	qt.Assert(t, qt.IsFalse(errors.Is(err, ociregistry.ErrManifestUnknown)))

	// Over HTTP, that is 502 Bad Gateway with the error body of the
	// specification and a message that says what happened, for GET
	// and HEAD alike.
	srv := httptest.NewServer(ociserver.New(p, nil))
	defer srv.Close()
	for _, path := range []string{
		"/v2/a/b/manifests/other",
		"/v2/a/b/blobs/" + string(other.Digest),
		"/v2/a/b/manifests/" + string(ocitest.Digest([]byte("never pushed"))),
	} {
		for _, method := range []string{"GET", "HEAD"} {
			req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, nil)
			qt.Assert(t, qt.IsNil(err))
			resp, err := srv.Client().Do(req)
			qt.Assert(t, qt.IsNil(err))
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusBadGateway), qt.Commentf("%s %s: %s", method, path, body))
			if method == "HEAD" {
				continue
			}
			var wire ociregistry.WireErrors
			qt.Assert(t, qt.IsNil(json.Unmarshal(body, &wire)), qt.Commentf("%s", body))
			qt.Assert(t, qt.HasLen(wire.Errors, 1))
			qt.Assert(t, qt.Equals(wire.Errors[0].Code, "UNKNOWN"))
			// The cause (an address) stays in the server's log.
			qt.Assert(t, qt.Matches(wire.Errors[0].Message, `ociproxy: upstream registry failed and (tag|blob|manifest) a/b[:@]\S+ is not cached`))
		}
	}
}

// TestTagTTL checks that a tag is trusted for TagTTL and then resolved
// upstream again, and that a negative TTL resolves every time.
// TestUpstreamMisbehaves serves, through a proxy over HTTP, after a
// pull while upstream was well: an upstream that takes connections and
// never answers, one that answers 500, one that refuses the proxy's
// credentials (401), one that cuts manifests short, one that refuses
// every request (400), and one that moves a tag but fails to send its
// manifest. Each time, what was pulled is served from the cache within
// the stall timeout, and what was not is 502 Bad Gateway (a listing the
// cache has nothing of too; 403 for the 401; upstream's own answer for
// the 400), never a hang, a 404 or an empty list that hides the failure.
func TestUpstreamMisbehaves(t *testing.T) {
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "a/b", "latest")
	ocitest.PushRandomImage(t, mem, "c/d", "v1")
	good := ociserver.New(mem, nil)
	var mode atomic.Value
	mode.Store("well")
	hung := make(chan struct{})
	defer close(hung)
	var askedMu sync.Mutex
	askedPaths := map[string]int{}
	asked := func(path string) int {
		askedMu.Lock()
		defer askedMu.Unlock()
		return askedPaths[path]
	}
	upSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		askedMu.Lock()
		askedPaths[req.URL.Path]++
		askedMu.Unlock()
		switch mode.Load() {
		case "well":
			good.ServeHTTP(w, req)
		case "hung":
			select {
			case <-hung:
			case <-req.Context().Done():
			}
		case "500":
			http.Error(w, "storage on fire", http.StatusInternalServerError)
		case "400":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errors":[{"code":"NAME_INVALID","message":"names here are shorter"}]}`)
		case "getfails":
			if req.Method == "GET" && strings.Contains(req.URL.Path, "/manifests/") {
				http.Error(w, "storage on fire", http.StatusInternalServerError)
				return
			}
			good.ServeHTTP(w, req)
		case "cut":
			// Manifests cut short; the rest fails.
			if !strings.Contains(req.URL.Path, "/manifests/") {
				http.Error(w, "storage on fire", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			if req.Method == "GET" {
				io.WriteString(w, `{"schemaVersion":2,`)
			}
		case "401":
			w.Header().Set("WWW-Authenticate", `Basic realm="up"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		}
	}))
	defer upSrv.Close()
	client := newClient(t, strings.TrimPrefix(upSrv.URL, "http://"))
	p := ociproxy.New(client, newCache(), &ociproxy.Options{TagTTL: -1, FillStallTimeout: 300 * time.Millisecond})
	srv := httptest.NewServer(ociserver.New(p, nil))
	defer srv.Close()
	get := func(method, path string) (int, string) {
		req, err := http.NewRequest(method, srv.URL+path, nil)
		qt.Assert(t, qt.IsNil(err))
		resp, err := srv.Client().Do(req)
		qt.Assert(t, qt.IsNil(err))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	// Pull the image and list its tags while upstream is well.
	status, _ := get("GET", "/v2/a/b/manifests/latest")
	qt.Assert(t, qt.Equals(status, http.StatusOK))
	status, _ = get("GET", "/v2/a/b/tags/list")
	qt.Assert(t, qt.Equals(status, http.StatusOK))

	// Clients asking at once for a manifest a hung upstream holds up
	// share one request upstream, and its failure.
	mode.Store("hung")
	never := "/v2/a/b/manifests/" + string(ocitest.Digest([]byte("asked at once")))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			status, body := get("GET", never)
			qt.Check(t, qt.Equals(status, http.StatusBadGateway), qt.Commentf("%s", body))
		})
	}
	wg.Wait()
	qt.Check(t, qt.Equals(asked(never), 1))

	for _, m := range []string{"hung", "500", "401", "cut", "400", "getfails"} {
		t.Run(m, func(t *testing.T) {
			mode.Store(m)
			if m == "getfails" {
				// The tag moves upstream to a manifest the
				// cache does not hold.
				ocitest.PushRandomImage(t, mem, "a/b", "latest")
			}
			status, body := get("GET", "/v2/a/b/manifests/latest")
			qt.Check(t, qt.Equals(status, http.StatusOK), qt.Commentf("cached tag: %s", body))
			qt.Check(t, qt.Equals(body, string(img.Content)))
			status, body = get("HEAD", "/v2/a/b/manifests/latest")
			qt.Check(t, qt.Equals(status, http.StatusOK), qt.Commentf("cached tag, HEAD: %s", body))
			status, body = get("GET", "/v2/a/b/tags/list")
			if m == "400" {
				// Upstream answered the listing: no stand-in.
				qt.Check(t, qt.Equals(status, http.StatusBadRequest), qt.Commentf("tags: %s", body))
			} else {
				qt.Check(t, qt.Equals(status, http.StatusOK), qt.Commentf("cached tags: %s", body))
				qt.Check(t, qt.StringContains(body, `"latest"`))
			}
			// A 401 refuses the proxy's credentials, which is
			// not the client's to mend, nor upstream's failure.
			want := map[string]int{"401": http.StatusForbidden, "400": http.StatusBadRequest}[m]
			if want == 0 {
				want = http.StatusBadGateway
			}
			if m == "getfails" {
				return
			}
			for _, path := range []string{
				"/v2/c/d/manifests/v1",
				"/v2/c/d/tags/list",
				"/v2/a/b/referrers/" + string(img.Manifest.Digest),
				"/v2/a/b/manifests/" + string(ocitest.Digest([]byte("never pulled"))),
				"/v2/a/b/blobs/" + string(ocitest.Digest([]byte("never pulled"))),
			} {
				status, body := get("GET", path)
				qt.Check(t, qt.Equals(status, want), qt.Commentf("%s: %s", path, body))
			}
		})
	}
}

func TestTagTTL(t *testing.T) {
	mem := ocimem.New()
	img1 := ocitest.PushRandomImage(t, mem, "a/b", "latest")
	var calls counter
	p := ociproxy.New(counting(mem, &calls), newCache(), &ociproxy.Options{TagTTL: 10 * time.Minute})
	now := time.Now()
	ociproxy.SetNow(p, func() time.Time { return now })
	ctx := t.Context()

	resolve := func() ociregistry.Digest {
		t.Helper()
		desc, err := p.ResolveTag(ctx, "a/b", "latest")
		qt.Assert(t, qt.IsNil(err))
		return desc.Digest
	}
	qt.Assert(t, qt.Equals(resolve(), img1.Manifest.Digest))
	qt.Assert(t, qt.Equals(calls.get("ResolveTag"), 1))

	img2 := ocitest.PushRandomImage(t, mem, "a/b", "latest")
	now = now.Add(9 * time.Minute)
	qt.Assert(t, qt.Equals(resolve(), img1.Manifest.Digest))
	qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetTag(ctx, "a/b", "latest")), img1.Content))
	qt.Assert(t, qt.Equals(calls.get("ResolveTag"), 1))

	now = now.Add(2 * time.Minute)
	qt.Assert(t, qt.Equals(resolve(), img2.Manifest.Digest))
	qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetTag(ctx, "a/b", "latest")), img2.Content))
	qt.Assert(t, qt.Equals(calls.get("ResolveTag"), 2))

	// A tag deleted upstream is gone once the TTL has passed.
	qt.Assert(t, qt.IsNil(mem.DeleteTag(ctx, "a/b", "latest")))
	now = now.Add(11 * time.Minute)
	_, err := p.ResolveTag(ctx, "a/b", "latest")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))

	var calls2 counter
	p = ociproxy.New(counting(mem, &calls2), newCache(), &ociproxy.Options{TagTTL: -1})
	ocitest.PushRandomImage(t, mem, "a/b", "v1")
	for range 3 {
		_, err := p.ResolveTag(ctx, "a/b", "v1")
		qt.Assert(t, qt.IsNil(err))
	}
	qt.Assert(t, qt.Equals(calls2.get("ResolveTag"), 3))
}

// TestCachedContentServedFromCache checks that content in the cache is
// not fetched upstream again.
func TestCachedContentServedFromCache(t *testing.T) {
	mem := ocimem.New()
	img := ocitest.PushRandomIndex(t, mem, "a/b", "v1")
	var calls counter
	p := ociproxy.New(counting(mem, &calls), newCache(), nil)
	ctx := t.Context()
	for range 3 {
		qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetManifest(ctx, "a/b", img.Manifest.Digest)), img.Content))
		for dg, data := range img.BlobContent {
			qt.Assert(t, qt.DeepEquals(readAll(t)(p.GetBlob(ctx, "a/b", dg)), data))
			desc, err := p.ResolveBlob(ctx, "a/b", dg)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
		}
	}
	qt.Assert(t, qt.Equals(calls.get("GetManifest"), 1))
	qt.Assert(t, qt.Equals(calls.get("GetBlob"), len(img.BlobContent)))
	qt.Assert(t, qt.Equals(calls.get("ResolveBlob"), 0))

	// Unknown content is unknown.
	_, err := p.GetBlob(ctx, "a/b", ocitest.Digest([]byte("nothing")))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = p.GetManifest(ctx, "a/b", ocitest.Digest([]byte("nothing")))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}

// TestWritesDenied checks that a proxy without WritesToCache refuses
// every write and delete with DENIED, also over HTTP (403).
func TestWritesDenied(t *testing.T) {
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "a/b", "v1")
	cache := newCache()
	p := ociproxy.New(mem, cache, nil)
	ctx := t.Context()
	data := []byte("data")
	_, err := p.PushBlob(ctx, "a/b", ociregistry.Descriptor{Digest: ocitest.Digest(data), Size: 4}, bytes.NewReader(data))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	_, err = p.PushBlobChunked(ctx, "a/b", 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	_, err = p.PushBlobChunkedResume(ctx, "a/b", "x", 0, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	_, err = p.MountBlob(ctx, "a/b", "c/d", img.Blobs[0].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	_, err = p.PushManifest(ctx, "a/b", "v2", img.Content, img.Manifest.MediaType)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	qt.Assert(t, qt.ErrorIs(p.DeleteBlob(ctx, "a/b", img.Blobs[0].Digest), ociregistry.ErrUnsupported))
	qt.Assert(t, qt.ErrorIs(p.DeleteManifest(ctx, "a/b", img.Manifest.Digest), ociregistry.ErrUnsupported))
	qt.Assert(t, qt.ErrorIs(p.DeleteTag(ctx, "a/b", "v1"), ociregistry.ErrUnsupported))

	srv := httptest.NewServer(ociserver.New(p, nil))
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Post(srv.URL+"/v2/a/b/blobs/uploads/", "", nil)
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusForbidden))

	// Nothing reached the cache or upstream.
	repos, err := ociregistry.All(cache.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(repos, 0))
	_, err = mem.ResolveTag(ctx, "a/b", "v1")
	qt.Assert(t, qt.IsNil(err))
}

// TestListings checks that listings come from upstream.
func TestListings(t *testing.T) {
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "a/b", "v1")
	ocitest.PushRandomImage(t, mem, "a/b", "v2")
	ocitest.PushRandomImage(t, mem, "c/d", "v3")
	ref := ocitest.PushRandomArtifact(t, mem, "a/b", img.Manifest, "application/x.test")
	p := ociproxy.New(mem, newCache(), nil)
	ctx := t.Context()
	repos, err := ociregistry.All(p.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"a/b", "c/d"}))
	tags, err := ociregistry.All(p.Tags(ctx, "a/b", "v1"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"v2"}))
	_, err = ociregistry.All(p.Tags(ctx, "x/y", ""))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameUnknown))
	refs, err := ociregistry.All(p.Referrers(ctx, "a/b", img.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 1))
	qt.Assert(t, qt.Equals(refs[0].Digest, ref.Manifest.Digest))
}

// readAll returns a func that reads all of a BlobReader returned with
// a nil error, and closes it.
func readAll(t *testing.T) func(rd ociregistry.BlobReader, err error) []byte {
	return func(rd ociregistry.BlobReader, err error) []byte {
		t.Helper()
		qt.Assert(t, qt.IsNil(err))
		defer rd.Close()
		data, err := io.ReadAll(rd)
		qt.Assert(t, qt.IsNil(err))
		return data
	}
}

// TestUpstreamWithoutSize checks that a blob whose upstream reader does
// not know its size (a response without Content-Length) has the size
// resolved, and is served whole, verified and cached.
func TestUpstreamWithoutSize(t *testing.T) {
	ctx := context.Background()
	mem := ocimem.New()
	data := randomBlob(5000)
	desc := ocitest.PushBlob(t, mem, "a", data)
	up := &ociregistry.Funcs{
		GetBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
			rd, err := mem.GetBlob(ctx, repo, d)
			if err != nil {
				return nil, err
			}
			desc := rd.Descriptor()
			desc.Size = -1
			return &fakeReader{Reader: rd, desc: desc}, nil
		},
		ResolveBlob_: mem.ResolveBlob,
	}
	cache := ocimem.New()
	p := ociproxy.New(up, cache, nil)
	rd, err := p.GetBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(rd)
	rd.Close()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, data))
	cached, err := cache.ResolveBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(cached.Size, int64(len(data))))
}

// TestTagsBounded checks that the tags a proxy remembers stay bounded:
// expired ones go first, and a proxy full of fresh ones starts afresh,
// resolving them upstream again.
func TestTagsBounded(t *testing.T) {
	ctx := t.Context()
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "a/b", "")
	for i := range 10 {
		_, err := mem.PushManifest(ctx, "a/b", fmt.Sprintf("t%d", i), img.Content, img.Manifest.MediaType)
		qt.Assert(t, qt.IsNil(err))
	}
	var calls counter
	p := ociproxy.New(counting(mem, &calls), newCache(), &ociproxy.Options{TagTTL: time.Minute})
	now := time.Now()
	ociproxy.SetNow(p, func() time.Time { return now })
	remembered := ociproxy.SetMaxTags(p, 4)
	resolve := func(i int) {
		t.Helper()
		_, err := p.ResolveTag(ctx, "a/b", fmt.Sprintf("t%d", i))
		qt.Assert(t, qt.IsNil(err))
	}
	resolve(0)
	resolve(1)
	now = now.Add(30 * time.Second)
	resolve(2)
	resolve(3)
	qt.Assert(t, qt.Equals(remembered(), 4))
	// t0 and t1 expire; remembering t4 drops them, not t2 and t3.
	now = now.Add(40 * time.Second)
	resolve(4)
	qt.Assert(t, qt.Equals(remembered(), 3))
	resolve(2)
	qt.Assert(t, qt.Equals(calls.get("ResolveTag"), 5))
	// All fresh and full: the next tag starts afresh.
	resolve(5)
	qt.Assert(t, qt.Equals(remembered(), 4))
	resolve(6)
	qt.Assert(t, qt.Equals(remembered(), 1))
	for i := range 7 {
		resolve(i)
	}
	qt.Assert(t, qt.IsTrue(remembered() <= 4))
}

// TestWritesToCacheUpstreamStalls checks that the merged listings of a
// proxy that writes to its cache do not wait for an upstream that never
// answers: they fail with 502 once FillStallTimeout has passed.
func TestWritesToCacheUpstreamStalls(t *testing.T) {
	hung := make(chan struct{})
	upSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-hung:
		case <-req.Context().Done():
		}
	}))
	defer upSrv.Close()
	defer close(hung)
	cache := newCache()
	img := ocitest.PushRandomImage(t, cache, "a/b", "mine")
	p := ociproxy.New(newClient(t, strings.TrimPrefix(upSrv.URL, "http://")), cache, &ociproxy.Options{WritesToCache: true, FillStallTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for name, list := range map[string]func() error{
		"Repositories": func() error { _, err := ociregistry.All(p.Repositories(ctx, "")); return err },
		"Tags":         func() error { _, err := ociregistry.All(p.Tags(ctx, "a/b", "")); return err },
		"Referrers":    func() error { _, err := ociregistry.All(p.Referrers(ctx, "a/b", img.Manifest.Digest, "")); return err },
	} {
		err := list()
		var herr *ociregistry.HTTPError
		qt.Assert(t, qt.ErrorAs(err, &herr), qt.Commentf("%s: %v", name, err))
		qt.Check(t, qt.Equals(herr.StatusCode, http.StatusBadGateway), qt.Commentf("%s", name))
		qt.Check(t, qt.IsNil(ctx.Err()), qt.Commentf("%s waited for the caller's deadline", name))
	}
}
