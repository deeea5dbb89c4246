package ocifs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

const benchBlobSize = 64 << 20

func benchData(b *testing.B) []byte {
	data := make([]byte, benchBlobSize)
	rand.Read(data)
	return data
}

// BenchmarkPushBlob measures PushBlob's throughput: hashing, writing
// and fsyncing.
func BenchmarkPushBlob(b *testing.B) {
	r, err := ocifs.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	data := benchData(b)
	desc := descOf(data, "")
	b.SetBytes(benchBlobSize)
	for b.Loop() {
		if _, err := r.PushBlob(context.Background(), "bench", desc, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPullBlobHTTP measures the throughput of a blob GET through
// ociserver over loopback.
func BenchmarkPullBlobHTTP(b *testing.B) {
	r, err := ocifs.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	data := benchData(b)
	desc := descOf(data, "")
	if _, err := r.PushBlob(context.Background(), "bench", desc, bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	url := "http://" + ocitest.NewServer(b, r) + "/v2/bench/blobs/" + string(desc.Digest)
	b.SetBytes(benchBlobSize)
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != benchBlobSize {
			b.Fatalf("got %d bytes", n)
		}
	}
}

// BenchmarkGetTag measures GetTag and reading the manifest, in parallel.
func BenchmarkGetTag(b *testing.B) {
	r, err := ocifs.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	img, err := pushImageErr(context.Background(), r, "bench/repo", "latest", 3, newRand())
	if err != nil {
		b.Fatal(err)
	}
	// A tag written less than ClockSlack ago is read anew every time;
	// a registry's tags are mostly older.
	time.Sleep(ocifs.ClockSlack)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rd, err := r.GetTag(context.Background(), "bench/repo", "latest")
			if err != nil {
				b.Fatal(err)
			}
			data, _ := io.ReadAll(rd)
			rd.Close()
			if digest.FromBytes(data) != img.manifest.Digest {
				b.Fatal("wrong manifest")
			}
		}
	})
}

// BenchmarkPullFileServer measures what BenchmarkPullBlobHTTP is compared
// with: net/http's file server sending the same blob file.
func BenchmarkPullFileServer(b *testing.B) {
	dir := b.TempDir()
	r, err := ocifs.New(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	data := benchData(b)
	desc := descOf(data, "")
	if _, err := r.PushBlob(context.Background(), "bench", desc, bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	url := srv.URL + "/blobs/sha256/" + desc.Digest.Encoded()
	b.SetBytes(benchBlobSize)
	for b.Loop() {
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != benchBlobSize {
			b.Fatalf("got %d bytes", n)
		}
	}
}

// BenchmarkManifestHTTP measures manifest GETs by tag through ociserver
// over loopback from 32 concurrent clients.
func BenchmarkManifestHTTP(b *testing.B) {
	r, err := ocifs.New(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pushImageErr(context.Background(), r, "bench/repo", "latest", 3, newRand()); err != nil {
		b.Fatal(err)
	}
	url := "http://" + ocitest.NewServer(b, r) + "/v2/bench/repo/manifests/latest"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
