package ociserver_test

import (
	"context"
	"encoding/json"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// newServer serves r over HTTP for the duration of the test and returns
// the server's base URL.
func newServer(t *testing.T, r ociregistry.Interface, opts *ociserver.Options) string {
	t.Helper()
	srv := httptest.NewServer(ociserver.New(r, opts))
	t.Cleanup(srv.Close)
	return srv.URL
}

// response is an HTTP response with its body read.
type response struct {
	status int
	header http.Header
	body   string
}

// request describes a request made by do.
type request struct {
	method string
	path   string
	header map[string]string
	body   string
	// bodyReader, when set, is sent in place of body with an unknown
	// length (chunked transfer encoding).
	bodyReader io.Reader
}

// do sends rq to the server at base and checks that the response carries
// the API version header, as every response must.
func do(t *testing.T, base string, rq request) response {
	t.Helper()
	var body io.Reader
	if rq.bodyReader != nil {
		body = rq.bodyReader
	} else if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, base+rq.path, body)
	qt.Assert(t, qt.IsNil(err))
	if rq.bodyReader != nil {
		req.ContentLength = -1
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(resp.Header.Get("Docker-Distribution-API-Version"), "registry/2.0"))
	return response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// noRedirect is a client that does not follow redirects.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// errorCode returns the code of the first error in an error response's
// body, or "" when the body holds none.
func errorCode(t *testing.T, body string) string {
	t.Helper()
	var wire ociregistry.WireErrors
	if json.Unmarshal([]byte(body), &wire) != nil || len(wire.Errors) == 0 {
		return ""
	}
	return wire.Errors[0].Code
}

// checkError checks that resp is an error response with the given status
// and code.
func checkError(t *testing.T, resp response, status int, code string) {
	t.Helper()
	qt.Check(t, qt.Equals(resp.status, status), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.Equals(errorCode(t, resp.body), code), qt.Commentf("body %s", resp.body))
}

// pushBlob pushes data as a blob to repo in r.
func pushBlob(t *testing.T, r ociregistry.Interface, repo, data string) ociregistry.Descriptor {
	t.Helper()
	desc := ociregistry.Descriptor{
		MediaType: "application/octet-stream",
		Digest:    digest.FromString(data),
		Size:      int64(len(data)),
	}
	got, err := r.PushBlob(context.Background(), repo, desc, strings.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	return got
}

// imageManifest returns an image manifest, whose config and layer are
// pushed to repo in r, with seed making it unique, and with the given
// subject and artifact type when not empty.
func imageManifest(t *testing.T, r ociregistry.Interface, repo, seed string, subject *ociregistry.Descriptor, artifactType string) []byte {
	t.Helper()
	config := pushBlob(t, r, repo, `{"seed":"`+seed+`"}`)
	config.MediaType = "application/vnd.oci.image.config.v1+json"
	layer := pushBlob(t, r, repo, "layer "+seed)
	layer.MediaType = "application/vnd.oci.image.layer.v1.tar"
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       []ociregistry.Descriptor{layer},
		Subject:      subject,
	}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	qt.Assert(t, qt.IsNil(err))
	return data
}

// pushManifest pushes an image manifest made by imageManifest to repo in
// r, tagged with tag when that is not empty.
func pushManifest(t *testing.T, r ociregistry.Interface, repo, tag, seed string, subject *ociregistry.Descriptor, artifactType string) ociregistry.Descriptor {
	t.Helper()
	data := imageManifest(t, r, repo, seed, subject, artifactType)
	desc, err := r.PushManifest(context.Background(), repo, tag, data, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	return desc
}

// counter wraps an Interface and counts the calls made to it.
type counter struct {
	mu    sync.Mutex
	calls []string
}

func (c *counter) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, name)
}

func (c *counter) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// counting returns an Interface that calls r and records each call in c.
func counting(r ociregistry.Interface, c *counter) ociregistry.Interface {
	return &ociregistry.Funcs{
		GetBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
			c.add("GetBlob")
			return r.GetBlob(ctx, repo, d)
		},
		GetBlobRange_: func(ctx context.Context, repo string, d ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
			c.add("GetBlobRange")
			return r.GetBlobRange(ctx, repo, d, o0, o1)
		},
		GetManifest_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
			c.add("GetManifest")
			return r.GetManifest(ctx, repo, d)
		},
		GetTag_: func(ctx context.Context, repo, tag string) (ociregistry.BlobReader, error) {
			c.add("GetTag")
			return r.GetTag(ctx, repo, tag)
		},
		ResolveBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
			c.add("ResolveBlob")
			return r.ResolveBlob(ctx, repo, d)
		},
		ResolveManifest_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
			c.add("ResolveManifest")
			return r.ResolveManifest(ctx, repo, d)
		},
		ResolveTag_: func(ctx context.Context, repo, tag string) (ociregistry.Descriptor, error) {
			c.add("ResolveTag")
			return r.ResolveTag(ctx, repo, tag)
		},
		PushBlob_: func(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
			c.add("PushBlob")
			return r.PushBlob(ctx, repo, desc, rd)
		},
		PushBlobChunked_: func(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
			c.add("PushBlobChunked")
			return r.PushBlobChunked(ctx, repo, chunkSize)
		},
		PushBlobChunkedResume_: func(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
			c.add("PushBlobChunkedResume")
			return r.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
		},
		MountBlob_: func(ctx context.Context, from, to string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
			c.add("MountBlob")
			return r.MountBlob(ctx, from, to, d)
		},
		PushManifest_: func(ctx context.Context, repo, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
			c.add("PushManifest")
			return r.PushManifest(ctx, repo, tag, contents, mediaType)
		},
		DeleteBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) error {
			c.add("DeleteBlob")
			return r.DeleteBlob(ctx, repo, d)
		},
		DeleteManifest_: func(ctx context.Context, repo string, d ociregistry.Digest) error {
			c.add("DeleteManifest")
			return r.DeleteManifest(ctx, repo, d)
		},
		DeleteTag_: func(ctx context.Context, repo, tag string) error {
			c.add("DeleteTag")
			return r.DeleteTag(ctx, repo, tag)
		},
		Repositories_: func(ctx context.Context, startAfter string) iter.Seq2[string, error] {
			c.add("Repositories")
			return r.Repositories(ctx, startAfter)
		},
		Tags_: func(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
			c.add("Tags")
			return r.Tags(ctx, repo, startAfter)
		},
		Referrers_: func(ctx context.Context, repo string, d ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
			c.add("Referrers")
			return r.Referrers(ctx, repo, d, artifactType)
		},
	}
}
