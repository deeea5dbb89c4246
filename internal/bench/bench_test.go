package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var pushMiB = flag.Int("pushsize", 64, "size in `MiB` of the blobs BenchmarkPushBlob and BenchmarkPushBlobChunked push")

var big = flag.Bool("big", false, "also run BenchmarkPullBlob1GiB, which pushes a 1 GiB blob to every server")

const (
	mib          = 1 << 20
	pushSize     = 64 * mib
	pullSize     = 256 * mib
	bigSize      = 1024 * mib
	concurrency  = 32
	pullRepo     = "bench/pull"
	pushRepo     = "bench/push"
	manifestRepo = "bench/manifest"
	manifestTag  = "v1"
)

// client is shared by every benchmark; it keeps enough idle connections
// for the manifest benchmarks to reuse one per goroutine, and never goes
// through a proxy from the environment.
var client = &http.Client{Transport: &http.Transport{
	Proxy:               nil,
	MaxIdleConns:        4 * concurrency,
	MaxIdleConnsPerHost: 2 * concurrency,
	DisableCompression:  true,
}}

func TestServersAnswer(t *testing.T) {
	registries, fileServer := startServers(t)
	for _, s := range registries {
		t.Run("server="+s.name, func(t *testing.T) {
			resp, err := client.Get("http://" + s.host + "/v2/")
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
			qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
		})
	}
	t.Run("server=fileserver", func(t *testing.T) {
		err := os.WriteFile(filepath.Join(fileServerDir(), "hello"), []byte("hello"), 0o666)
		qt.Assert(t, qt.IsNil(err))
		resp, err := client.Get("http://" + fileServer.host + "/hello")
		qt.Assert(t, qt.IsNil(err))
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(string(body), "hello"))
	})
}

func BenchmarkPushBlob(b *testing.B) {
	benchmarkPush(b, pushBlob)
}

// BenchmarkPushBlobChunked pushes as BenchmarkPushBlob does, but in
// PATCH requests of chunkSize bytes and a final PUT.
func BenchmarkPushBlobChunked(b *testing.B) {
	benchmarkPush(b, pushBlobChunked)
}

func benchmarkPush(b *testing.B, push func(host, repo string, dgst digest.Digest, size int64, body io.Reader) error) {
	registries, _ := startServers(b)
	size := int64(*pushMiB) * mib
	// Every pushed blob is new, so no server can skip work for content it
	// has: the blob is a random base plus an 8-byte counter, and its digest
	// comes from a SHA-256 state saved after the base, so the client does
	// not spend CPU hashing 64 MiB per push.
	base := randomBytes(1, int(size-8))
	h := sha256.New()
	h.Write(base)
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	var counter atomic.Uint64
	counter.Store(uint64(time.Now().UnixNano()))
	for _, s := range registries {
		if !s.pushable() {
			continue
		}
		b.Run("server="+s.name, func(b *testing.B) {
			b.SetBytes(size)
			// Distribution does not fsync what it stores: flushing it here
			// keeps its writeback out of the next server's timing.
			syscall.Sync()
			startMemory(b, s)
			suffix := make([]byte, 8)
			cpu := startCPU(b, s)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				binary.BigEndian.PutUint64(suffix, counter.Add(1))
				h := sha256.New()
				if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
					b.Fatal(err)
				}
				h.Write(suffix)
				dgst := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
				body := io.MultiReader(bytes.NewReader(base), bytes.NewReader(suffix))
				b.StartTimer()
				if err := push(s.host, pushRepo, dgst, size, body); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				// Deleting keeps a memory store from growing with b.N.
				if err := deleteBlob(s.host, pushRepo, dgst); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			reportThroughput(b, size)
			reportCPU(b, s, cpu, float64(b.N)*float64(size)/mib, "cpu-ms/MiB")
			reportMemory(b, s)
		})
	}
}

func BenchmarkPullBlob(b *testing.B) {
	registries, fileServer := startServers(b)
	dgst := setupPullBlob(b, registries)
	benchmarkPull(b, registries, fileServer, dgst, "pull.blob", pullSize)
}

// BenchmarkPullBlob1GiB reports, as rss-growth-MiB, how much a server's
// resident memory grows over its resident size before it serves a 1 GiB
// blob. It runs only with -big.
func BenchmarkPullBlob1GiB(b *testing.B) {
	if !*big {
		b.Skip("pushes 1 GiB to every server; run with -big")
	}
	registries, fileServer := startServers(b)
	dgst := setupBigBlob(b, registries)
	benchmarkPull(b, registries, fileServer, dgst, "big.blob", bigSize)
}

func benchmarkPull(b *testing.B, registries []*server, fileServer *server, dgst digest.Digest, file string, size int64) {
	type target struct {
		s   *server
		url string
	}
	var targets []target
	for _, s := range registries {
		targets = append(targets, target{s, "http://" + s.host + "/v2/" + pullRepo + "/blobs/" + dgst.String()})
	}
	targets = append(targets, target{fileServer, "http://" + fileServer.host + "/" + file})
	for _, tg := range targets {
		b.Run("server="+tg.s.name, func(b *testing.B) {
			b.SetBytes(size)
			syscall.Sync()
			before := startMemory(b, tg.s)
			cpu := startCPU(b, tg.s)
			b.ResetTimer()
			for range b.N {
				if err := pull(tg.url, size); err != nil {
					b.Fatal(err)
				}
			}
			reportThroughput(b, size)
			reportCPU(b, tg.s, cpu, float64(b.N)*float64(size)/mib, "cpu-ms/MiB")
			_, peak := reportMemory(b, tg.s)
			b.ReportMetric(float64(peak-before)/mib, "rss-growth-MiB")
		})
	}
}

func BenchmarkManifestGet(b *testing.B) {
	benchmarkManifest(b, http.MethodGet)
}

func BenchmarkManifestHead(b *testing.B) {
	benchmarkManifest(b, http.MethodHead)
}

// benchmarkManifest requests the manifest by tag from concurrency
// goroutines at once, and reports the rate as req/s. The file server
// ("fileserver") answers too, as a net/http handler that only writes the
// manifest from memory: the floor of any registry built on net/http.
func benchmarkManifest(b *testing.B, method string) {
	registries, fileServer := startServers(b)
	setupManifest(b, registries)
	for _, s := range append(registries, fileServer) {
		b.Run("server="+s.name, func(b *testing.B) {
			url := "http://" + s.host + "/v2/" + manifestRepo + "/manifests/" + manifestTag
			startMemory(b, s)
			var next atomic.Int64
			var failed atomic.Pointer[error]
			var wg sync.WaitGroup
			cpu := startCPU(b, s)
			b.ResetTimer()
			for range concurrency {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := requestManifest(method, url); err != nil {
							failed.CompareAndSwap(nil, &err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if err := failed.Load(); err != nil {
				b.Fatal(*err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			reportCPU(b, s, cpu, float64(b.N)/1000, "cpu-ms/kreq")
			reportMemory(b, s)
		})
	}
}

func requestManifest(method, url string) error {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return nil
}

// startMemory resets the server's peak resident size and returns its
// current resident size.
func startMemory(b *testing.B, s *server) (rss int64) {
	if err := s.resetPeak(); err != nil {
		b.Fatal(err)
	}
	rss, _, err := s.memory()
	if err != nil {
		b.Fatal(err)
	}
	return rss
}

// reportMemory reports the server's resident size now and its peak since
// startMemory.
func reportMemory(b *testing.B, s *server) (rss, peak int64) {
	rss, peak, err := s.memory()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rss)/mib, "rss-MiB")
	b.ReportMetric(float64(peak)/mib, "peak-rss-MiB")
	return rss, peak
}

// startCPU returns the processor time s has used so far.
func startCPU(b *testing.B, s *server) time.Duration {
	cpu, err := s.cpuTime()
	if err != nil {
		b.Fatal(err)
	}
	return cpu
}

// reportCPU reports the processor time s used since startCPU answered
// start, in milliseconds per unit of work done.
func reportCPU(b *testing.B, s *server, start time.Duration, work float64, unit string) {
	cpu, err := s.cpuTime()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu-start)/float64(time.Millisecond)/work, unit)
}

// reportThroughput reports MiB/s, as b.SetBytes reports MB/s (10⁶ bytes).
func reportThroughput(b *testing.B, size int64) {
	b.ReportMetric(float64(b.N)*float64(size)/mib/b.Elapsed().Seconds(), "MiB/s")
}

var (
	pullOnce     sync.Once
	pullDigest   digest.Digest
	pullErr      error
	bigOnce      sync.Once
	bigDigest    digest.Digest
	bigErr       error
	manifestOnce sync.Once
	manifestErr  error
)

// setupPullBlob writes the pull blob into the file server's directory and
// pushes it to every registry, once per process.
func setupPullBlob(b *testing.B, registries []*server) digest.Digest {
	pullOnce.Do(func() {
		pullDigest, pullErr = setupBlob(registries, "pull.blob", 2, pullSize)
	})
	if pullErr != nil {
		b.Fatal(pullErr)
	}
	return pullDigest
}

func setupBigBlob(b *testing.B, registries []*server) digest.Digest {
	bigOnce.Do(func() {
		bigDigest, bigErr = setupBlob(registries, "big.blob", 3, bigSize)
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigDigest
}

func setupBlob(registries []*server, name string, seed uint64, size int64) (digest.Digest, error) {
	path := filepath.Join(fileServerDir(), name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	src := io.LimitReader(rand.NewChaCha8(seedOf(seed)), size)
	_, err = io.Copy(io.MultiWriter(f, h), src)
	if err1 := f.Close(); err == nil {
		err = err1
	}
	if err != nil {
		return "", err
	}
	dgst := digest.NewDigestFromBytes(digest.SHA256, h.Sum(nil))
	for _, s := range registries {
		// The client closes the body it sends, so each push opens the file.
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		if err := pushBlob(s.pushHost(), pullRepo, dgst, size, f); err != nil {
			return "", fmt.Errorf("pushing %s to %s: %w", name, s.name, err)
		}
		if !s.pushable() {
			// Warm the proxy's cache.
			if err := pull("http://"+s.host+"/v2/"+pullRepo+"/blobs/"+dgst.String(), size); err != nil {
				return "", fmt.Errorf("pulling %s through %s: %w", name, s.name, err)
			}
		}
		s.stored.Add(size)
	}
	return dgst, nil
}

// setupManifest pushes a small image (a config, one layer and the
// manifest, tagged) to every registry, once per process.
func setupManifest(b *testing.B, registries []*server) {
	manifestOnce.Do(func() {
		for _, s := range registries {
			n, manifest, err := pushImage(s.pushHost())
			if err != nil {
				manifestErr = fmt.Errorf("pushing an image to %s: %w", s.name, err)
				return
			}
			if err := os.WriteFile(filepath.Join(fileServerDir(), floorManifestFile), manifest, 0o666); err != nil {
				manifestErr = err
				return
			}
			s.stored.Add(n)
			if !s.pushable() {
				// Warm the proxy's cache.
				url := "http://" + s.host + "/v2/" + manifestRepo + "/manifests/" + manifestTag
				if err := requestManifest(http.MethodGet, url); err != nil {
					manifestErr = fmt.Errorf("pulling the manifest through %s: %w", s.name, err)
					return
				}
			}
		}
	})
	if manifestErr != nil {
		b.Fatal(manifestErr)
	}
}

// floorManifestFile is the file in fileServerDir() that the file server
// answers every manifest request with (see floorManifest).
const floorManifestFile = "manifest.json"

// pushImage pushes the image and returns the bytes it stored and the
// manifest.
func pushImage(host string) (int64, []byte, error) {
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := randomBytes(4, 4096)
	var descs []ocispec.Descriptor
	for _, blob := range []struct {
		mediaType string
		data      []byte
	}{
		{ocispec.MediaTypeImageConfig, config},
		{ocispec.MediaTypeImageLayerGzip, layer},
	} {
		d := digest.FromBytes(blob.data)
		if err := pushBlob(host, manifestRepo, d, int64(len(blob.data)), bytes.NewReader(blob.data)); err != nil {
			return 0, nil, err
		}
		descs = append(descs, ocispec.Descriptor{MediaType: blob.mediaType, Digest: d, Size: int64(len(blob.data))})
	}
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    descs[0],
		Layers:    descs[1:],
	}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodPut, "http://"+host+"/v2/"+manifestRepo+"/manifests/"+manifestTag, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	if err := expect(client.Do(req))(http.StatusCreated); err != nil {
		return 0, nil, err
	}
	return int64(len(config) + len(layer) + len(data)), data, nil
}

// pushBlob pushes a blob monolithically: a POST to start the upload and a
// PUT of the whole content.
func pushBlob(host, repo string, dgst digest.Digest, size int64, body io.Reader) error {
	start := "http://" + host + "/v2/" + repo + "/blobs/uploads/"
	resp, err := client.Post(start, "", nil)
	if err := expect(resp, err)(http.StatusAccepted); err != nil {
		return err
	}
	base, _ := url.Parse(start)
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("upload location: %v", err)
	}
	q := loc.Query()
	q.Set("digest", dgst.String())
	loc.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodPut, loc.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	return expect(client.Do(req))(http.StatusCreated)
}

// chunkSize is the size of the PATCH requests of a chunked push.
const chunkSize = 8 * mib

// pushBlobChunked pushes a blob in PATCH requests of chunkSize bytes
// with Content-Range, and a PUT without a body.
func pushBlobChunked(host, repo string, dgst digest.Digest, size int64, body io.Reader) error {
	start := "http://" + host + "/v2/" + repo + "/blobs/uploads/"
	resp, err := client.Post(start, "", nil)
	if err := expect(resp, err)(http.StatusAccepted); err != nil {
		return err
	}
	loc, err := url.Parse(start)
	if err != nil {
		return err
	}
	for off := int64(0); off < size; off += chunkSize {
		n := min(chunkSize, size-off)
		if loc, err = loc.Parse(resp.Header.Get("Location")); err != nil {
			return fmt.Errorf("upload location: %v", err)
		}
		req, err := http.NewRequest(http.MethodPatch, loc.String(), io.LimitReader(body, n))
		if err != nil {
			return err
		}
		req.ContentLength = n
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", off, off+n-1))
		resp, err = client.Do(req)
		if err := expect(resp, err)(http.StatusAccepted); err != nil {
			return err
		}
	}
	if loc, err = loc.Parse(resp.Header.Get("Location")); err != nil {
		return fmt.Errorf("upload location: %v", err)
	}
	q := loc.Query()
	q.Set("digest", dgst.String())
	loc.RawQuery = q.Encode()
	req, err := http.NewRequest(http.MethodPut, loc.String(), nil)
	if err != nil {
		return err
	}
	return expect(client.Do(req))(http.StatusCreated)
}

func deleteBlob(host, repo string, dgst digest.Digest) error {
	req, err := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/"+repo+"/blobs/"+dgst.String(), nil)
	if err != nil {
		return err
	}
	return expect(client.Do(req))(http.StatusAccepted)
}

// pull GETs url and checks that it answers 200 with size bytes.
func pull(url string, size int64) error {
	return pullTo(io.Discard, url, size)
}

// pullTo GETs url, copies the body to w, and checks that it answers 200
// with size bytes.
func pullTo(w io.Writer, url string, size int64) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("GET %s: got %d bytes, want %d", url, n, size)
	}
	return nil
}

// expect returns a function that reads and closes the response body and
// fails unless the request succeeded with the status want.
func expect(resp *http.Response, err error) func(want int) error {
	return func(want int) error {
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: %s, want %d: %s", resp.Request.Method, resp.Request.URL, resp.Status, want, body)
		}
		return nil
	}
}

func seedOf(n uint64) [32]byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], n)
	return seed
}

func randomBytes(seed uint64, n int) []byte {
	data := make([]byte, n)
	rand.NewChaCha8(seedOf(seed)).Read(data)
	return data
}

// holdBlobs is how many blobs of pushSize BenchmarkHold pushes.
const holdBlobs = 8

// BenchmarkHold pushes 512 MiB of new blobs to each in-memory server
// and reports its resident memory over the bytes it holds, beyond its
// resident size when it started: held-x once the pushes are done and
// peak-held-x at its peak during them. The blobs are deleted afterwards.
func BenchmarkHold(b *testing.B) {
	registries, _ := startServers(b)
	for _, s := range registries {
		if !s.inMemory {
			continue
		}
		b.Run("server="+s.name, func(b *testing.B) {
			var held, peakHeld float64
			for i := range b.N {
				startMemory(b, s)
				var dgsts []digest.Digest
				for j := range holdBlobs {
					data := randomBytes(uint64(1000+i*holdBlobs+j), pushSize)
					d := digest.FromBytes(data)
					if err := pushBlob(s.host, pushRepo, d, pushSize, bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
					dgsts = append(dgsts, d)
				}
				rss, peak, err := s.memory()
				if err != nil {
					b.Fatal(err)
				}
				stored := float64(s.stored.Load() + holdBlobs*pushSize)
				held = float64(rss-s.baseRSS) / stored
				peakHeld = float64(peak-s.baseRSS) / stored
				for _, d := range dgsts {
					if err := deleteBlob(s.host, pushRepo, d); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(held, "held-x")
			b.ReportMetric(peakHeld, "peak-held-x")
		})
	}
}
