package ocis3_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

// The benchmarks here are for profiling ocis3 and ociserver over
// versitygw (go test -bench . -cpuprofile); the comparison with
// Distribution is ./bench.sh -backend=s3.

const benchBlobSize = 64 << 20

// BenchmarkPushBlob pushes a new 64 MiB blob per iteration as a client
// does: POST, then PUT with the content.
func BenchmarkPushBlob(b *testing.B) {
	g := startGateway(b)
	srv := httptest.NewServer(ociserver.New(g.newRegistry(b, nil), nil))
	b.Cleanup(srv.Close)
	data := randomBytes(benchBlobSize)
	b.SetBytes(benchBlobSize)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		d := digest.FromBytes(data)
		b.StartTimer()
		resp, err := http.Post(srv.URL+"/v2/bench/blobs/uploads/", "", nil)
		qt.Assert(b, qt.IsNil(err))
		resp.Body.Close()
		qt.Assert(b, qt.Equals(resp.StatusCode, http.StatusAccepted))
		req, err := http.NewRequest("PUT", srv.URL+resp.Header.Get("Location")+"?digest="+string(d), bytes.NewReader(data))
		qt.Assert(b, qt.IsNil(err))
		resp, err = http.DefaultClient.Do(req)
		qt.Assert(b, qt.IsNil(err))
		resp.Body.Close()
		qt.Assert(b, qt.Equals(resp.StatusCode, http.StatusCreated))
	}
}

// BenchmarkPullBlob pulls a 64 MiB blob per iteration.
func BenchmarkPullBlob(b *testing.B) {
	g := startGateway(b)
	r := g.newRegistry(b, nil)
	desc := ocitest.PushBlob(b, r, "bench", randomBytes(benchBlobSize))
	srv := httptest.NewServer(ociserver.New(r, nil))
	b.Cleanup(srv.Close)
	b.SetBytes(benchBlobSize)
	for b.Loop() {
		resp, err := http.Get(srv.URL + "/v2/bench/blobs/" + string(desc.Digest))
		qt.Assert(b, qt.IsNil(err))
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		qt.Assert(b, qt.IsNil(err))
		qt.Assert(b, qt.Equals(n, int64(benchBlobSize)))
	}
}

// BenchmarkManifestGetByTag gets a manifest by tag from 32 clients at
// once.
func BenchmarkManifestGetByTag(b *testing.B) {
	g := startGateway(b)
	r := g.newRegistry(b, nil)
	ctx := context.Background()
	config := ocitest.PushBlob(b, r, "bench", []byte("{}"))
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},"layers":[]}`, config.Digest)
	_, err := r.PushManifest(ctx, "bench", "latest", []byte(manifest), "application/vnd.oci.image.manifest.v1+json")
	qt.Assert(b, qt.IsNil(err))
	srv := httptest.NewServer(ociserver.New(r, nil))
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var mu sync.Mutex
	b.SetParallelism(16) // 32 clients on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(srv.URL + "/v2/bench/manifests/latest")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %s", resp.Status)
				}
			}
			if err != nil {
				mu.Lock()
				b.Error(err)
				mu.Unlock()
				return
			}
		}
	})
}
