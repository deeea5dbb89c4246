package ocis3_test

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/ocis3"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

// countingTransport counts the S3 requests that pass through it, by
// the name of the S3 operation.
type countingTransport struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.counts[s3Operation(req)]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// take returns the counts so far and starts again from zero.
func (c *countingTransport) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.counts
	c.counts = map[string]int{}
	return m
}

// s3Operation names the S3 operation a request makes.
func s3Operation(req *http.Request) string {
	q := req.URL.Query()
	switch {
	case req.Method == "GET" && q.Has("list-type"):
		return "ListObjectsV2"
	case req.Method == "GET":
		return "GetObject"
	case req.Method == "HEAD":
		return "HeadObject"
	case req.Method == "PUT" && q.Has("partNumber") && req.Header.Get("X-Amz-Copy-Source") != "":
		return "UploadPartCopy"
	case req.Method == "PUT" && q.Has("partNumber"):
		return "UploadPart"
	case req.Method == "PUT":
		return "PutObject"
	case req.Method == "POST" && q.Has("uploads"):
		return "CreateMultipartUpload"
	case req.Method == "POST" && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case req.Method == "POST" && q.Has("delete"):
		return "DeleteObjects"
	case req.Method == "DELETE" && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case req.Method == "DELETE":
		return "DeleteObject"
	}
	return req.Method
}

func formatCounts(m map[string]int) string {
	total := 0
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		total += m[k]
	}
	return fmt.Sprintf("%2d: %s", total, strings.Join(parts, ", "))
}

// TestRequestCosts counts the S3 requests that each registry request
// costs when served by ociserver over the S3 backend, prints them (go
// test -v; README quotes them) and checks them, so that a change that
// makes an operation dearer shows.
func TestRequestCosts(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	counter := &countingTransport{counts: map[string]int{}}
	for _, redirect := range []bool{false, true} {
		r := g.newRegistry(t, func(c *ocis3.Config) {
			c.AWS = g.awsConfig(counter)
			c.Redirect = redirect
		})
		srv := httptest.NewServer(ociserver.New(r, nil))
		t.Cleanup(srv.Close)
		base := srv.URL + "/v2/costs/"
		// Content to read: an image with a tag, and the catalog
		// marker in place, as in a registry in use.
		img := ocitest.PushRandomImage(t, r, "costs", "v1")
		layer := img.Blobs[1]
		ocitest.PushBlob(t, r, "costs", []byte("warm"))
		counter.take()

		do := func(method, url, contentType string, body []byte) *http.Response {
			t.Helper()
			req, err := http.NewRequest(method, url, bytes.NewReader(body))
			qt.Assert(t, qt.IsNil(err))
			if body == nil {
				req.Body = nil
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			req.Header.Set("Accept", img.Manifest.MediaType)
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			qt.Assert(t, qt.IsNil(err))
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			qt.Assert(t, qt.IsTrue(resp.StatusCode < 400), qt.Commentf("%s %s: %s", method, url, resp.Status))
			return resp
		}
		small := randomBytes(100 << 10)
		large := randomBytes(20 << 20)
		const chunks = 4
		chunked := randomBytes(chunks << 20)
		type op struct {
			name string
			run  func()
			want int // total S3 requests
		}
		ops := []op{
			{"manifest HEAD by tag", func() { do("HEAD", base+"manifests/v1", "", nil) }, 1},
			{"manifest GET by tag", func() { do("GET", base+"manifests/v1", "", nil) }, 1},
			{"manifest GET by digest", func() { do("GET", base+"manifests/"+string(img.Manifest.Digest), "", nil) }, 1},
			{"blob HEAD", func() { do("HEAD", base+"blobs/"+string(layer.Digest), "", nil) }, 1},
			{"blob GET", func() { do("GET", base+"blobs/"+string(layer.Digest), "", nil) }, map[bool]int{false: 2, true: 1}[redirect]},
			{"tags/list page", func() { do("GET", base+"tags/list?n=100", "", nil) }, 1},
			{"_catalog page", func() { do("GET", srv.URL+"/v2/_catalog?n=100", "", nil) }, 1},
			{"monolithic push, 100 KiB", func() {
				do("POST", base+"blobs/uploads/?digest="+string(digest.FromBytes(small)), "application/octet-stream", small)
			}, 4},
			{"monolithic push, 20 MiB", func() {
				do("POST", base+"blobs/uploads/?digest="+string(digest.FromBytes(large)), "application/octet-stream", large)
			}, 4},
			{"POST, then PUT of 20 MiB", func() {
				large := randomBytes(20 << 20)
				resp := do("POST", base+"blobs/uploads/", "", nil)
				do("PUT", srv.URL+resp.Header.Get("Location")+"?digest="+string(digest.FromBytes(large)), "application/octet-stream", large)
			}, 8},
			{"monolithic push, content already stored", func() {
				do("POST", srv.URL+"/v2/costs2/blobs/uploads/?digest="+string(digest.FromBytes(small)), "application/octet-stream", small)
			}, 6},
			{fmt.Sprintf("chunked push, %d PATCHes of 1 MiB", chunks), func() {
				resp := do("POST", base+"blobs/uploads/", "", nil)
				loc := srv.URL + resp.Header.Get("Location")
				for i := range chunks {
					resp = do("PATCH", loc, "application/octet-stream", chunked[i<<20:(i+1)<<20])
					loc = srv.URL + resp.Header.Get("Location")
				}
				sep := "?"
				if strings.Contains(loc, "?") {
					sep = "&"
				}
				do("PUT", loc+sep+"digest="+string(digest.FromBytes(chunked)), "", nil)
			}, 1 + 3*chunks + 6 + chunks},
			{"manifest PUT with tag", func() {
				do("PUT", base+"manifests/v2", img.Manifest.MediaType, img.Content)
			}, 8 + len(img.Blobs)},
		}
		for _, o := range ops {
			o.run()
			got := counter.take()
			total := 0
			for _, n := range got {
				total += n
			}
			t.Logf("redirect=%v %-45s %s", redirect, o.name, formatCounts(got))
			qt.Check(t, qt.Equals(total, o.want), qt.Commentf("redirect=%v %s: %s", redirect, o.name, formatCounts(got)))
		}
	}
}
