package ociserver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The benchmarks here run ociserver over ocimem in the test process, so
// that go test -cpuprofile and -memprofile see both the server and the
// store; internal/bench measures the ocireg binary against its peers.

const benchBlobSize = 64 << 20

var benchClient = &http.Client{Transport: &http.Transport{
	Proxy:               nil,
	MaxIdleConnsPerHost: 64,
	DisableCompression:  true,
}}

func benchServer(b *testing.B, r ociregistry.Interface) string {
	srv := httptest.NewServer(ociserver.New(r, nil))
	b.Cleanup(srv.Close)
	return srv.URL
}

func benchBlob(b *testing.B) ([]byte, digest.Digest) {
	data := make([]byte, benchBlobSize)
	rand.Read(data)
	return data, digest.FromBytes(data)
}

// startBenchUpload POSTs to start an upload and returns its location.
func startBenchUpload(b *testing.B, base, repo string) *url.URL {
	resp, err := benchClient.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Fatalf("POST upload: %s", resp.Status)
	}
	loc, err := url.Parse(base + "/")
	if err != nil {
		b.Fatal(err)
	}
	loc, err = loc.Parse(resp.Header.Get("Location"))
	if err != nil {
		b.Fatal(err)
	}
	return loc
}

func benchDo(b *testing.B, method, u string, body io.Reader, size int64, header map[string]string, want int) *http.Response {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = size
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %s, want %d", method, u, resp.Status, want)
	}
	return resp
}

func benchWithDigest(loc *url.URL, d digest.Digest) string {
	u := *loc
	q := u.Query()
	q.Set("digest", string(d))
	u.RawQuery = q.Encode()
	return u.String()
}

// BenchmarkMemPushMonolithic pushes a 64 MiB blob to ocimem with a POST
// and one PUT, then deletes it, so that the store does not grow.
func BenchmarkMemPushMonolithic(b *testing.B) {
	data, d := benchBlob(b)
	base := benchServer(b, ocimem.New())
	b.SetBytes(benchBlobSize)
	for b.Loop() {
		loc := startBenchUpload(b, base, "bench")
		benchDo(b, http.MethodPut, benchWithDigest(loc, d), bytes.NewReader(data), benchBlobSize, nil, http.StatusCreated)
		b.StopTimer()
		benchDo(b, http.MethodDelete, base+"/v2/bench/blobs/"+string(d), nil, 0, nil, http.StatusAccepted)
		b.StartTimer()
	}
}

// BenchmarkMemPushChunked pushes a 64 MiB blob to ocimem in PATCHes of
// 8 MiB and a PUT.
func BenchmarkMemPushChunked(b *testing.B) {
	data, d := benchBlob(b)
	base := benchServer(b, ocimem.New())
	const chunk = 8 << 20
	b.SetBytes(benchBlobSize)
	for b.Loop() {
		loc := startBenchUpload(b, base, "bench")
		for off := 0; off < len(data); off += chunk {
			resp := benchDo(b, http.MethodPatch, loc.String(), bytes.NewReader(data[off:off+chunk]), chunk, map[string]string{
				"Content-Range": fmt.Sprintf("%d-%d", off, off+chunk-1),
				"Content-Type":  "application/octet-stream",
			}, http.StatusAccepted)
			next, err := loc.Parse(resp.Header.Get("Location"))
			if err != nil {
				b.Fatal(err)
			}
			loc = next
		}
		benchDo(b, http.MethodPut, benchWithDigest(loc, d), nil, 0, nil, http.StatusCreated)
		b.StopTimer()
		benchDo(b, http.MethodDelete, base+"/v2/bench/blobs/"+string(d), nil, 0, nil, http.StatusAccepted)
		b.StartTimer()
	}
}

// BenchmarkMemPull pulls a 64 MiB blob from ocimem.
func BenchmarkMemPull(b *testing.B) {
	data, d := benchBlob(b)
	r := ocimem.New()
	if _, err := r.PushBlob(context.Background(), "bench", ociregistry.Descriptor{Digest: d, Size: benchBlobSize}, bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	base := benchServer(b, r)
	b.SetBytes(benchBlobSize)
	for b.Loop() {
		benchDo(b, http.MethodGet, base+"/v2/bench/blobs/"+string(d), nil, 0, nil, http.StatusOK)
	}
}

// BenchmarkMemManifest requests a manifest by tag with 32 concurrent
// clients, from a repository holding 1000 tagged manifests.
func BenchmarkMemManifest(b *testing.B) {
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		b.Run(method, func(b *testing.B) {
			benchmarkManifest(b, ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true}), method)
		})
	}
}

func benchmarkManifest(b *testing.B, r ociregistry.Interface, method string) {
	ctx := context.Background()
	for i := range 1000 {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":2},"layers":[],"annotations":{"i":"%d"}}`,
			ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, digest.FromString("{}"), i)
		if _, err := r.PushManifest(ctx, "bench/repo", fmt.Sprint("t", i), []byte(m), ocispec.MediaTypeImageManifest); err != nil {
			b.Fatal(err)
		}
	}
	base := benchServer(b, r)
	u := base + "/v2/bench/repo/manifests/t500"
	b.SetParallelism(16) // 32 clients on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(method, u, nil)
			req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
			resp, err := benchClient.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("%s: %s", method, resp.Status)
				return
			}
		}
	})
}
