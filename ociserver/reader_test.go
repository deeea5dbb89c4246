package ociserver_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestGetBlob(t *testing.T) {
	r := ocimem.New()
	desc := pushBlob(t, r, "foo/bar", "hello, world")
	base := newServer(t, r, nil)
	path := "/v2/foo/bar/blobs/" + string(desc.Digest)

	resp := do(t, base, request{method: "GET", path: path})
	qt.Check(t, qt.Equals(resp.status, 200))
	qt.Check(t, qt.Equals(resp.body, "hello, world"))
	qt.Check(t, qt.Equals(resp.header.Get("Content-Type"), "application/octet-stream"))
	qt.Check(t, qt.Equals(resp.header.Get("Content-Length"), "12"))
	qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(desc.Digest)))

	resp = do(t, base, request{method: "HEAD", path: path})
	qt.Check(t, qt.Equals(resp.status, 200))
	qt.Check(t, qt.Equals(resp.body, ""))
	qt.Check(t, qt.Equals(resp.header.Get("Content-Length"), "12"))
	qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(desc.Digest)))

	// The blob is only in the repository it was pushed to.
	resp = do(t, base, request{method: "GET", path: "/v2/other/blobs/" + string(desc.Digest)})
	checkError(t, resp, 404, "BLOB_UNKNOWN")
	resp = do(t, base, request{method: "GET", path: "/v2/foo/bar/blobs/" + goodDigest})
	checkError(t, resp, 404, "BLOB_UNKNOWN")
	resp = do(t, base, request{method: "HEAD", path: "/v2/foo/bar/blobs/" + goodDigest})
	qt.Check(t, qt.Equals(resp.status, 404))
	qt.Check(t, qt.Equals(resp.body, ""))
}

func TestGetBlobRange(t *testing.T) {
	r := ocimem.New()
	const content = "0123456789"
	desc := pushBlob(t, r, "foo", content)
	empty := pushBlob(t, r, "foo", "")
	base := newServer(t, r, nil)
	tests := []struct {
		rangeHeader  string
		blob         ociregistry.Descriptor
		status       int
		body         string
		contentRange string
	}{
		{"bytes=0-3", desc, 206, "0123", "bytes 0-3/10"},
		{"bytes=2-2", desc, 206, "2", "bytes 2-2/10"},
		{"bytes=7-", desc, 206, "789", "bytes 7-9/10"},
		{"bytes=5-100", desc, 206, "56789", "bytes 5-9/10"},
		{"bytes=-3", desc, 206, "789", "bytes 7-9/10"},
		{"bytes=-100", desc, 206, content, "bytes 0-9/10"},
		{"bytes=10-", desc, 416, "", "bytes */10"},
		{"bytes=10-20", desc, 416, "", "bytes */10"},
		{"bytes=-0", desc, 416, "", "bytes */10"},
		// The empty blob has no range: it is sent whole, as
		// net/http's file server and Distribution do.
		{"bytes=0-", empty, 200, "", ""},
		{"bytes=0-0", empty, 200, "", ""},
		{"bytes=-1", empty, 200, "", ""},
		{"bytes=3-1", desc, 416, "", "bytes */10"},
		{"bytes=a-b", desc, 416, "", "bytes */10"},
		{"bytes=5", desc, 416, "", "bytes */10"},
		// Of a blob that is not there, a malformed range says nothing.
		{"bytes=a-b", ociregistry.Descriptor{Digest: digest.FromString("absent")}, 404, "", ""},
		// Positions past what an int64 holds are past the end of any
		// blob: RFC 9110 puts no bound on their digits.
		{"bytes=0-9223372036854775807", desc, 206, content, "bytes 0-9/10"},
		{"bytes=0-99999999999999999999", desc, 206, content, "bytes 0-9/10"},
		{"bytes=-99999999999999999999", desc, 206, content, "bytes 0-9/10"},
		{"bytes=99999999999999999999-", desc, 416, "", "bytes */10"},
		{"bytes=9223372036854775807-", desc, 416, "", "bytes */10"},
		// Ranges that RFC 9110 lets a server ignore get the whole blob.
		{"bytes=0-1,4-5", desc, 200, content, ""},
		{"items=0-1", desc, 200, content, ""},
	}
	for _, test := range tests {
		t.Run(test.rangeHeader, func(t *testing.T) {
			resp := do(t, base, request{
				method: "GET",
				path:   "/v2/foo/blobs/" + string(test.blob.Digest),
				header: map[string]string{"Range": test.rangeHeader},
			})
			qt.Check(t, qt.Equals(resp.status, test.status), qt.Commentf("body %s", resp.body))
			qt.Check(t, qt.Equals(resp.header.Get("Content-Range"), test.contentRange))
			switch test.status {
			case 416:
				qt.Check(t, qt.Equals(errorCode(t, resp.body), "RANGE_INVALID"))
				return
			case 404:
				qt.Check(t, qt.Equals(errorCode(t, resp.body), "BLOB_UNKNOWN"))
				return
			}
			qt.Check(t, qt.Equals(resp.body, test.body))
			qt.Check(t, qt.Equals(resp.header.Get("Content-Length"), strconv.Itoa(len(test.body))))
			qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(test.blob.Digest)))
		})
	}
}

// trackingReader is a BlobReader that records whether it was closed and
// whether its content was copied through WriteTo, the path that lets
// net/http use sendfile for an *os.File.
type trackingReader struct {
	*bytes.Reader
	desc    ociregistry.Descriptor
	closed  atomic.Bool
	writeTo atomic.Bool
}

func (r *trackingReader) Close() error                       { r.closed.Store(true); return nil }
func (r *trackingReader) Descriptor() ociregistry.Descriptor { return r.desc }
func (r *trackingReader) WriteTo(w io.Writer) (int64, error) {
	r.writeTo.Store(true)
	return r.Reader.WriteTo(w)
}

func TestGetBlobUsesWriterTo(t *testing.T) {
	const content = "some content"
	desc := ociregistry.Descriptor{Digest: goodDigest, Size: int64(len(content))}
	rd := &trackingReader{Reader: bytes.NewReader([]byte(content)), desc: desc}
	r := &ociregistry.Funcs{
		GetBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
			return rd, nil
		},
	}
	base := newServer(t, r, nil)
	resp := do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + goodDigest})
	qt.Check(t, qt.Equals(resp.body, content))
	qt.Check(t, qt.IsTrue(rd.writeTo.Load()))
	qt.Check(t, qt.IsTrue(rd.closed.Load()))
}

func TestGetBlobRedirect(t *testing.T) {
	desc := ociregistry.Descriptor{Digest: goodDigest, Size: 5, URLs: []string{"https://example.com/blob/1", "https://example.com/blob/2"}}
	rd := &trackingReader{Reader: bytes.NewReader([]byte("hello")), desc: desc}
	r := &ociregistry.Funcs{
		GetBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
			return rd, nil
		},
		GetBlobRange_: func(ctx context.Context, repo string, d ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
			return rd, nil
		},
		ResolveBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
			return desc, nil
		},
	}
	base := newServer(t, r, nil)
	for _, rq := range []struct{ method, rangeHeader string }{
		{"GET", ""}, {"HEAD", ""}, {"GET", "bytes=1-2"}, {"GET", "bytes=-2"},
	} {
		req, err := http.NewRequest(rq.method, base+"/v2/foo/blobs/"+goodDigest, nil)
		qt.Assert(t, qt.IsNil(err))
		if rq.rangeHeader != "" {
			req.Header.Set("Range", rq.rangeHeader)
		}
		resp, err := noRedirect.Do(req)
		qt.Assert(t, qt.IsNil(err))
		resp.Body.Close()
		qt.Check(t, qt.Equals(resp.StatusCode, http.StatusTemporaryRedirect))
		qt.Check(t, qt.Equals(resp.Header.Get("Location"), "https://example.com/blob/1"))
	}
	qt.Check(t, qt.IsTrue(rd.closed.Load()))
}

func TestGetManifest(t *testing.T) {
	r := ocimem.New()
	data := imageManifest(t, r, "foo", "seed", nil, "")
	desc, err := r.PushManifest(context.Background(), "foo", "v1", data, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	base := newServer(t, r, nil)
	for _, ref := range []string{"v1", string(desc.Digest)} {
		for _, accept := range []string{"", ocispec.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json", "*/*"} {
			t.Run(ref+" "+accept, func(t *testing.T) {
				// The stored manifest is served whatever the client
				// accepts: there is no other form of it.
				rq := request{method: "GET", path: "/v2/foo/manifests/" + ref, header: map[string]string{"Accept": accept}}
				resp := do(t, base, rq)
				qt.Check(t, qt.Equals(resp.status, 200))
				qt.Check(t, qt.Equals(resp.body, string(data)))
				qt.Check(t, qt.Equals(resp.header.Get("Content-Type"), ocispec.MediaTypeImageManifest))
				qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(desc.Digest)))
				qt.Check(t, qt.Equals(resp.header.Get("Content-Length"), strconv.Itoa(len(data))))

				rq.method = "HEAD"
				resp = do(t, base, rq)
				qt.Check(t, qt.Equals(resp.status, 200))
				qt.Check(t, qt.Equals(resp.body, ""))
				qt.Check(t, qt.Equals(resp.header.Get("Content-Type"), ocispec.MediaTypeImageManifest))
				qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(desc.Digest)))
				qt.Check(t, qt.Equals(resp.header.Get("Content-Length"), strconv.Itoa(len(data))))
			})
		}
	}
	for _, path := range []string{"/v2/foo/manifests/v2", "/v2/foo/manifests/" + goodDigest, "/v2/nothere/manifests/v1"} {
		resp := do(t, base, request{method: "GET", path: path})
		checkError(t, resp, 404, "MANIFEST_UNKNOWN")
		resp = do(t, base, request{method: "HEAD", path: path})
		qt.Check(t, qt.Equals(resp.status, 404))
		qt.Check(t, qt.Equals(resp.body, ""))
	}
}

// TestHeadWithoutResolve checks that HEAD works with a backend that can
// only get content, not resolve it.
func TestHeadWithoutResolve(t *testing.T) {
	mem := ocimem.New()
	blob := pushBlob(t, mem, "foo", "blob content")
	m := pushManifest(t, mem, "foo", "v1", "seed", nil, "")
	r := &ociregistry.Funcs{GetBlob_: mem.GetBlob, GetManifest_: mem.GetManifest, GetTag_: mem.GetTag}
	base := newServer(t, r, nil)
	tests := []struct {
		path   string
		digest ociregistry.Digest
		size   int64
	}{
		{"/v2/foo/blobs/" + string(blob.Digest), blob.Digest, blob.Size},
		{"/v2/foo/manifests/" + string(m.Digest), m.Digest, m.Size},
		{"/v2/foo/manifests/v1", m.Digest, m.Size},
	}
	for _, test := range tests {
		resp := do(t, base, request{method: "HEAD", path: test.path})
		qt.Check(t, qt.Equals(resp.status, 200))
		qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(test.digest)))
		qt.Check(t, qt.Equals(resp.header.Get("Content-Length"), strconv.FormatInt(test.size, 10)))
	}
	resp := do(t, base, request{method: "HEAD", path: "/v2/foo/manifests/v2"})
	qt.Check(t, qt.Equals(resp.status, 404))
}

// fileRangeRecorder is a ResponseWriter that notes whether ReadFrom was
// handed what a TCP connection turns into sendfile: a file (a
// syscall.Conn, as *os.File is), or an *io.LimitedReader of one.
type fileRangeRecorder struct {
	*httptest.ResponseRecorder
	sentFile bool
}

func (r *fileRangeRecorder) ReadFrom(src io.Reader) (int64, error) {
	f := src
	if lr, ok := src.(*io.LimitedReader); ok {
		f = lr.R
	}
	if _, ok := f.(syscall.Conn); ok {
		r.sentFile = true
	}
	return io.Copy(r.ResponseRecorder, src)
}

func TestGetBlobRangeSendsFile(t *testing.T) {
	r, err := ocifs.New(t.TempDir(), nil)
	qt.Assert(t, qt.IsNil(err))
	desc := pushBlob(t, r, "foo", "0123456789abcdef")
	h := ociserver.New(r, nil)
	for _, rng := range []string{"", "bytes=3-9", "bytes=-4", "bytes=10-"} {
		t.Run(rng, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v2/foo/blobs/"+string(desc.Digest), nil)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			rec := &fileRangeRecorder{ResponseRecorder: httptest.NewRecorder()}
			h.ServeHTTP(rec, req)
			qt.Check(t, qt.IsTrue(rec.sentFile), qt.Commentf("body not sent from the file"))
			want := map[string]string{"": "0123456789abcdef", "bytes=3-9": "3456789", "bytes=-4": "cdef", "bytes=10-": "abcdef"}[rng]
			qt.Check(t, qt.Equals(rec.Body.String(), want))
		})
	}
}

func TestGetBlobRangeBackendOverrun(t *testing.T) {
	// A backend that answers a range with the whole blob must not make
	// the server send more than the Content-Length it announced.
	mem := ocimem.New()
	desc := pushBlob(t, mem, "foo", "0123456789")
	r := &ociregistry.Funcs{
		GetBlobRange_: func(ctx context.Context, repo string, d ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
			return mem.GetBlob(ctx, repo, d)
		},
	}
	base := newServer(t, r, nil)
	resp := do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + string(desc.Digest), header: map[string]string{"Range": "bytes=2-4"}})
	qt.Check(t, qt.Equals(resp.status, 206))
	qt.Check(t, qt.Equals(resp.header.Get("Content-Range"), "bytes 2-4/10"))
	qt.Check(t, qt.Equals(resp.body, "012"))
}

// TestManifestIfNoneMatch checks that a manifest GET or HEAD whose
// If-None-Match names the manifest's ETag is answered 304 Not Modified,
// without the content, and any other is answered in full.
func TestManifestIfNoneMatch(t *testing.T) {
	r := ocimem.New()
	data := imageManifest(t, r, "foo", "seed", nil, "")
	desc, err := r.PushManifest(context.Background(), "foo", "v1", data, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	base := newServer(t, r, nil)
	etag := `"` + string(desc.Digest) + `"`
	tests := []struct {
		inm  string
		want int
	}{
		{etag, http.StatusNotModified},
		{"W/" + etag, http.StatusNotModified},
		{`"sha256:other", ` + etag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"sha256:other"`, http.StatusOK},
		{string(desc.Digest), http.StatusOK},
		{"", http.StatusOK},
	}
	for _, ref := range []string{"v1", string(desc.Digest)} {
		for _, method := range []string{"GET", "HEAD"} {
			for _, test := range tests {
				header := map[string]string{}
				if test.inm != "" {
					header["If-None-Match"] = test.inm
				}
				resp := do(t, base, request{method: method, path: "/v2/foo/manifests/" + ref, header: header})
				qt.Assert(t, qt.Equals(resp.status, test.want), qt.Commentf("%s %s If-None-Match: %s", method, ref, test.inm))
				qt.Check(t, qt.Equals(resp.header.Get("Etag"), etag))
				qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(desc.Digest)))
				switch {
				case test.want == http.StatusNotModified:
					qt.Check(t, qt.Equals(resp.body, ""))
				case method == "GET":
					qt.Check(t, qt.Equals(resp.body, string(data)))
				}
			}
		}
	}
}
