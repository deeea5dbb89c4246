package ociserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
)

func TestPing(t *testing.T) {
	base := newServer(t, ocimem.New(), nil)
	resp := do(t, base, request{method: "GET", path: "/v2/"})
	qt.Check(t, qt.Equals(resp.status, http.StatusOK))
	qt.Check(t, qt.Equals(resp.body, "{}"))
	qt.Check(t, qt.Equals(resp.header.Get("Content-Type"), "application/json"))

	resp = do(t, base, request{method: "GET", path: "/v2"})
	qt.Check(t, qt.Equals(resp.status, http.StatusOK))

	resp = do(t, base, request{method: "HEAD", path: "/v2/"})
	qt.Check(t, qt.Equals(resp.status, http.StatusOK))
	qt.Check(t, qt.Equals(resp.body, ""))
}

const (
	goodDigest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	badDigest  = "sha256:e3b0c44298fc1c149"
)

// TestRejectedBeforeBackend checks that requests the server can reject
// by their form alone are rejected with the right status and code, and
// never reach the backend.
func TestRejectedBeforeBackend(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   string
		status int
		code   string
		allow  string
	}{
		{name: "unknown top path", method: "GET", path: "/foo", status: 404, code: "UNSUPPORTED"},
		{name: "unknown v2 path", method: "GET", path: "/v2/foo/bar", status: 404, code: "UNSUPPORTED"},
		{name: "no repository", method: "GET", path: "/v2/manifests/latest", status: 404, code: "UNSUPPORTED"},
		{name: "wrong method on manifest", method: "POST", path: "/v2/foo/manifests/latest", status: 405, code: "UNSUPPORTED", allow: "GET, HEAD, PUT, DELETE"},
		{name: "wrong method on blob", method: "PUT", path: "/v2/foo/blobs/" + goodDigest, status: 405, code: "UNSUPPORTED", allow: "GET, HEAD, DELETE"},
		{name: "wrong method on ping", method: "DELETE", path: "/v2/", status: 405, code: "UNSUPPORTED", allow: "GET, HEAD"},
		{name: "wrong method on tags", method: "DELETE", path: "/v2/foo/tags/list", status: 405, code: "UNSUPPORTED", allow: "GET, HEAD"},
		{name: "wrong method on upload start", method: "GET", path: "/v2/foo/blobs/uploads/", status: 405, code: "UNSUPPORTED", allow: "POST"},
		{name: "bad name on manifest", method: "GET", path: "/v2/Foo/manifests/latest", status: 400, code: "NAME_INVALID"},
		{name: "bad name on blob", method: "GET", path: "/v2/foo//bar/blobs/" + goodDigest, status: 400, code: "NAME_INVALID"},
		{name: "bad name on tags", method: "GET", path: "/v2/foo_/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "bad name on upload", method: "POST", path: "/v2/a..b/blobs/uploads/", status: 400, code: "NAME_INVALID"},
		{name: "bad name on referrers", method: "GET", path: "/v2/-a/referrers/" + goodDigest, status: 400, code: "NAME_INVALID"},
		{name: "name too long", method: "GET", path: "/v2/" + strings.Repeat("a", 256) + "/manifests/latest", status: 400, code: "NAME_INVALID"},
		{name: "bad blob digest", method: "GET", path: "/v2/foo/blobs/" + badDigest, status: 400, code: "DIGEST_INVALID"},
		{name: "bad blob digest head", method: "HEAD", path: "/v2/foo/blobs/sha256:xyz", status: 400},
		{name: "bad blob digest delete", method: "DELETE", path: "/v2/foo/blobs/nodigest", status: 400, code: "DIGEST_INVALID"},
		{name: "unknown algorithm", method: "GET", path: "/v2/foo/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400, code: "DIGEST_INVALID"},
		{name: "bad manifest digest", method: "GET", path: "/v2/foo/manifests/" + badDigest, status: 400, code: "DIGEST_INVALID"},
		// A malformed tag can name no manifest: GET, HEAD and DELETE
		// answer as for any unknown tag, a PUT is invalid.
		{name: "bad tag", method: "GET", path: "/v2/foo/manifests/.bad", status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "bad tag head", method: "HEAD", path: "/v2/foo/manifests/.INVALID_MANIFEST_NAME", status: 404},
		{name: "tag too long", method: "GET", path: "/v2/foo/manifests/" + strings.Repeat("t", 129), status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "bad tag delete", method: "DELETE", path: "/v2/foo/manifests/-x", status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "bad tag put", method: "PUT", path: "/v2/foo/manifests/-x", header: map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body: "{}", status: 400, code: "MANIFEST_INVALID"},
		{name: "bad tag parameter", method: "PUT", path: "/v2/foo/manifests/" + goodDigest + "?tag=ok&tag=-bad", header: map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body: "{}", status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest without content type", method: "PUT", path: "/v2/foo/manifests/latest", body: "{}", status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest digest mismatch", method: "PUT", path: "/v2/foo/manifests/" + goodDigest, header: map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body: "{}", status: 400, code: "DIGEST_INVALID"},
		{name: "bad referrers digest", method: "GET", path: "/v2/foo/referrers/" + badDigest, status: 400, code: "DIGEST_INVALID"},
		{name: "bad referrers last", method: "GET", path: "/v2/foo/referrers/" + goodDigest + "?last=x", status: 400, code: "DIGEST_INVALID"},
		{name: "bad post digest", method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + badDigest, body: "x", status: 400, code: "DIGEST_INVALID"},
		{name: "bad mount digest", method: "POST", path: "/v2/foo/blobs/uploads/?mount=sha256:x&from=bar", status: 400, code: "DIGEST_INVALID"},
		{name: "bad mount from", method: "POST", path: "/v2/foo/blobs/uploads/?mount=" + goodDigest + "&from=Bar", status: 400, code: "NAME_INVALID"},
		{name: "upload put without digest", method: "PUT", path: "/v2/foo/blobs/uploads/someid", status: 400, code: "DIGEST_INVALID"},
		{name: "upload put bad digest", method: "PUT", path: "/v2/foo/blobs/uploads/someid?digest=sha256:abc", status: 400, code: "DIGEST_INVALID"},
		{name: "patch bad content range", method: "PATCH", path: "/v2/foo/blobs/uploads/someid", header: map[string]string{"Content-Range": "5-2"}, body: "abcd", status: 400, code: "BLOB_UPLOAD_INVALID"},
		{name: "patch range and length disagree", method: "PATCH", path: "/v2/foo/blobs/uploads/someid", header: map[string]string{"Content-Range": "0-9"}, body: "abcd", status: 400, code: "SIZE_INVALID"},
		{name: "tags bad n", method: "GET", path: "/v2/foo/tags/list?n=-1", status: 400, code: "UNSUPPORTED"},
		{name: "catalog bad n", method: "GET", path: "/v2/_catalog?n=x", status: 400, code: "UNSUPPORTED"},
		{name: "too many tags", method: "PUT", path: "/v2/foo/manifests/" + goodDigest + "?" + strings.Repeat("tag=a&", 101), header: map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body: "{}", status: 414, code: "MANIFEST_INVALID"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var c counter
			base := newServer(t, counting(ocimem.New(), &c), nil)
			resp := do(t, base, request{method: test.method, path: test.path, header: test.header, body: test.body})
			checkError(t, resp, test.status, test.code)
			qt.Check(t, qt.Equals(resp.header.Get("Allow"), test.allow))
			if test.method == "HEAD" {
				qt.Check(t, qt.Equals(resp.body, ""))
			}
			qt.Check(t, qt.HasLen(c.get(), 0), qt.Commentf("backend calls %v", c.get()))
		})
	}
}

// TestBackendErrors checks that errors from the backend reach the client
// with the status and code that go with them.
func TestBackendErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"denied", ociregistry.ErrDenied, 403, "DENIED"},
		{"unauthorized", ociregistry.ErrUnauthorized, 401, "UNAUTHORIZED"},
		{"too many requests", ociregistry.ErrTooManyRequests, 429, "TOOMANYREQUESTS"},
		{"unsupported", ociregistry.ErrUnsupported, 405, "UNSUPPORTED"},
		{"wrapped", ociregistry.ErrBlobUnknown, 404, "BLOB_UNKNOWN"},
		{"plain error", errors.New("disk on fire"), 500, "UNKNOWN"},
		{"http error", ociregistry.NewHTTPError(ociregistry.ErrNameUnknown, 410), 410, "NAME_UNKNOWN"},
		// Another registry refused the server's credentials: the
		// client cannot mend that with its own.
		{"backend's 401", ociregistry.NewHTTPError(ociregistry.ErrUnauthorized, 401), 403, "DENIED"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			r := &ociregistry.Funcs{
				ResolveBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
					return ociregistry.Descriptor{}, test.err
				},
				GetBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
					return nil, test.err
				},
			}
			base := newServer(t, r, &ociserver.Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
			resp := do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + goodDigest})
			checkError(t, resp, test.status, test.code)
			qt.Check(t, qt.Equals(resp.header.Get("Content-Type"), "application/json"))
			resp = do(t, base, request{method: "HEAD", path: "/v2/foo/blobs/" + goodDigest})
			qt.Check(t, qt.Equals(resp.status, test.status))
			qt.Check(t, qt.Equals(resp.body, ""))
			// Only server errors are logged at the default level.
			qt.Check(t, qt.Equals(strings.Contains(logBuf.String(), "request failed"), test.status >= 500), qt.Commentf("log: %s", logBuf.String()))
		})
	}
}

// TestNilFuncs checks that a backend without the methods asked for
// answers UNSUPPORTED everywhere, and that the server does not crash.
func TestNilFuncs(t *testing.T) {
	base := newServer(t, &ociregistry.Funcs{}, nil)
	for _, rq := range []request{
		{method: "GET", path: "/v2/foo/blobs/" + goodDigest},
		{method: "GET", path: "/v2/foo/manifests/latest"},
		{method: "HEAD", path: "/v2/foo/manifests/" + goodDigest},
		{method: "DELETE", path: "/v2/foo/manifests/latest"},
		{method: "POST", path: "/v2/foo/blobs/uploads/"},
		{method: "GET", path: "/v2/foo/tags/list"},
		{method: "GET", path: "/v2/_catalog"},
	} {
		resp := do(t, base, rq)
		if rq.method == "HEAD" {
			qt.Check(t, qt.Equals(resp.status, 405))
			continue
		}
		checkError(t, resp, 405, "UNSUPPORTED")
	}
	// Referrers answer 404 when the backend has no referrers, so that
	// clients fall back to the tag schema.
	resp := do(t, base, request{method: "GET", path: "/v2/foo/referrers/" + goodDigest})
	checkError(t, resp, 404, "UNSUPPORTED")
}

// TestRepoNamesWithEndpointWords checks that repository names holding
// path elements such as "blobs" or "manifests" are routed by the end of
// the path.
func TestRepoNamesWithEndpointWords(t *testing.T) {
	r := ocimem.New()
	repo := "manifests/blobs/uploads/tags/list"
	pushManifest(t, r, repo, "latest", "x", nil, "")
	base := newServer(t, r, nil)
	resp := do(t, base, request{method: "GET", path: "/v2/" + repo + "/manifests/latest"})
	qt.Check(t, qt.Equals(resp.status, 200))
	resp = do(t, base, request{method: "GET", path: "/v2/" + repo + "/tags/list"})
	qt.Check(t, qt.Equals(resp.body, `{"name":"`+repo+`","tags":["latest"]}`))
	resp = do(t, base, request{method: "POST", path: "/v2/" + repo + "/blobs/uploads/"})
	qt.Check(t, qt.Equals(resp.status, 202))
	qt.Check(t, qt.StringContains(resp.header.Get("Location"), "/v2/"+repo+"/blobs/uploads/"))
}

// TestRetryAfter checks that every 429 carries Retry-After: the one a
// backend's error holds (an upstream registry's, say), else a default.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"FromBackend", &ociregistry.HTTPError{StatusCode: 429, Header: http.Header{"Retry-After": {"120"}}, Err: ociregistry.ErrTooManyRequests}, "120"},
		{"Wrapped", fmt.Errorf("upstream: %w", &ociregistry.HTTPError{StatusCode: 429, Header: http.Header{"Retry-After": {"7"}}, Err: ociregistry.ErrTooManyRequests}), "7"},
		{"Default", fmt.Errorf("busy: %w", ociregistry.ErrTooManyRequests), "10"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			base := newServer(t, &ociregistry.Funcs{
				GetTag_: func(ctx context.Context, repo, tag string) (ociregistry.BlobReader, error) {
					return nil, test.err
				},
			}, nil)
			resp := do(t, base, request{method: "GET", path: "/v2/foo/manifests/latest"})
			checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")
			qt.Check(t, qt.Equals(resp.header.Get("Retry-After"), test.want))
		})
	}
}
