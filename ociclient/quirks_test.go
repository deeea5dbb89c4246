package ociclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

// serve starts h on a test server and returns a client of it.
func serve(t *testing.T, h http.Handler, opts *Options) ociregistry.Interface {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.Listener.Addr().String(), opts)
	qt.Assert(t, qt.IsNil(err))
	return c
}

// recorder records the requests that reach a handler.
type recorder struct {
	mu    sync.Mutex
	reqs  []string // "METHOD path?query"
	pings int
	hdrs  []http.Header
}

func (r *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		if req.Method == "GET" && req.URL.Path == "/v2/" {
			// The client learns, once, how the registry wants to be
			// authenticated before it sends a body that cannot be
			// sent twice.
			r.pings++
			r.mu.Unlock()
			h.ServeHTTP(w, req)
			return
		}
		s := req.Method + " " + req.URL.Path
		if req.URL.RawQuery != "" {
			s += "?" + req.URL.RawQuery
		}
		r.reqs = append(r.reqs, s)
		r.hdrs = append(r.hdrs, req.Header.Clone())
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	})
}

// methods returns the methods of the recorded requests.
func (r *recorder) methods() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ms []string
	for _, s := range r.reqs {
		m, _, _ := strings.Cut(s, " ")
		ms = append(ms, m)
	}
	return ms
}

// count returns the number of recorded requests.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

const testDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestErrorsFromStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		call    func(c ociregistry.Interface) error
		wantErr error
	}{
		{"HEADBlob404", 404, func(c ociregistry.Interface) error {
			_, err := c.ResolveBlob(context.Background(), "a/b", testDigest)
			return err
		}, ociregistry.ErrBlobUnknown},
		{"HEADManifest404", 404, func(c ociregistry.Interface) error {
			_, err := c.ResolveManifest(context.Background(), "a/b", testDigest)
			return err
		}, ociregistry.ErrManifestUnknown},
		{"HEADTag404", 404, func(c ociregistry.Interface) error {
			_, err := c.ResolveTag(context.Background(), "a/b", "latest")
			return err
		}, ociregistry.ErrManifestUnknown},
		{"Tags404", 404, func(c ociregistry.Interface) error {
			_, err := ociregistry.All(c.Tags(context.Background(), "a/b", ""))
			return err
		}, ociregistry.ErrNameUnknown},
		{"HEAD401", 401, func(c ociregistry.Interface) error {
			_, err := c.ResolveBlob(context.Background(), "a/b", testDigest)
			return err
		}, ociregistry.ErrUnauthorized},
		{"HEAD403", 403, func(c ociregistry.Interface) error {
			_, err := c.ResolveTag(context.Background(), "a/b", "x")
			return err
		}, ociregistry.ErrDenied},
		{"Delete405", 405, func(c ociregistry.Interface) error {
			return c.DeleteBlob(context.Background(), "a/b", testDigest)
		}, ociregistry.ErrUnsupported},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.WriteHeader(test.status)
			}), nil)
			err := test.call(c)
			qt.Assert(t, qt.ErrorIs(err, test.wantErr))
			qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(err), test.status))
		})
	}
}

func TestErrorBodies(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		wantErr     error
		wantAlso    error
		wantMsg     string
	}{{
		name:        "JSONAsTextPlain",
		status:      404,
		contentType: "text/plain; charset=utf-8",
		body:        `{"errors":[{"code":"NAME_UNKNOWN","message":"repository a/b not known"}]}`,
		wantErr:     ociregistry.ErrNameUnknown,
		// A manifest in a repository that does not exist is
		// unknown too.
		wantAlso: ociregistry.ErrManifestUnknown,
		wantMsg:  "repository a/b not known",
	}, {
		name:        "NotJSON",
		status:      502,
		contentType: "text/html",
		body:        "<html>bad gateway</html>",
		wantMsg:     "502 Bad Gateway: <html>bad gateway</html>",
	}, {
		name:        "TruncatedJSON",
		status:      404,
		contentType: "application/json",
		body:        `{"errors":[{"code":"NAME_UNKNOWN"`,
		wantErr:     ociregistry.ErrManifestUnknown, // from the path
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("Content-Type", test.contentType)
				w.WriteHeader(test.status)
				io.WriteString(w, test.body)
			}), &Options{MaxRetries: -1})
			_, err := c.GetTag(context.Background(), "a/b", "latest")
			qt.Assert(t, qt.IsNotNil(err))
			if test.wantErr != nil {
				qt.Assert(t, qt.ErrorIs(err, test.wantErr))
			}
			if test.wantAlso != nil {
				qt.Assert(t, qt.ErrorIs(err, test.wantAlso))
			}
			qt.Assert(t, qt.StringContains(err.Error(), test.wantMsg))
			qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(err), test.status))
		})
	}
}

func TestPushBlobSingleRequest(t *testing.T) {
	var rec recorder
	mem := ocimem.New()
	c := serve(t, rec.wrap(ociserver.New(mem, nil)), nil)
	data := []byte("single request")
	desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	_, err := c.PushBlob(context.Background(), "a/b", desc, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(rec.methods(), []string{"POST"}))
	assertMemBlob(t, mem, "a/b", data)

	// Once the client knows the registry, a push is one request.
	n := rec.count()
	data = []byte("another")
	desc = ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	_, err = c.PushBlob(context.Background(), "a/b", desc, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(rec.count(), n+1))
	assertMemBlob(t, mem, "a/b", data)
	qt.Assert(t, qt.Equals(rec.pings, 1))
}

func TestPushBlobFallsBackToPostPut(t *testing.T) {
	var rec recorder
	mem := ocimem.New()
	c := serve(t, rec.wrap(ociserver.New(mem, &ociserver.Options{DisableSinglePostUpload: true})), nil)
	for i, r := range []func(data []byte) io.Reader{
		func(data []byte) io.Reader { return bytes.NewReader(data) },                 // seekable
		func(data []byte) io.Reader { return io.MultiReader(bytes.NewReader(data)) }, // not seekable
	} {
		data := fmt.Appendf(nil, "blob %d", i)
		desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
		_, err := c.PushBlob(context.Background(), "a/b", desc, r(data))
		qt.Assert(t, qt.IsNil(err))
		assertMemBlob(t, mem, "a/b", data)
	}
	// The first push tried a single POST; the client then knows better.
	qt.Assert(t, qt.DeepEquals(rec.methods(), []string{"POST", "PUT", "POST", "PUT"}))
	qt.Assert(t, qt.StringContains(rec.reqs[0], "digest="))
	qt.Assert(t, qt.Not(qt.StringContains(rec.reqs[2], "digest=")))
}

func TestPushBlobWrongSize(t *testing.T) {
	c := serve(t, ociserver.New(ocimem.New(), nil), nil)
	data := []byte("twelve bytes")
	// A reader that can be read again is streamed, another is read
	// first; either way the length is what is wrong.
	readers := map[string]func() io.Reader{
		"seekable": func() io.Reader { return bytes.NewReader(data) },
		"stream":   func() io.Reader { return io.MultiReader(bytes.NewReader(data)) },
	}
	for name, r := range readers {
		for _, size := range []int64{5, 20} {
			desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: size}
			_, err := c.PushBlob(context.Background(), "a/b", desc, r())
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrSizeInvalid), qt.Commentf("%s, size %d", name, size))
		}
	}
}

func assertMemBlob(t *testing.T, mem *ocimem.Registry, repo string, data []byte) {
	t.Helper()
	r, err := mem.GetBlob(context.Background(), repo, digest.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(r)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(got, data)))
}

// quirks wraps h with the behaviour of registries seen in the wild:
// a minimum chunk size (said on the POST that starts an upload and on
// the GET of its status), Distribution's 416 for a Content-Range on an
// empty final PUT, and a 201 without Location at the end of an upload.
func quirks(h http.Handler, minChunk int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		isUpload := strings.Contains(req.URL.Path, "/blobs/uploads/")
		if isUpload && req.Method == "PUT" && req.ContentLength == 0 && req.Header.Get("Content-Range") != "" {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if isUpload && req.Method == "PATCH" && req.ContentLength < int64(minChunk) {
			http.Error(w, "chunk too small", http.StatusBadRequest)
			return
		}
		h.ServeHTTP(&quirkWriter{ResponseWriter: w, minChunk: minChunk, req: req}, req)
	})
}

type quirkWriter struct {
	http.ResponseWriter
	minChunk int
	req      *http.Request
}

func (w *quirkWriter) WriteHeader(status int) {
	switch {
	case w.req.Method == "POST" && status == http.StatusAccepted,
		w.req.Method == "GET" && status == http.StatusNoContent && strings.Contains(w.req.URL.Path, "/uploads/"):
		w.Header().Set("OCI-Chunk-Min-Length", strconv.Itoa(w.minChunk))
	case w.req.Method == "PUT" && status == http.StatusCreated && strings.Contains(w.req.URL.Path, "/uploads/"):
		w.Header().Del("Location")
	}
	w.ResponseWriter.WriteHeader(status)
}

func TestChunkedUploadQuirks(t *testing.T) {
	var rec recorder
	mem := ocimem.New()
	c := serve(t, rec.wrap(quirks(ociserver.New(mem, nil), 1000)), nil)
	w, err := c.PushBlobChunked(context.Background(), "a/b", 10)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(w.ChunkSize(), 1000))
	data := bytes.Repeat([]byte("0123456789"), 200)
	for i := 0; i < len(data); i += 100 {
		_, err := w.Write(data[i : i+100])
		qt.Assert(t, qt.IsNil(err))
	}
	qt.Assert(t, qt.Equals(w.Size(), int64(2000)))
	desc, err := w.Commit(digest.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Size, int64(2000)))
	qt.Assert(t, qt.DeepEquals(rec.methods(), []string{"POST", "PATCH", "PATCH", "PUT"}))
	qt.Assert(t, qt.Equals(rec.hdrs[1].Get("Content-Range"), "0-999"))
	qt.Assert(t, qt.Equals(rec.hdrs[2].Get("Content-Range"), "1000-1999"))
	qt.Assert(t, qt.Equals(rec.hdrs[3].Get("Content-Range"), ""))
	assertMemBlob(t, mem, "a/b", data)
	qt.Assert(t, qt.IsNil(w.Cancel()))

	// A writer that resumes the upload by ID must keep to the minimum
	// too, though it asked for smaller chunks: it learns the minimum
	// from the upload's status.
	data = bytes.Repeat([]byte("abcdefghij"), 200)
	w, err = c.PushBlobChunked(context.Background(), "a/b", 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.Write(data[:1000])
	qt.Assert(t, qt.IsNil(err))
	id := w.ID()
	qt.Assert(t, qt.IsNil(w.Close()))
	w, err = c.PushBlobChunkedResume(context.Background(), "a/b", id, 1000, 10)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(w.ChunkSize(), 1000))
	for i := 1000; i < len(data); i += 100 {
		_, err := w.Write(data[i : i+100])
		qt.Assert(t, qt.IsNil(err))
	}
	_, err = w.Commit(digest.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
	assertMemBlob(t, mem, "a/b", data)
}

// dropServer is a registry that holds a single upload and drops the
// connection in the middle of the first PATCH, after storing half of it.
type dropServer struct {
	mu      sync.Mutex
	data    []byte
	dropped bool
	blob    []byte
}

func (s *dropServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	setRange := func() {
		w.Header().Set("Location", "/v2/a/b/blobs/uploads/1")
		w.Header().Set("Range", fmt.Sprintf("0-%d", max(len(s.data)-1, 0)))
	}
	switch req.Method {
	case "POST":
		setRange()
		w.WriteHeader(http.StatusAccepted)
	case "GET":
		setRange()
		w.WriteHeader(http.StatusNoContent)
	case "PATCH":
		if !s.dropped {
			s.dropped = true
			half := make([]byte, req.ContentLength/2)
			io.ReadFull(req.Body, half)
			s.data = append(s.data, half...)
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		start, _, _ := strings.Cut(req.Header.Get("Content-Range"), "-")
		if start != strconv.Itoa(len(s.data)) {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		body, _ := io.ReadAll(req.Body)
		s.data = append(s.data, body...)
		setRange()
		w.WriteHeader(http.StatusAccepted)
	case "PUT":
		body, _ := io.ReadAll(req.Body)
		s.data = append(s.data, body...)
		if digest.FromBytes(s.data).String() != req.URL.Query().Get("digest") {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errors":[{"code":"DIGEST_INVALID"}]}`)
			return
		}
		s.blob = s.data
		w.WriteHeader(http.StatusCreated)
	}
}

func TestChunkedUploadResumesAfterDrop(t *testing.T) {
	var s dropServer
	c := serve(t, &s, nil)
	w, err := c.PushBlobChunked(context.Background(), "a/b", 64)
	qt.Assert(t, qt.IsNil(err))
	data := bytes.Repeat([]byte("abcdefgh"), 40)
	_, err = w.Write(data)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.Commit(digest.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(s.dropped))
	qt.Assert(t, qt.IsTrue(bytes.Equal(s.blob, data)))
}

func TestMountFallsBackToPush(t *testing.T) {
	mem := ocimem.New()
	// This registry answers every mount with an upload session.
	h := ociserver.New(mem, nil)
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		q.Del("mount")
		q.Del("from")
		req.URL.RawQuery = q.Encode()
		h.ServeHTTP(w, req)
	}), nil)
	ctx := context.Background()
	data := []byte("mount me")
	desc := ocitest.PushBlob(t, mem, "from/repo", data)
	got, err := c.MountBlob(ctx, "from/repo", "to/repo", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(got.Digest, desc.Digest))
	qt.Assert(t, qt.Equals(got.Size, desc.Size))
	assertMemBlob(t, mem, "to/repo", data)

	_, err = c.MountBlob(ctx, "from/repo", "to/repo", digest.FromString("missing"))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
}

func TestGetBlobRange(t *testing.T) {
	mem := ocimem.New()
	data := []byte("0123456789")
	desc := ocitest.PushBlob(t, mem, "a/b", data)
	tests := []struct {
		name           string
		offset0        int64
		offset1        int64
		want           string
		wantErr        error
		ignoresRange   bool
		wantHTTPStatus int
	}{
		{name: "Middle", offset0: 2, offset1: 5, want: "234"},
		{name: "ToEnd", offset0: 7, offset1: -1, want: "789"},
		{name: "PastEnd", offset0: 7, offset1: 100, want: "789"},
		{name: "AtEnd", offset0: 10, offset1: -1, want: ""},
		{name: "Empty", offset0: 3, offset1: 3, want: ""},
		{name: "StartPastEnd", offset0: 11, offset1: -1, wantErr: ociregistry.ErrRangeInvalid},
		{name: "Backwards", offset0: 5, offset1: 2, wantErr: ociregistry.ErrRangeInvalid},
		{name: "IgnoredMiddle", offset0: 2, offset1: 5, want: "234", ignoresRange: true},
		{name: "IgnoredToEnd", offset0: 7, offset1: -1, want: "789", ignoresRange: true},
		{name: "IgnoredStartPastEnd", offset0: 11, offset1: -1, wantErr: ociregistry.ErrRangeInvalid, ignoresRange: true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			h := ociserver.New(mem, nil)
			c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if test.ignoresRange {
					req.Header.Del("Range")
				}
				h.ServeHTTP(w, req)
			}), nil)
			r, err := c.GetBlobRange(context.Background(), "a/b", desc.Digest, test.offset0, test.offset1)
			if test.wantErr != nil {
				qt.Assert(t, qt.ErrorIs(err, test.wantErr))
				return
			}
			qt.Assert(t, qt.IsNil(err))
			defer r.Close()
			got, err := io.ReadAll(r)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(string(got), test.want))
			qt.Assert(t, qt.Equals(r.Descriptor().Size, int64(10)))
			qt.Assert(t, qt.Equals(r.Descriptor().Digest, desc.Digest))
		})
	}
}

func TestGetBlobFollowsRedirect(t *testing.T) {
	data := []byte("stored elsewhere")
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Write(data)
	}))
	defer storage.Close()
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, storage.URL+"/some/object", http.StatusTemporaryRedirect)
	}), nil)
	r, err := c.GetBlob(context.Background(), "a/b", digest.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(r)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(string(got), string(data)))
}

func TestBadContentOnRead(t *testing.T) {
	good := []byte("the content that was pushed")
	dig := digest.FromBytes(good)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr error
	}{{
		name: "WrongContent",
		handler: func(w http.ResponseWriter, req *http.Request) {
			w.Write(bytes.ToUpper(good))
		},
		wantErr: ociregistry.ErrDigestInvalid,
	}, {
		name: "Truncated",
		handler: func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(good)))
			w.Write(good[:10])
		},
		wantErr: io.ErrUnexpectedEOF,
	}, {
		name: "ShortContentLength",
		handler: func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.Write(good[:5])
		},
		// The length is all that says how long the blob is.
		wantErr: ociregistry.ErrDigestInvalid,
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			c := serve(t, test.handler, &Options{MaxRetries: -1})
			r, err := c.GetBlob(context.Background(), "a/b", dig)
			qt.Assert(t, qt.IsNil(err))
			_, err = io.ReadAll(r)
			qt.Assert(t, qt.ErrorIs(err, test.wantErr))
			r.Close()
		})
	}
	t.Run("Manifest", func(t *testing.T) {
		manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
		mdig := digest.FromBytes(manifest)
		big := bytes.Repeat([]byte(" "), 200)
		tests := []struct {
			name    string
			handler http.HandlerFunc
			wantErr error
			wantMsg string
		}{{
			name: "WrongContent",
			handler: func(w http.ResponseWriter, req *http.Request) {
				w.Write([]byte(`{"schemaVersion":2}`))
			},
			wantErr: ociregistry.ErrDigestInvalid,
			wantMsg: `manifest sha256:[0-9a-f]+: content has digest sha256:[0-9a-f]+, want sha256:[0-9a-f]+: provided digest did not match uploaded content`,
		}, {
			name: "Truncated",
			handler: func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(manifest)+10))
				w.Write(manifest)
			},
			wantErr: ociregistry.ErrSizeInvalid,
			wantMsg: fmt.Sprintf(`manifest sha256:[0-9a-f]+: got %d bytes, Content-Length said %d: provided length did not match content length \(unexpected EOF\)`, len(manifest), len(manifest)+10),
		}, {
			name: "OverLimit",
			handler: func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				w.Write(big)
			},
			wantErr: ociregistry.ErrManifestInvalid,
			wantMsg: `manifest sha256:[0-9a-f]+ is 200 bytes, more than the limit of 100: manifest invalid`,
		}, {
			name: "OverLimitNoLength",
			handler: func(w http.ResponseWriter, req *http.Request) {
				// Flushing before the end sends the body
				// chunked, with no Content-Length to go by.
				w.Write(big[:50])
				w.(http.Flusher).Flush()
				w.Write(big[50:])
			},
			wantErr: ociregistry.ErrManifestInvalid,
			wantMsg: `manifest sha256:[0-9a-f]+ is more than the limit of 100 bytes: manifest invalid`,
		}}
		for _, test := range tests {
			t.Run(test.name, func(t *testing.T) {
				c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
					test.handler(w, req)
				}), &Options{MaxRetries: -1, MaxManifestSize: 100})
				r, err := c.GetManifest(context.Background(), "a/b", mdig)
				qt.Assert(t, qt.IsNil(r))
				qt.Assert(t, qt.ErrorIs(err, test.wantErr))
				qt.Assert(t, qt.ErrorMatches(err, test.wantMsg))
			})
		}
	})
}

func TestTagsPagination(t *testing.T) {
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "a/b", "t0")
	want := []string{"t0"}
	for i := 1; i < 5; i++ {
		tag := fmt.Sprintf("t%d", i)
		r, err := mem.GetManifest(context.Background(), "a/b", img.Manifest.Digest)
		qt.Assert(t, qt.IsNil(err))
		data, _ := io.ReadAll(r)
		_, err = mem.PushManifest(context.Background(), "a/b", tag, data, img.Manifest.MediaType)
		qt.Assert(t, qt.IsNil(err))
		want = append(want, tag)
	}
	t.Run("Link", func(t *testing.T) {
		var rec recorder
		c := serve(t, rec.wrap(ociserver.New(mem, nil)), &Options{ListPageSize: 2})
		got, err := ociregistry.All(c.Tags(context.Background(), "a/b", ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want))
		qt.Assert(t, qt.Equals(len(rec.reqs), 3))
		got, err = ociregistry.All(c.Tags(context.Background(), "a/b", "t2"))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want[3:]))
	})
	t.Run("Catalog", func(t *testing.T) {
		mem := ocimem.New()
		// Pushed out of order, so that the order is the registry's.
		for _, repo := range []string{"z", "a/b", "m", "a", "q/r"} {
			ocitest.PushRandomImage(t, mem, repo, "v1")
		}
		want := []string{"a", "a/b", "m", "q/r", "z"}
		var rec recorder
		c := serve(t, rec.wrap(ociserver.New(mem, nil)), &Options{ListPageSize: 2})
		got, err := ociregistry.All(c.Repositories(context.Background(), ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want))
		qt.Assert(t, qt.DeepEquals(rec.reqs, []string{
			"GET /v2/_catalog?n=2",
			"GET /v2/_catalog?last=a%2Fb&n=2",
			"GET /v2/_catalog?last=q%2Fr&n=2",
		}))
		got, err = ociregistry.All(c.Repositories(context.Background(), "a/b"))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want[2:]))
	})
	t.Run("IgnoresNAndLast", func(t *testing.T) {
		c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			io.WriteString(w, `{"name":"a/b","tags":["t0","t1","t2","t3","t4"]}`)
		}), &Options{ListPageSize: 2})
		got, err := ociregistry.All(c.Tags(context.Background(), "a/b", "t1"))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, want[2:]))
	})
}

func TestReferrersPagination(t *testing.T) {
	mem := ocimem.New()
	ctx := context.Background()
	img := ocitest.PushRandomImage(t, mem, "a/b", "latest")
	var want []ociregistry.Digest
	for range 5 {
		art := ocitest.PushRandomArtifact(t, mem, "a/b", img.Manifest, "application/vnd.example.sig")
		want = append(want, art.Manifest.Digest)
	}
	slices.Sort(want)
	var rec recorder
	c := serve(t, rec.wrap(ociserver.New(mem, &ociserver.Options{ReferrersPageSize: 2})), nil)
	descs, err := ociregistry.All(c.Referrers(ctx, "a/b", img.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	var got []ociregistry.Digest
	for _, d := range descs {
		got = append(got, d.Digest)
	}
	qt.Assert(t, qt.DeepEquals(got, want))
	// Pages of 2, 2 and 1, each through the Link of the one before.
	var pages []string
	for _, r := range rec.reqs {
		if strings.HasPrefix(r, "GET /v2/a/b/referrers/") {
			pages = append(pages, r)
		}
	}
	qt.Assert(t, qt.HasLen(pages, 3), qt.Commentf("%q", rec.reqs))
	qt.Assert(t, qt.StringContains(pages[1], "last="+url.QueryEscape(string(want[1]))))
	qt.Assert(t, qt.StringContains(pages[2], "last="+url.QueryEscape(string(want[3]))))
	// The client sends no n: the referrers API has none.
	qt.Assert(t, qt.IsFalse(strings.Contains(pages[0], "n=")))
}

func TestReferrersLinkLoop(t *testing.T) {
	tests := []struct {
		name string
		link func(req *http.Request) string
	}{
		{"Self", func(req *http.Request) string { return req.URL.RequestURI() }},
		// Two pages that point at each other.
		{"Cycle", func(req *http.Request) string {
			if req.URL.Query().Get("page") == "2" {
				return req.URL.Path
			}
			return req.URL.Path + "?page=2"
		}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var rec recorder
			c := serve(t, rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
				w.Header().Set("Link", "<"+test.link(req)+`>; rel="next"`)
				io.WriteString(w, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			})), nil)
			_, err := ociregistry.All(c.Referrers(context.Background(), "a/b", testDigest, ""))
			qt.Assert(t, qt.ErrorMatches(err, `referrers of sha256:[0-9a-f]+: registry's Link points back to http://.*/v2/a/b/referrers/sha256:[0-9a-f]+`))
			qt.Assert(t, qt.IsTrue(rec.count() <= 2), qt.Commentf("%q", rec.reqs))
		})
	}
}

// TestUntrustedListings plays a registry whose listings hold names no
// repository or tag can have, descriptors that name no manifest, and a
// Link to another host: the client drops what is not valid, and
// follows no Link away from the registry.
func TestUntrustedListings(t *testing.T) {
	var elsewhere recorder
	other := httptest.NewServer(elsewhere.wrap(http.NotFoundHandler()))
	t.Cleanup(other.Close)
	ctx := context.Background()
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(req.URL.Path, "/tags/list"):
			w.Header().Set("Link", "<"+other.URL+`/v2/a/b/tags/list?last=z>; rel="next"`)
			io.WriteString(w, `{"name":"a/b","tags":["../x","good","-bad","a/b"]}`)
		case req.URL.Path == "/v2/_catalog":
			io.WriteString(w, `{"repositories":["../../etc","UPPER/x","ok/repo","a//b"]}`)
		default:
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			io.WriteString(w, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+
				`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:zz","size":5},`+
				`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+string(testDigest)+`","size":-5},`+
				`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+string(testDigest)+`","size":5}]}`)
		}
	}), nil)
	var tags []string
	var tagsErr error
	for tag, err := range c.Tags(ctx, "a/b", "") {
		if err != nil {
			tagsErr = err
			break
		}
		tags = append(tags, tag)
	}
	qt.Assert(t, qt.DeepEquals(tags, []string{"good"}))
	qt.Assert(t, qt.ErrorMatches(tagsErr, `registry sent a Link to another host: .*`))
	qt.Assert(t, qt.Equals(elsewhere.count(), 0))

	repos, err := ociregistry.All(c.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"ok/repo"}))

	descs, err := ociregistry.All(c.Referrers(ctx, "a/b", testDigest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(descs, 1))
	qt.Assert(t, qt.Equals(descs[0].Size, int64(5)))
}

func TestSameRegistry(t *testing.T) {
	tests := []struct {
		from, to string
		want     bool
	}{
		{"https://quay.io/v2/a/tags/list", "https://quay.io/v2/a/tags/list?last=x", true},
		{"https://quay.io:443/v2/a/tags/list", "https://quay.io/v2/a/tags/list?last=x", true},
		{"https://quay.io/v2/a/tags/list", "https://Quay.IO:443/v2/a/tags/list?last=x", true},
		{"http://127.0.0.1:5000/v2/a/tags/list", "http://127.0.0.1:5000/v2/a/tags/list?last=x", true},
		{"http://reg.local/v2/a/tags/list", "https://reg.local/v2/a/tags/list?last=x", true},
		{"https://reg.local/v2/a/tags/list", "http://reg.local/v2/a/tags/list?last=x", false},
		{"http://127.0.0.1:5000/v2/a/tags/list", "http://127.0.0.1:5001/v2/a/tags/list", false},
		{"https://quay.io/v2/a/tags/list", "https://evil.example/v2/a/tags/list", false},
		{"https://quay.io/v2/a/tags/list", "https://quay.io.evil.example/v2/a/tags/list", false},
	}
	for _, test := range tests {
		from, err := url.Parse(test.from)
		qt.Assert(t, qt.IsNil(err))
		to, err := url.Parse(test.to)
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.Equals(sameRegistry(from, to), test.want), qt.Commentf("%s -> %s", test.from, test.to))
	}
}

func TestReferrersFallbackTag(t *testing.T) {
	mem := ocimem.New()
	c := serve(t, ociserver.New(mem, &ociserver.Options{DisableReferrersAPI: true}), nil)
	ctx := context.Background()
	img := ocitest.PushRandomImage(t, c, "a/b", "latest")
	art := ocitest.PushRandomArtifact(t, c, "a/b", img.Manifest, "application/vnd.example.sbom")
	// The referrers tag is in the registry, as other clients expect.
	tag := "sha256-" + img.Manifest.Digest.Encoded()
	r, err := mem.GetTag(ctx, "a/b", tag)
	qt.Assert(t, qt.IsNil(err))
	data, _ := io.ReadAll(r)
	qt.Assert(t, qt.StringContains(string(data), string(art.Manifest.Digest)))
	qt.Assert(t, qt.StringContains(string(data), `"artifactType":"application/vnd.example.sbom"`))

	got, err := ociregistry.All(c.Referrers(ctx, "a/b", img.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(got, 1))
	qt.Assert(t, qt.Equals(got[0].Digest, art.Manifest.Digest))
	got, err = ociregistry.All(c.Referrers(ctx, "a/b", img.Manifest.Digest, "other/type"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(got, 0))

	qt.Assert(t, qt.IsNil(c.DeleteManifest(ctx, "a/b", art.Manifest.Digest)))
	got, err = ociregistry.All(c.Referrers(ctx, "a/b", img.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(got, 0))
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int // answered in turn, then 200
		retryAfter   string
		opts         Options
		wantErr      error
		wantStatus   int
		wantRequests int
		minDuration  time.Duration
	}{
		{name: "503Then200", statuses: []int{503, 503}, wantRequests: 3},
		{name: "429Then200", statuses: []int{429}, retryAfter: "1", wantRequests: 2, minDuration: time.Second},
		{name: "Bounded", statuses: []int{500, 500, 500, 500}, opts: Options{MaxRetries: 2}, wantRequests: 3, wantStatus: 500},
		{name: "RetryAfterTooLong", statuses: []int{429}, retryAfter: "3600", wantRequests: 1, wantErr: ociregistry.ErrTooManyRequests},
		// Seconds that overflow a Duration are still too long, not a
		// negative wait (found by FuzzRetryAfter).
		{name: "RetryAfterOverflows", statuses: []int{429}, retryAfter: "9223372037", wantRequests: 1, wantErr: ociregistry.ErrTooManyRequests},
		{name: "NotOn404", statuses: []int{404}, wantRequests: 1, wantErr: ociregistry.ErrManifestUnknown},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				mu.Lock()
				i := n
				n++
				mu.Unlock()
				if i < len(test.statuses) {
					if test.retryAfter != "" {
						w.Header().Set("Retry-After", test.retryAfter)
					}
					w.WriteHeader(test.statuses[i])
					return
				}
				w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				w.Header().Set("Docker-Content-Digest", testDigest)
				w.Header().Set("Content-Length", "0")
			}), &test.opts)
			start := time.Now()
			_, err := c.ResolveTag(context.Background(), "a/b", "latest")
			switch {
			case test.wantErr != nil:
				qt.Assert(t, qt.ErrorIs(err, test.wantErr))
			case test.wantStatus != 0:
				qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(err), test.wantStatus))
			default:
				qt.Assert(t, qt.IsNil(err))
			}
			qt.Assert(t, qt.Equals(n, test.wantRequests))
			qt.Assert(t, qt.IsTrue(time.Since(start) >= test.minDuration))
		})
	}
}

// TestBackoff checks the bounds of the delays between retries: each
// between half and all of retryBaseDelay doubled for each attempt, and
// never more than the longest wait, however many attempts (where the
// doubling alone would overflow).
func TestBackoff(t *testing.T) {
	defer func(d time.Duration) { retryBaseDelay = d }(retryBaseDelay)
	retryBaseDelay = 200 * time.Millisecond
	const maxWait = 30 * time.Second
	var ceilings []time.Duration
	for attempt := range 100 {
		ceiling := maxWait
		if attempt < 8 {
			// 200ms << 8 is 51.2s, past maxWait.
			ceiling = retryBaseDelay * time.Duration(1<<attempt)
		}
		ceilings = append(ceilings, ceiling)
		for range 20 {
			d := backoff(attempt, maxWait)
			qt.Assert(t, qt.IsTrue(d >= ceiling/2 && d <= ceiling), qt.Commentf("attempt %d: %v, want in [%v, %v]", attempt, d, ceiling/2, ceiling))
		}
	}
	qt.Assert(t, qt.DeepEquals(ceilings[:9], []time.Duration{
		200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond,
		12800 * time.Millisecond, 25600 * time.Millisecond, maxWait,
	}))
	for _, attempt := range []int{62, 63, 64, 1000, math.MaxInt} {
		d := backoff(attempt, maxWait)
		qt.Assert(t, qt.IsTrue(d >= maxWait/2 && d <= maxWait), qt.Commentf("attempt %d: %v", attempt, d))
	}
	// The smallest wait still leaves rand.N a positive bound.
	for _, attempt := range []int{0, 1, 100} {
		d := backoff(attempt, time.Nanosecond)
		qt.Assert(t, qt.IsTrue(d >= 0 && d <= time.Nanosecond), qt.Commentf("attempt %d: %v", attempt, d))
	}
}

// TestRetryBrokenConnection checks that a GET whose connection breaks
// before any answer is sent again, and that it then succeeds.
func TestRetryBrokenConnection(t *testing.T) {
	mem := ocimem.New()
	data := []byte("blob behind a broken connection")
	desc := ocitest.PushBlob(t, mem, "a/b", data)
	h := ociserver.New(mem, nil)
	var mu sync.Mutex
	var gets int
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		gets++
		first := gets == 1
		mu.Unlock()
		if first {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		h.ServeHTTP(w, req)
	}), nil)
	r, err := c.GetBlob(context.Background(), "a/b", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(r)
	r.Close()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(string(got), string(data)))
	mu.Lock()
	defer mu.Unlock()
	qt.Assert(t, qt.Equals(gets, 2))
}

func TestRetryNotForStreams(t *testing.T) {
	n := 0
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v2/" {
			n++
		}
		w.WriteHeader(503)
	}), nil)
	data := []byte("x")
	_, err := c.PushBlob(context.Background(), "a/b", ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: 1}, bytes.NewReader(data))
	qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(err), 503))
	qt.Assert(t, qt.Equals(n, 1))
}

func TestRetryCancelled(t *testing.T) {
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(503)
	}), &Options{MaxRetryWait: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ResolveBlob(ctx, "a/b", testDigest)
	qt.Assert(t, qt.ErrorIs(err, context.DeadlineExceeded))
	qt.Assert(t, qt.IsTrue(time.Since(start) < 5*time.Second))
}

// urlRecorder is a transport that records the URL of each request and
// answers nothing.
type urlRecorder struct{ urls []string }

func (r *urlRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.urls = append(r.urls, req.URL.String())
	return nil, errors.New("no network here")
}

func TestScheme(t *testing.T) {
	tests := []struct {
		host     string
		insecure bool
		want     string
	}{
		{"example.com", false, "https://example.com/v2/"},
		{"example.com:5000", true, "http://example.com:5000/v2/"},
		{"localhost:5000", false, "http://localhost:5000/v2/"},
		{"127.0.0.1:5000", false, "http://127.0.0.1:5000/v2/"},
		{"[::1]:5000", false, "http://[::1]:5000/v2/"},
		{"https://127.0.0.1:5000", false, "https://127.0.0.1:5000/v2/"},
		{"http://example.com", false, "http://example.com/v2/"},
	}
	for _, test := range tests {
		t.Run(test.host, func(t *testing.T) {
			var rt urlRecorder
			c, err := New(test.host, &Options{Insecure: test.insecure, Transport: &rt, MaxRetries: -1})
			qt.Assert(t, qt.IsNil(err))
			c.ResolveBlob(context.Background(), "a", testDigest)
			qt.Assert(t, qt.HasLen(rt.urls, 1))
			qt.Assert(t, qt.StringContains(rt.urls[0], test.want))
		})
	}
}

func TestNewBadHost(t *testing.T) {
	for _, host := range []string{"", "example.com/path", "a b", "https://"} {
		_, err := New(host, nil)
		qt.Assert(t, qt.ErrorMatches(err, `ociclient: invalid registry host .*`), qt.Commentf("%q", host))
	}
}

func TestUserAgentAndLog(t *testing.T) {
	var rec recorder
	var logBuf toolstest.Buffer
	c := serve(t, rec.wrap(ociserver.New(ocimem.New(), nil)), &Options{
		UserAgent: "test-agent/1.0",
		Logger:    slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	c.ResolveBlob(context.Background(), "a/b", testDigest)
	qt.Assert(t, qt.Equals(rec.hdrs[0].Get("User-Agent"), "test-agent/1.0"))
	qt.Assert(t, qt.StringContains(logBuf.String(), "method=HEAD"))
	qt.Assert(t, qt.StringContains(logBuf.String(), "status=404"))
}

func TestPushManifestSHA512(t *testing.T) {
	// A registry knows a manifest by its sha256 digest and by the
	// reference it was pushed by, so content named by sha512 digests is
	// pushed by its sha512 digest first, then by tag.
	ctx := context.Background()
	var rec recorder
	mem := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
	c := serve(t, rec.wrap(ociserver.New(mem, nil)), nil)
	manifest := func(alg digest.Algorithm) []byte {
		cfg := []byte("{}")
		data, err := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: alg.FromBytes(cfg), Size: 2},
			Layers:    []ocispec.Descriptor{},
		})
		qt.Assert(t, qt.IsNil(err))
		return data
	}
	tests := []struct {
		alg  digest.Algorithm
		want []string
	}{
		{digest.SHA256, []string{"PUT /v2/a/manifests/v1"}},
		{digest.SHA512, []string{"PUT /v2/a/manifests/" + digest.SHA512.FromBytes(manifest(digest.SHA512)).String(), "PUT /v2/a/manifests/v1"}},
	}
	for _, test := range tests {
		t.Run(string(test.alg), func(t *testing.T) {
			data := manifest(test.alg)
			n := rec.count()
			desc, err := c.PushManifest(ctx, "a", "v1", data, ocispec.MediaTypeImageManifest)
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(desc.Digest, test.alg.FromBytes(data)))
			rec.mu.Lock()
			got := rec.reqs[n:]
			rec.mu.Unlock()
			qt.Check(t, qt.DeepEquals(got, test.want))
			rd, err := c.GetManifest(ctx, "a", test.alg.FromBytes(data))
			qt.Assert(t, qt.IsNil(err))
			rd.Close()
		})
	}
}

func TestLocalHostScheme(t *testing.T) {
	// A registry on the local machine named without a scheme is reached
	// over HTTPS when it serves TLS, and over plain HTTP otherwise.
	ctx := context.Background()
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", useTLS), func(t *testing.T) {
			mem := ocimem.New()
			img := ocitest.PushRandomImage(t, mem, "a", "v1")
			// A request in the wrong scheme fails: a TLS server answers
			// plain HTTP with 400, a plain one cannot do a handshake.
			srv := httptest.NewUnstartedServer(ociserver.New(mem, nil))
			if useTLS {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
			c, err := New(host, &Options{Transport: srv.Client().Transport})
			qt.Assert(t, qt.IsNil(err))
			desc, err := c.ResolveTag(ctx, "a", "v1")
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(desc.Digest, img.Manifest.Digest))
		})
	}
}

func TestPushBlobWrongSizeHTTP2(t *testing.T) {
	// Over HTTP/2 the transport may close the body while a Read of it
	// is still running on another goroutine: the length error that
	// Read found must still reach PushBlob, without a race (run with
	// -race).
	srv := httptest.NewUnstartedServer(ociserver.New(ocimem.New(), nil))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, &Options{Transport: srv.Client().Transport})
	qt.Assert(t, qt.IsNil(err))
	data := []byte("twelve bytes")
	for _, size := range []int64{5, 20} {
		desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: size}
		_, err := c.PushBlob(context.Background(), "a/b", desc, bytes.NewReader(data))
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrSizeInvalid), qt.Commentf("size %d", size))
	}
}

func TestDoClosesUnsentStream(t *testing.T) {
	// A caller waits for its stream to be closed before it reads the
	// content again; the transport closes it, and c.do does when the
	// transport never gets it.
	// Nothing listens on the host, so the requests that are sent fail
	// too.
	ci, err := New(freeAddr(t), &Options{MaxRetries: -1})
	qt.Assert(t, qt.IsNil(err))
	c := ci.(*client)
	tests := []struct {
		name   string
		method string
		data   []byte
	}{
		// http.NewRequest turns down the method, so the request
		// never reaches http.Client.Do.
		{"bad request", "BAD METHOD", []byte("x")},
		// An empty stream is sent as http.NoBody.
		{"empty stream", "POST", nil},
		// The transport closes it, even as the dial fails.
		{"sent", "POST", []byte("x")},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			stream := &closeNotifier{r: bytes.NewReader(test.data), done: make(chan struct{})}
			_, err := c.do(context.Background(), &request{
				method: test.method,
				url:    "/v2/a/blobs/uploads/",
				stream: stream,
				length: int64(len(test.data)),
			})
			qt.Assert(t, qt.IsNotNil(err))
			select {
			case <-stream.done:
			case <-time.After(5 * time.Second):
				t.Fatal("stream not closed")
			}
		})
	}
}

func TestPushEmptyBlobFallsBackToPostPut(t *testing.T) {
	// An empty blob is sent as http.NoBody, which the transport does
	// not close; PushBlob waits for its stream's close before it sends
	// the content again with PUT.
	mem := ocimem.New()
	c := serve(t, ociserver.New(mem, &ociserver.Options{DisableSinglePostUpload: true}), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc := ociregistry.Descriptor{Digest: testDigest, Size: 0}
	_, err := c.PushBlob(ctx, "a/b", desc, bytes.NewReader(nil))
	qt.Assert(t, qt.IsNil(err))
	assertMemBlob(t, mem, "a/b", nil)
}

// freeAddr returns a local address on which nothing listens, most
// likely until a test listens on it.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	qt.Assert(t, qt.IsNil(err))
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestLocalHostProbeAgain(t *testing.T) {
	// A client made before its local registry started (nothing
	// listens, so plain HTTP is used) finds the scheme again once the
	// registry is up, and keeps it from then on.
	ctx := context.Background()
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", useTLS), func(t *testing.T) {
			addr := freeAddr(t)
			mem := ocimem.New()
			img := ocitest.PushRandomImage(t, mem, "a", "v1")
			ci, err := New(addr, &Options{
				Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
			})
			qt.Assert(t, qt.IsNil(err))
			c := ci.(*client)
			// Probe on every call, so that the test need not wait.
			c.probeEvery = 0

			// Concurrent calls while nothing listens: all plain
			// HTTP, none kept, and no race.
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					qt.Check(t, qt.Equals(c.baseURL(ctx).Scheme, "http"))
				}()
			}
			wg.Wait()
			_, err = c.ResolveTag(ctx, "a", "v1")
			qt.Assert(t, qt.IsNotNil(err))
			c.probeMu.Lock()
			qt.Assert(t, qt.IsTrue(c.probe))
			c.probeMu.Unlock()

			l, err := net.Listen("tcp", addr)
			qt.Assert(t, qt.IsNil(err))
			srv := httptest.NewUnstartedServer(ociserver.New(mem, nil))
			srv.Listener.Close()
			srv.Listener = l
			if useTLS {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			desc, err := c.ResolveTag(ctx, "a", "v1")
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(desc.Digest, img.Manifest.Digest))
			c.probeMu.Lock()
			defer c.probeMu.Unlock()
			qt.Check(t, qt.IsFalse(c.probe))
			qt.Check(t, qt.Equals(c.base.Scheme, map[bool]string{false: "http", true: "https"}[useTLS]))
		})
	}
}

func TestProbeAddr(t *testing.T) {
	// A host named without a port is probed on the HTTPS port: a dial
	// without a port always fails.
	tests := []struct{ host, want string }{
		{"localhost", "localhost:443"},
		{"localhost:5000", "localhost:5000"},
		{"127.0.0.1", "127.0.0.1:443"},
		{"[::1]", "[::1]:443"},
		{"[::1]:5000", "[::1]:5000"},
	}
	for _, test := range tests {
		qt.Check(t, qt.Equals(probeAddr(&url.URL{Scheme: "http", Host: test.host}), test.want), qt.Commentf("%s", test.host))
	}
}

func TestBaseURLProbe(t *testing.T) {
	// BaseURL finds a local host's scheme as the client does.
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	u, err := BaseURL(host, nil)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(u.String(), srv.URL))
	u, err = BaseURL(freeAddr(t), nil)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(u.Scheme, "http"))
}

// refuseSHA512 wraps h with a registry that takes manifests by sha256
// digest and by tag only, as the specification asks of registries.
func refuseSHA512(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.URL.Path, "/manifests/sha512:") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"errors":[{"code":"DIGEST_INVALID","message":"only sha256 digests"}]}`))
			return
		}
		h.ServeHTTP(w, req)
	})
}

func TestPushManifestSHA512Refused(t *testing.T) {
	// A registry that refuses sha512 references still gets sha512
	// content, as it did before such content was pushed by its digest:
	// by tag, or by sha256 digest without a tag. The caller gets the
	// sha256 digest, the one the registry knows the manifest by, and
	// so does the subject's referrers tag.
	ctx := context.Background()
	cfg := []byte("{}")
	subjectData := []byte(`{"schemaVersion":2}`)
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.SHA512.FromBytes(subjectData), Size: int64(len(subjectData))}
	data, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.SHA512.FromBytes(cfg), Size: 2},
		Layers:    []ocispec.Descriptor{},
		Subject:   &subject,
	})
	qt.Assert(t, qt.IsNil(err))
	sha512Ref := "PUT /v2/a/manifests/" + digest.SHA512.FromBytes(data).String()
	want := digest.FromBytes(data)
	tests := []struct {
		tag  string
		reqs []string
	}{
		{"v1", []string{sha512Ref, "PUT /v2/a/manifests/v1"}},
		{"", []string{sha512Ref, "PUT /v2/a/manifests/" + want.String()}},
	}
	for _, test := range tests {
		t.Run(fmt.Sprintf("tag=%q", test.tag), func(t *testing.T) {
			var rec recorder
			mem := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
			c := serve(t, rec.wrap(refuseSHA512(ociserver.New(mem, &ociserver.Options{DisableReferrersAPI: true}))), nil)
			desc, err := c.PushManifest(ctx, "a", test.tag, data, ocispec.MediaTypeImageManifest)
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(desc.Digest, want))
			rec.mu.Lock()
			got := slices.Clone(rec.reqs[:2])
			rec.mu.Unlock()
			qt.Check(t, qt.DeepEquals(got, test.reqs))
			rd, err := c.GetManifest(ctx, "a", want)
			qt.Assert(t, qt.IsNil(err))
			rd.Close()
			if test.tag != "" {
				rd, err := c.GetTag(ctx, "a", test.tag)
				qt.Assert(t, qt.IsNil(err))
				rd.Close()
			}
			// The referrers tag of a sha512 subject is sha512-<hex>,
			// which the registry takes.
			var referrers []ociregistry.Digest
			for d, err := range c.Referrers(ctx, "a", subject.Digest, "") {
				qt.Assert(t, qt.IsNil(err))
				referrers = append(referrers, d.Digest)
			}
			qt.Check(t, qt.DeepEquals(referrers, []ociregistry.Digest{want}))
		})
	}
}

func TestRefusesReference(t *testing.T) {
	// Only errors that say the reference is refused, not the manifest,
	// send PushManifest back to sha256.
	codeless := func(status int) error {
		return responseError(&http.Response{StatusCode: status}, []byte("no"), kindManifest)
	}
	coded := func(status int, code string) error {
		body := fmt.Sprintf(`{"errors":[{"code":%q}]}`, code)
		return responseError(&http.Response{StatusCode: status}, []byte(body), kindManifest)
	}
	tests := []struct {
		err  error
		want bool
	}{
		{coded(400, "DIGEST_INVALID"), true},
		{coded(400, "MANIFEST_INVALID"), true},
		{coded(405, "UNSUPPORTED"), true},
		{codeless(400), true},
		{codeless(404), true},
		{codeless(405), true},
		{coded(404, "MANIFEST_UNKNOWN"), false},
		{coded(404, "NAME_UNKNOWN"), false},
		{coded(400, "MANIFEST_BLOB_UNKNOWN"), false},
		{codeless(401), false},
		{codeless(500), false},
		{context.Canceled, false},
	}
	for _, test := range tests {
		qt.Check(t, qt.Equals(refusesReference(test.err), test.want), qt.Commentf("%v", test.err))
	}
}

func TestPushBlobHTTP2FallsBackToPostPut(t *testing.T) {
	// The registry answers the single POST with 202 while the client
	// is still sending the content, and over HTTP/2 the transport then
	// closes the body, perhaps while a Read of it runs: the content is
	// read again for the PUT only once that Read is over (run with
	// -race).
	mem := ocimem.New()
	srv := httptest.NewUnstartedServer(ociserver.New(mem, &ociserver.Options{DisableSinglePostUpload: true}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, &Options{Transport: srv.Client().Transport})
	qt.Assert(t, qt.IsNil(err))
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	_, err = c.PushBlob(context.Background(), "a/b", desc, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	assertMemBlob(t, mem, "a/b", data)
}

func TestSizeCheckerErrConcurrent(t *testing.T) {
	// The transport reads the body on a goroutine of its own while
	// PushBlob may ask for the length error without anything that
	// orders the two (run with -race).
	data := []byte("twelve bytes")
	sc := &sizeChecker{r: bytes.NewReader(data), size: 5, dig: digest.FromBytes(data)}
	go io.Copy(io.Discard, sc)
	for sc.Err() == nil {
		runtime.Gosched()
	}
	qt.Assert(t, qt.ErrorIs(sc.Err(), ociregistry.ErrSizeInvalid))
}
