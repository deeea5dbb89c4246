package ociserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// checkBlob checks that repo in r holds the blob content.
func checkBlob(t *testing.T, r ociregistry.Interface, repo, content string) {
	t.Helper()
	rd, err := r.GetBlob(context.Background(), repo, digest.FromString(content))
	qt.Assert(t, qt.IsNil(err))
	defer rd.Close()
	data, err := io.ReadAll(rd)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(string(data), content))
}

// locationPath returns the path and query of a Location header.
func locationPath(t *testing.T, resp response) string {
	t.Helper()
	loc := resp.header.Get("Location")
	qt.Assert(t, qt.Not(qt.Equals(loc, "")))
	u, err := url.Parse(loc)
	qt.Assert(t, qt.IsNil(err))
	return u.RequestURI()
}

// withDigest adds the digest parameter to an upload location.
func withDigest(loc, content string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + url.QueryEscape(string(digest.FromString(content)))
}

func TestSinglePostUpload(t *testing.T) {
	const content = "single post content"
	d := digest.FromString(content)
	tests := []struct {
		name   string
		rq     request
		status int
		code   string
	}{
		{"with length", request{body: content}, 201, ""},
		{"chunked transfer", request{bodyReader: iotest.HalfReader(strings.NewReader(content))}, 201, ""},
		{"wrong content", request{body: content + "x"}, 400, "DIGEST_INVALID"},
		{"wrong content chunked", request{bodyReader: strings.NewReader("x" + content)}, 400, "DIGEST_INVALID"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			r := ocimem.New()
			base := newServer(t, r, nil)
			rq := test.rq
			rq.method = "POST"
			rq.path = "/v2/foo/blobs/uploads/?digest=" + string(d)
			rq.header = map[string]string{"Content-Type": "application/octet-stream"}
			resp := do(t, base, rq)
			if test.status != 201 {
				checkError(t, resp, test.status, test.code)
				_, err := r.ResolveBlob(context.Background(), "foo", d)
				qt.Check(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
				return
			}
			qt.Check(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
			qt.Check(t, qt.Equals(resp.header.Get("Location"), "/v2/foo/blobs/"+string(d)))
			qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(d)))
			checkBlob(t, r, "foo", content)
		})
	}
}

// TestSinglePostWithoutContent checks that a POST with a digest but no
// content starts a session (as in Distribution, which ignores the
// digest), unless the digest is that of empty content, which is stored.
func TestSinglePostWithoutContent(t *testing.T) {
	r := ocimem.New()
	base := newServer(t, r, nil)
	const content = "pushed afterwards"
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + string(digest.FromString(content))})
	qt.Assert(t, qt.Equals(resp.status, 202), qt.Commentf("body %s", resp.body))
	resp = do(t, base, request{method: "PUT", path: withDigest(locationPath(t, resp), content), body: content})
	qt.Assert(t, qt.Equals(resp.status, 201))
	checkBlob(t, r, "foo", content)

	resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + string(digest.FromString(""))})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	checkBlob(t, r, "foo", "")
}

func TestSinglePostUploadDisabled(t *testing.T) {
	const content = "content"
	r := ocimem.New()
	base := newServer(t, r, &ociserver.Options{DisableSinglePostUpload: true})
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + string(digest.FromString(content)), body: content})
	qt.Assert(t, qt.Equals(resp.status, 202))
	resp = do(t, base, request{method: "PUT", path: withDigest(locationPath(t, resp), content), body: content})
	qt.Assert(t, qt.Equals(resp.status, 201))
	checkBlob(t, r, "foo", content)
}

// TestPutWholeBlobIsPushBlob checks that a PUT bringing the whole blob
// to an empty upload goes to PushBlob, which knows the digest up front,
// and ends the upload; a PUT after PATCHes, or of unknown length, goes
// through the upload's writer.
func TestPutWholeBlobIsPushBlob(t *testing.T) {
	const content = "whole blob"
	tests := []struct {
		name    string
		patch   string // PATCHed before the PUT, if not empty
		put     string
		chunked bool // the PUT's body without a length
		want    []string
	}{{
		name: "whole",
		put:  content,
		want: []string{"PushBlobChunked", "PushBlobChunkedResume", "PushBlob"},
	}, {
		name:  "after a PATCH",
		patch: content[:5],
		put:   content[5:],
		want:  []string{"PushBlobChunked", "PushBlobChunkedResume", "PushBlobChunkedResume"},
	}, {
		name:    "unknown length",
		put:     content,
		chunked: true,
		want:    []string{"PushBlobChunked", "PushBlobChunkedResume"},
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var c counter
			r := ocimem.New()
			base := newServer(t, counting(r, &c), nil)
			resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
			qt.Assert(t, qt.Equals(resp.status, 202))
			loc := locationPath(t, resp)
			if test.patch != "" {
				resp = do(t, base, request{method: "PATCH", path: loc, body: test.patch})
				qt.Assert(t, qt.Equals(resp.status, 202))
				loc = locationPath(t, resp)
			}
			rq := request{method: "PUT", path: withDigest(loc, content), body: test.put}
			if test.chunked {
				rq.bodyReader = strings.NewReader(test.put)
			}
			resp = do(t, base, rq)
			qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
			qt.Check(t, qt.DeepEquals(c.get(), test.want))
			checkBlob(t, r, "foo", content)
			resp = do(t, base, request{method: "GET", path: loc})
			checkError(t, resp, 404, "BLOB_UPLOAD_UNKNOWN")
		})
	}
}

func TestPostThenPut(t *testing.T) {
	const content = "post then put"
	r := ocimem.New()
	base := newServer(t, r, nil)
	resp := do(t, base, request{method: "POST", path: "/v2/foo/bar/blobs/uploads/"})
	qt.Assert(t, qt.Equals(resp.status, 202))
	loc := locationPath(t, resp)
	qt.Check(t, qt.StringContains(loc, "/v2/foo/bar/blobs/uploads/"))
	qt.Check(t, qt.Not(qt.Equals(resp.header.Get("Docker-Upload-UUID"), "")))
	qt.Check(t, qt.Equals(resp.header.Get("Range"), "0-0"))

	// A wrong digest is refused, the upload is left as it was, and it
	// can still be finished.
	resp = do(t, base, request{method: "PUT", path: withDigest(loc, "other"), body: content})
	checkError(t, resp, 400, "DIGEST_INVALID")
	resp = do(t, base, request{method: "GET", path: loc})
	qt.Assert(t, qt.Equals(resp.status, 204))
	qt.Check(t, qt.Equals(resp.header.Get("Range"), "0-0"))

	resp = do(t, base, request{method: "PUT", path: withDigest(loc, content), body: content})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.Equals(resp.header.Get("Location"), "/v2/foo/bar/blobs/"+string(digest.FromString(content))))
	qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(digest.FromString(content))))
	checkBlob(t, r, "foo/bar", content)

	// The upload is over.
	resp = do(t, base, request{method: "GET", path: loc})
	checkError(t, resp, 404, "BLOB_UPLOAD_UNKNOWN")
	resp = do(t, base, request{method: "PUT", path: withDigest(loc, content)})
	checkError(t, resp, 404, "BLOB_UPLOAD_UNKNOWN")
}

func TestPostThenPutBody(t *testing.T) {
	const content = "post then put with body"
	r := ocimem.New()
	base := newServer(t, r, nil)
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	qt.Assert(t, qt.Equals(resp.status, 202))
	resp = do(t, base, request{method: "PUT", path: withDigest(locationPath(t, resp), content), body: content, header: map[string]string{"Content-Type": "application/octet-stream"}})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	checkBlob(t, r, "foo", content)
}

func TestChunkedUpload(t *testing.T) {
	const content = "chunk-one|chunk-two|streamed|last"
	r := ocimem.New()
	base := newServer(t, r, nil)
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/", header: map[string]string{"Content-Length": "0"}})
	qt.Assert(t, qt.Equals(resp.status, 202))
	loc := locationPath(t, resp)
	id := resp.header.Get("Docker-Upload-UUID")

	steps := []struct {
		name         string
		method       string
		contentRange string
		body         string
		streamed     bool
		status       int
		wantRange    string
	}{
		{"first chunk", "PATCH", "0-9", "chunk-one|", false, 202, "0-9"},
		{"first chunk again", "PATCH", "0-9", "chunk-one|", false, 416, "0-9"},
		{"gap", "PATCH", "11-20", "chunk-two|", false, 416, "0-9"},
		{"status", "GET", "", "", false, 204, "0-9"},
		{"second chunk", "PATCH", "10-19", "chunk-two|", false, 202, "0-19"},
		{"streamed chunk", "PATCH", "", "streamed|", true, 202, "0-28"},
		{"status again", "GET", "", "", false, 204, "0-28"},
		{"empty chunk", "PATCH", "", "", false, 202, "0-28"},
	}
	for _, step := range steps {
		rq := request{method: step.method, path: loc, body: step.body}
		if step.contentRange != "" {
			rq.header = map[string]string{"Content-Range": step.contentRange, "Content-Type": "application/octet-stream"}
		}
		if step.streamed {
			rq.bodyReader = strings.NewReader(step.body)
		}
		resp := do(t, base, rq)
		qt.Assert(t, qt.Equals(resp.status, step.status), qt.Commentf("%s: %s", step.name, resp.body))
		qt.Check(t, qt.Equals(resp.header.Get("Range"), step.wantRange), qt.Commentf("%s", step.name))
		qt.Check(t, qt.Equals(locationPath(t, resp), loc), qt.Commentf("%s", step.name))
		qt.Check(t, qt.Equals(resp.header.Get("Docker-Upload-UUID"), id), qt.Commentf("%s", step.name))
		if step.status == 416 {
			qt.Check(t, qt.Equals(errorCode(t, resp.body), "RANGE_INVALID"))
		}
	}
	// The last chunk out of order in the closing PUT.
	resp = do(t, base, request{method: "PUT", path: withDigest(loc, content), body: "last", header: map[string]string{"Content-Range": "30-33"}})
	checkError(t, resp, 416, "RANGE_INVALID")
	resp = do(t, base, request{method: "PUT", path: withDigest(loc, content), body: "last", header: map[string]string{"Content-Range": "29-32"}})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	checkBlob(t, r, "foo", content)
}

func TestCancelUpload(t *testing.T) {
	r := ocimem.New()
	base := newServer(t, r, nil)
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	qt.Assert(t, qt.Equals(resp.status, 202))
	loc := locationPath(t, resp)
	resp = do(t, base, request{method: "PATCH", path: loc, body: "abc"})
	qt.Assert(t, qt.Equals(resp.status, 202))
	resp = do(t, base, request{method: "DELETE", path: loc})
	qt.Check(t, qt.Equals(resp.status, 204))
	for _, method := range []string{"GET", "PATCH", "DELETE"} {
		resp = do(t, base, request{method: method, path: loc})
		checkError(t, resp, 404, "BLOB_UPLOAD_UNKNOWN")
	}
	// An upload in one repository is unknown in another.
	resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	id := resp.header.Get("Docker-Upload-UUID")
	resp = do(t, base, request{method: "GET", path: "/v2/bar/blobs/uploads/" + id})
	checkError(t, resp, 404, "BLOB_UPLOAD_UNKNOWN")
}

func TestMount(t *testing.T) {
	const content = "mounted"
	d := string(digest.FromString(content))
	tests := []struct {
		name    string
		query   string
		status  int
		noAnon  bool // Options.DisableAnonymousMount
		already bool // dst holds the blob already
	}{
		{name: "from a repository with the blob", query: "?mount=" + d + "&from=src", status: 201},
		{name: "from a repository without the blob", query: "?mount=" + d + "&from=empty", status: 202},
		{name: "from a missing repository", query: "?mount=" + d + "&from=nothere", status: 202},
		{name: "without from, blob elsewhere", query: "?mount=" + d, status: 201},
		{name: "without from, blob nowhere", query: "?mount=" + string(digest.FromString("nowhere")), status: 202},
		{name: "anonymous mounts disabled, from", query: "?mount=" + d + "&from=src", status: 201, noAnon: true},
		{name: "anonymous mounts disabled, without from", query: "?mount=" + d, status: 202, noAnon: true},
		{name: "anonymous mounts disabled, without from, blob there", query: "?mount=" + d, status: 202, noAnon: true, already: true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			r := ocimem.New()
			pushBlob(t, r, "src", content)
			pushBlob(t, r, "empty", "other")
			if test.already {
				pushBlob(t, r, "dst", content)
			}
			base := newServer(t, r, &ociserver.Options{DisableAnonymousMount: test.noAnon})
			resp := do(t, base, request{method: "POST", path: "/v2/dst/blobs/uploads/" + test.query})
			qt.Assert(t, qt.Equals(resp.status, test.status), qt.Commentf("body %s", resp.body))
			if test.status == 201 {
				qt.Check(t, qt.Equals(resp.header.Get("Location"), "/v2/dst/blobs/"+d))
				qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), d))
				checkBlob(t, r, "dst", content)
				return
			}
			// A failed mount starts an upload, which the client can use
			// to push the blob.
			resp = do(t, base, request{method: "PUT", path: withDigest(locationPath(t, resp), content), body: content})
			qt.Assert(t, qt.Equals(resp.status, 201))
			checkBlob(t, r, "dst", content)
		})
	}
	t.Run("without from, blob only where access is denied", func(t *testing.T) {
		// The search for an anonymous mount must not reach a
		// repository the caller cannot read.
		r := ocimem.New()
		pushBlob(t, r, "secret", content)
		base := newServer(t, ocifilter.AccessChecker(r, func(repo string, access ocifilter.Access) error {
			if repo == "secret" {
				return ociregistry.ErrDenied
			}
			return nil
		}), nil)
		resp := do(t, base, request{method: "POST", path: "/v2/dst/blobs/uploads/?mount=" + d})
		qt.Assert(t, qt.Equals(resp.status, 202))
		_, err := r.ResolveBlob(context.Background(), "dst", digest.Digest(d))
		qt.Check(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	})
	t.Run("without from, read-only registry", func(t *testing.T) {
		r := ocimem.New()
		pushBlob(t, r, "src", content)
		base := newServer(t, ocifilter.ReadOnly(r), nil)
		resp := do(t, base, request{method: "POST", path: "/v2/dst/blobs/uploads/?mount=" + d})
		checkError(t, resp, 403, "DENIED")
	})
	t.Run("without from, blob already there", func(t *testing.T) {
		r := ocimem.New()
		pushBlob(t, r, "dst", content)
		base := newServer(t, r, nil)
		resp := do(t, base, request{method: "POST", path: "/v2/dst/blobs/uploads/?mount=" + d})
		qt.Assert(t, qt.Equals(resp.status, 201))
		qt.Check(t, qt.Equals(resp.header.Get("Location"), "/v2/dst/blobs/"+d))
	})
}

func TestPutManifest(t *testing.T) {
	r := ocimem.New()
	base := newServer(t, r, nil)
	data := imageManifest(t, r, "foo", "seed", nil, "")
	d := digest.FromBytes(data)
	ct := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest + "; charset=utf-8"}

	resp := do(t, base, request{method: "PUT", path: "/v2/foo/manifests/v1", header: ct, body: string(data)})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.Equals(resp.header.Get("Location"), "/v2/foo/manifests/"+string(d)))
	qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(d)))
	qt.Check(t, qt.Equals(resp.header.Get("OCI-Subject"), ""))
	qt.Check(t, qt.Equals(resp.header.Get("OCI-Tag"), ""))
	desc, err := r.ResolveTag(context.Background(), "foo", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Digest, d))
	// Parameters of the Content-Type are not part of the media type.
	qt.Check(t, qt.Equals(desc.MediaType, ocispec.MediaTypeImageManifest))

	// By digest, with several tags.
	resp = do(t, base, request{method: "PUT", path: "/v2/foo/manifests/" + string(d) + "?tag=a&tag=b&tag=c", header: ct, body: string(data)})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.Equals(resp.header.Get("OCI-Tag"), "a, b, c"))
	tags, err := ociregistry.All(r.Tags(context.Background(), "foo", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.DeepEquals(tags, []string{"a", "b", "c", "v1"}))

	// By tag, with more, some repeated: each tag once.
	resp = do(t, base, request{method: "PUT", path: "/v2/foo/manifests/v2?tag=d&tag=v2&tag=d", header: ct, body: string(data)})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.Equals(resp.header.Get("OCI-Tag"), "v2, d"))

	// A tag refused after others were set: the push stands for
	// those, which OCI-Tag names; one refused first fails the push.
	other := imageManifest(t, r, "foo", "other", nil, "")
	_, err = r.PushManifest(context.Background(), "foo", "taken", other, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	immutable := newServer(t, ocifilter.Immutable(r), nil)
	resp = do(t, immutable, request{method: "PUT", path: "/v2/foo/manifests/" + string(d) + "?tag=e&tag=f&tag=taken&tag=g", header: ct, body: string(data)})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.Equals(resp.header.Get("OCI-Tag"), "e, f"))
	resp = do(t, immutable, request{method: "PUT", path: "/v2/foo/manifests/" + string(d) + "?tag=taken&tag=h", header: ct, body: string(data)})
	checkError(t, resp, 403, "DENIED")
	_, err = r.ResolveTag(context.Background(), "foo", "h")
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	// A failure rather than a refusal fails the push, to be tried
	// again.
	failing := newServer(t, &ociregistry.Funcs{PushManifest_: func(ctx context.Context, repo, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
		if tag == "broken" {
			return ociregistry.Descriptor{}, errors.New("disk on fire")
		}
		return r.PushManifest(ctx, repo, tag, contents, mediaType)
	}}, nil)
	resp = do(t, failing, request{method: "PUT", path: "/v2/foo/manifests/" + string(d) + "?tag=k&tag=broken", header: ct, body: string(data)})
	checkError(t, resp, 500, "UNKNOWN")

	// A manifest that refers to blobs the repository lacks.
	resp = do(t, base, request{method: "PUT", path: "/v2/other/manifests/v1", header: ct, body: string(data)})
	checkError(t, resp, 400, "MANIFEST_BLOB_UNKNOWN")
	// Content that is not a manifest.
	resp = do(t, base, request{method: "PUT", path: "/v2/foo/manifests/v1", header: ct, body: "not json"})
	checkError(t, resp, 400, "MANIFEST_INVALID")
}

func TestPutManifestSubject(t *testing.T) {
	r := ocimem.New()
	subject := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: goodDigest, Size: 100}
	data := imageManifest(t, r, "foo", "seed", &subject, "application/x-sbom")
	ct := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}
	for _, disabled := range []bool{false, true} {
		base := newServer(t, r, &ociserver.Options{DisableReferrersAPI: disabled})
		resp := do(t, base, request{method: "PUT", path: "/v2/foo/manifests/" + string(digest.FromBytes(data)), header: ct, body: string(data)})
		qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
		want := goodDigest
		if disabled {
			want = ""
		}
		qt.Check(t, qt.Equals(resp.header.Get("OCI-Subject"), want))
	}
}

// countingReader is an endless body that counts the bytes read from it.
type countingReader struct {
	n atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	r.n.Add(int64(len(p)))
	return len(p), nil
}

func TestPutManifestTooBig(t *testing.T) {
	var c counter
	r := ocimem.New()
	const limit = 1000
	base := newServer(t, counting(r, &c), &ociserver.Options{MaxManifestSize: limit})
	ct := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}

	// Just under the limit is fine as far as size goes.
	resp := do(t, base, request{method: "PUT", path: "/v2/foo/manifests/v1", header: ct, body: strings.Repeat(" ", limit-2) + "{}"})
	checkError(t, resp, 400, "MANIFEST_INVALID")
	qt.Check(t, qt.DeepEquals(c.get(), []string{"PushManifest"}))

	// One byte over, with a length.
	resp = do(t, base, request{method: "PUT", path: "/v2/foo/manifests/v1", header: ct, body: strings.Repeat(" ", limit-1) + "{}"})
	checkError(t, resp, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID")
	// One byte over, without a length.
	resp = do(t, base, request{method: "PUT", path: "/v2/foo/manifests/v1", header: ct, bodyReader: strings.NewReader(strings.Repeat(" ", limit-1) + "{}")})
	checkError(t, resp, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID")

	// An endless body is not read to its end.
	body := &countingReader{}
	req, err := http.NewRequest("PUT", base+"/v2/foo/manifests/v1", io.NopCloser(body))
	qt.Assert(t, qt.IsNil(err))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	httpResp, err := http.DefaultClient.Do(req)
	if err == nil {
		httpResp.Body.Close()
		qt.Check(t, qt.Equals(httpResp.StatusCode, http.StatusRequestEntityTooLarge))
	}
	// What was read was at most what fits in the connection's buffers.
	qt.Check(t, qt.IsTrue(body.n.Load() < 64<<20), qt.Commentf("read %d bytes", body.n.Load()))
	qt.Check(t, qt.DeepEquals(c.get(), []string{"PushManifest"}))
}

func TestSHA512(t *testing.T) {
	r := ocimem.New()
	base := newServer(t, r, nil)
	const content = "sha512 content"
	d := digest.SHA512.FromString(content)
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + string(d), body: content})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(d)))
	resp = do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + string(d)})
	qt.Check(t, qt.Equals(resp.body, content))
	qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(d)))

	data := imageManifest(t, r, "foo", "seed", nil, "")
	md := digest.SHA512.FromBytes(data)
	resp = do(t, base, request{method: "PUT", path: "/v2/foo/manifests/" + string(md), header: map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}, body: string(data)})
	qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(md)))
	qt.Check(t, qt.Equals(resp.header.Get("Location"), "/v2/foo/manifests/"+string(md)))
	resp = do(t, base, request{method: "GET", path: "/v2/foo/manifests/" + string(md)})
	qt.Check(t, qt.Equals(resp.body, string(data)))
	qt.Check(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(md)))
}

// TestPatchContentRangeForms checks the forms of Content-Range that PATCH
// accepts, and that a body shorter or longer than its range, or a range
// too long to be, is refused.
func TestPatchContentRangeForms(t *testing.T) {
	tests := []struct {
		contentRange string
		streamed     bool
		status       int
		code         string
	}{
		{"0-3", false, 202, ""},
		{"bytes 0-3/4", false, 202, ""},
		{"bytes=0-3", false, 202, ""},
		{"bytes 0-3/*", true, 202, ""},
		{"0-9", true, 400, "SIZE_INVALID"},
		{"1-4", false, 416, "RANGE_INVALID"},
		{"0-", false, 400, "BLOB_UPLOAD_INVALID"},
		{"x", false, 400, "BLOB_UPLOAD_INVALID"},
		// A streamed body longer than its range is not cut to fit.
		{"0-1", true, 400, "SIZE_INVALID"},
		// A range whose length does not fit in 63 bits is refused as
		// it is, whether the body's length is known or not.
		{"0-9223372036854775807", false, 400, "BLOB_UPLOAD_INVALID"},
		{"0-9223372036854775807", true, 400, "BLOB_UPLOAD_INVALID"},
		{"0-99999999999999999999", true, 400, "BLOB_UPLOAD_INVALID"},
	}
	for _, test := range tests {
		t.Run(test.contentRange, func(t *testing.T) {
			base := newServer(t, ocimem.New(), nil)
			resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
			qt.Assert(t, qt.Equals(resp.status, 202))
			rq := request{method: "PATCH", path: locationPath(t, resp), body: "abcd", header: map[string]string{"Content-Range": test.contentRange}}
			if test.streamed {
				rq.bodyReader = strings.NewReader("abcd")
			}
			resp = do(t, base, rq)
			if test.status != 202 {
				checkError(t, resp, test.status, test.code)
				return
			}
			qt.Check(t, qt.Equals(resp.status, 202), qt.Commentf("body %s", resp.body))
			qt.Check(t, qt.Equals(resp.header.Get("Range"), "0-3"))
		})
	}
}

func TestDigestAlgorithm(t *testing.T) {
	base := newServer(t, ocimem.New(), nil)
	tests := []struct {
		alg    string
		status int
	}{
		{"sha256", 202},
		{"sha512", 202},
		{"md5", 400},
		{"SHA512", 400},
	}
	for _, test := range tests {
		t.Run(test.alg, func(t *testing.T) {
			resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/?digest-algorithm=" + test.alg})
			if test.status != 202 {
				checkError(t, resp, test.status, "DIGEST_INVALID")
				return
			}
			qt.Assert(t, qt.Equals(resp.status, test.status))
			const content = "digest algorithm"
			d := digest.SHA512.FromString(content)
			if test.alg == "sha256" {
				d = digest.FromString(content)
			}
			resp = do(t, base, request{method: "PUT", path: locationPath(t, resp) + "?digest=" + string(d), body: content})
			qt.Assert(t, qt.Equals(resp.status, 201), qt.Commentf("body %s", resp.body))
			qt.Assert(t, qt.Equals(resp.header.Get("Docker-Content-Digest"), string(d)))
		})
	}
}

// TestReadFailureHidesAddresses checks that what a client is told of a
// failure to read its request names no address.
func TestReadFailureHidesAddresses(t *testing.T) {
	local, remote := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5000}, &net.TCPAddr{IP: net.IPv4(10, 9, 8, 7), Port: 40000}
	tests := []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "read", Net: "tcp", Source: local, Addr: remote, Err: os.ErrDeadlineExceeded}, "timed out"},
		{&net.OpError{Op: "read", Net: "tcp", Source: local, Addr: remote, Err: syscall.ECONNRESET}, "connection reset by peer"},
		{io.ErrUnexpectedEOF, "unexpected EOF"},
	}
	for _, test := range tests {
		qt.Check(t, qt.Equals(ociserver.ReadFailure(test.err), test.want))
	}
}
