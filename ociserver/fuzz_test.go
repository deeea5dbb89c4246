package ociserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
)

// fuzzRepo is the repository that FuzzHandler's registry holds, with a
// blob, an image manifest tagged fuzzTag, and an upload in progress.
const (
	fuzzRepo = "foo/bar"
	fuzzTag  = "latest"
)

// fuzzRegistry is the content FuzzHandler starts each request with.
type fuzzRegistry struct {
	reg                    ociregistry.Interface
	blob, config, manifest ociregistry.Digest
	uploadID               string
	// location is the Location of the last response that had one.
	location string
}

// newFuzzRegistry fills r with the content FuzzHandler starts with.
func newFuzzRegistry(t testing.TB, r ociregistry.Interface) *fuzzRegistry {
	ctx := context.Background()
	push := func(data []byte) ociregistry.Descriptor {
		desc := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(len(data))}
		if _, err := r.PushBlob(ctx, fuzzRepo, desc, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		return desc
	}
	layer := push([]byte(strings.Repeat("0123456789", 10)))
	config := push([]byte("{}"))
	config.MediaType = "application/vnd.oci.image.config.v1+json"
	layer.MediaType = "application/vnd.oci.image.layer.v1.tar"
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        config,
		"layers":        []ociregistry.Descriptor{layer},
	})
	desc, err := r.PushManifest(ctx, fuzzRepo, fuzzTag, m, "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.PushBlobChunked(ctx, fuzzRepo, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abc"))
	id := w.ID()
	w.Close()
	return &fuzzRegistry{reg: r, blob: layer.Digest, config: config.Digest, manifest: desc.Digest, uploadID: id}
}

// expand replaces the placeholders {blob}, {config}, {manifest},
// {upload} and {location} (of the last answer that had one) in s, which a fuzzer could not guess, by what they stand for.
func (fr *fuzzRegistry) expand(s string) string {
	return strings.NewReplacer(
		"{blob}", string(fr.blob),
		"{config}", string(fr.config),
		"{manifest}", string(fr.manifest),
		"{upload}", fr.uploadID,
		"{location}", fr.location,
	).Replace(s)
}

// knownCodes are the codes a server may answer with.
var knownCodes = []string{
	"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
	"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
	"NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
	"TOOMANYREQUESTS", "RANGE_INVALID",
}

// fuzzManifest is an image manifest that FuzzHandler's registry has the
// blobs of.
const fuzzManifest = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2},"layers":[]}`

// handlerSeeds are requests of every kind the API has, and some it has
// not, for the seed corpus of FuzzHandler and FuzzHandlerStacked.
var handlerSeeds = []struct {
	method, target, header, body string
}{
	{"GET", "/v2/", "", ""},
	{"HEAD", "/v2", "", ""},
	{"GET", "/v2/_catalog?n=1&last=a", "", ""},
	{"GET", "/v2/_catalog?n=-1", "", ""},
	{"GET", "/v2/foo/bar/tags/list?n=0", "", ""},
	{"GET", "/v2/foo/bar/tags/list?n=99999999999999999999&last=%ff", "", ""},
	{"GET", "/v2/foo/bar/blobs/{blob}", "Range: bytes=10-19", ""},
	{"GET", "/v2/foo/bar/blobs/{blob}", "Range: bytes=-5", ""},
	{"GET", "/v2/foo/bar/blobs/{blob}", "Range: bytes=90-", ""},
	{"GET", "/v2/foo/bar/blobs/{blob}", "Range: bytes=0-9223372036854775807", ""},
	{"GET", "/v2/foo/bar/blobs/{blob}", "Range: bytes=-9223372036854775807", ""},
	{"GET", "/v2/foo/bar/blobs/{blob}", "Range: bytes=200-300", ""},
	{"GET", "/v2/foo/bar/blobs/{blob}", "Range: bytes=5-1", ""},
	{"GET", "/v2/foo/bar/blobs/{blob}", "Range: items=0-1", ""},
	{"HEAD", "/v2/foo/bar/blobs/{blob}", "", ""},
	{"DELETE", "/v2/foo/bar/blobs/{blob}", "", ""},
	{"GET", "/v2/foo/bar/blobs/sha256:abc", "", ""},
	{"GET", "/v2/foo/bar/manifests/latest", "Accept: application/vnd.oci.image.manifest.v1+json", ""},
	{"HEAD", "/v2/foo/bar/manifests/{manifest}", "", ""},
	{"GET", "/v2/foo/bar/manifests/-bad-", "", ""},
	{"DELETE", "/v2/foo/bar/manifests/latest", "", ""},
	{"PUT", "/v2/foo/bar/manifests/v2", "Content-Type: application/vnd.oci.image.manifest.v1+json", fuzzManifest},
	{"PUT", "/v2/foo/bar/manifests/{manifest}", "Content-Type: text/plain", fuzzManifest},
	{"PUT", "/v2/a%2fb/manifests/v1", "Content-Type: application/vnd.oci.image.manifest.v1+json", fuzzManifest},
	{"PUT", "/v2/foo/bar/manifests/v1", "Content-Type: application/vnd.oci.image.index.v1+json", `{"schemaVersion":2,"manifests":[{"digest":"{manifest}","size":1}]}`},
	{"POST", "/v2/foo/bar/blobs/uploads/", "", ""},
	{"POST", "/v2/foo/bar/blobs/uploads/?digest={blob}", "", "wrong"},
	{"POST", "/v2/foo/bar/blobs/uploads/?digest=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "", "hello"},
	{"POST", "/v2/foo/baz/blobs/uploads/?mount={blob}&from=foo/bar", "", ""},
	{"POST", "/v2/foo/baz/blobs/uploads/?mount={blob}&from=Bad", "", ""},
	{"GET", "/v2/foo/bar/blobs/uploads/{upload}", "", ""},
	{"PATCH", "/v2/foo/bar/blobs/uploads/{upload}", "Content-Range: 3-5", "def"},
	{"PATCH", "/v2/foo/bar/blobs/uploads/{upload}", "Content-Range: 0-2", "xyz"},
	{"PATCH", "/v2/foo/bar/blobs/uploads/{upload}", "Content-Range: bytes 3-9223372036854775807/*", "d"},
	{"PUT", "/v2/foo/bar/blobs/uploads/{upload}?digest=sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "", ""},
	{"PUT", "/v2/foo/bar/blobs/uploads/{upload}?digest=sha256:x", "", "d"},
	{"DELETE", "/v2/foo/bar/blobs/uploads/{upload}", "", ""},
	{"GET", "/v2/foo/bar/blobs/uploads/nosuch", "", ""},
	{"GET", "/v2/foo/bar/referrers/{manifest}?artifactType=x&n=1&last=sha256:0", "", ""},
	{"GET", "/v2/foo/bar/referrers/{manifest}?last={blob}", "", ""},
	{"BREW", "/v2/foo/bar/manifests/latest", "", ""},
	{"GET", "/v2/%2e%2e/blobs/{blob}", "", ""},
	{"GET", "/v2/foo//bar/tags/list", "", ""},
	{"GET", "/v2/foo/bar/blobs/uploads/a%2Fb", "", ""},
	{"GET", "/v2/foo%zz/tags/list", "", ""},
	{"GET", "/other", "", ""},
	{"OPTIONS", "*", "", ""},
}

// FuzzHandler sends the server over a memory registry any request that
// net/http would hand it: a method, a request target (path and query),
// header lines and a body, as they arrive on the wire. Whatever it is,
// the server must not panic or answer 5xx (the backend never fails); it
// answers with a status that exists, an error body in the
// specification's JSON form with a known code, a Content-Length that is
// the body's, and GET and HEAD change nothing stored.
func FuzzHandler(f *testing.F) {
	for _, seed := range handlerSeeds {
		f.Add(seed.method, seed.target, seed.header, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte) {
		fr := newFuzzRegistry(t, ocimem.New())
		fuzzRequest(t, fr, New(fr.reg, nil), method, target, header, body)
	})
}

// FuzzHandlerStacked is FuzzHandler against a server whose backend is a
// client of another server over the memory registry, as a proxy is: the
// client must hand the inner server's answers on with their meaning,
// never as a server error.
func FuzzHandlerStacked(f *testing.F) {
	for _, seed := range handlerSeeds {
		f.Add(seed.method, seed.target, seed.header, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte) {
		fr := newFuzzRegistry(t, ocimem.New())
		inner := New(fr.reg, nil)
		client, err := ociclient.New("registry.example", &ociclient.Options{
			Transport:  handlerTransport{inner},
			MaxRetries: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		fuzzRequest(t, fr, New(client, nil), method, target, header, body)
	})
}

// FuzzHandlerSequence is FuzzHandler with two requests in turn, the
// second able to use the Location the first was answered with (as
// {location}): an upload started and then written, a manifest pushed
// and then read or deleted.
func FuzzHandlerSequence(f *testing.F) {
	for _, seed := range []struct {
		m1, t1, h1, b1, m2, t2, h2, b2 string
	}{
		{"POST", "/v2/foo/bar/blobs/uploads/", "", "", "PATCH", "{location}", "Content-Range: 0-4", "hello"},
		{"POST", "/v2/foo/bar/blobs/uploads/", "", "", "PUT", "{location}?digest=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "", "hello"},
		{"PATCH", "/v2/foo/bar/blobs/uploads/{upload}", "", "def", "PUT", "{location}&digest=sha256:bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721", "", ""},
		{"PATCH", "/v2/foo/bar/blobs/uploads/{upload}", "", "def", "GET", "{location}", "", ""},
		{"PUT", "/v2/foo/bar/manifests/v2", "Content-Type: application/vnd.oci.image.manifest.v1+json", fuzzManifest, "DELETE", "{location}", "", ""},
		{"DELETE", "/v2/foo/bar/manifests/{manifest}", "", "", "GET", "/v2/foo/bar/tags/list", "", ""},
		{"DELETE", "/v2/foo/bar/blobs/{config}", "", "", "PUT", "/v2/foo/bar/manifests/v3", "Content-Type: application/vnd.oci.image.manifest.v1+json", fuzzManifest},
		{"POST", "/v2/foo/baz/blobs/uploads/?mount={blob}&from=foo/bar", "", "", "GET", "{location}", "Range: bytes=1-2", ""},
		{"DELETE", "/v2/foo/bar/blobs/uploads/{upload}", "", "", "PATCH", "/v2/foo/bar/blobs/uploads/{upload}", "", "x"},
	} {
		f.Add(seed.m1, seed.t1, seed.h1, []byte(seed.b1), seed.m2, seed.t2, seed.h2, []byte(seed.b2))
	}
	f.Fuzz(func(t *testing.T, m1, t1, h1 string, b1 []byte, m2, t2, h2 string, b2 []byte) {
		fr := newFuzzRegistry(t, ocimem.New())
		h := New(fr.reg, nil)
		fuzzRequest(t, fr, h, m1, t1, h1, b1)
		fuzzRequest(t, fr, h, m2, t2, h2, b2)
	})
}

// FuzzHandlerFS is FuzzHandler against the on-disk registry, whose
// names become paths.
func FuzzHandlerFS(f *testing.F) {
	for _, seed := range handlerSeeds {
		f.Add(seed.method, seed.target, seed.header, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte) {
		r, err := ocifs.New(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		fr := newFuzzRegistry(t, r)
		fuzzRequest(t, fr, New(fr.reg, nil), method, target, header, body)
	})
}

// handlerTransport is an http.RoundTripper that has a handler answer
// each request in process.
type handlerTransport struct {
	h http.Handler
}

func (ht handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	ht.h.ServeHTTP(w, req)
	if req.Body != nil {
		req.Body.Close()
	}
	resp := w.Result()
	resp.Request = req
	return resp, nil
}

// fuzzRequest sends h the request that method, target, header lines and
// body make, with fr's placeholders expanded, as net/http's server would
// read it off the wire, and checks the answer.
func fuzzRequest(t *testing.T, fr *fuzzRegistry, h http.Handler, method, target, header string, body []byte) {
	target = fr.expand(target)
	header = fr.expand(header)
	body = []byte(fr.expand(string(body)))

	// net/http's server answers for itself what it cannot read.
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: registry.example\r\n", method, target)
	for line := range strings.Lines(header) {
		raw.WriteString(strings.TrimRight(line, "\r\n") + "\r\n")
	}
	fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\n", len(body))
	raw.Write(body)
	req, err := http.ReadRequest(bufio.NewReader(&raw))
	if err != nil || req.URL.Path == "" && req.URL.Opaque == "" || req.Method != method {
		return
	}
	before := fr.snapshot(t)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	resp := w.Result()
	got := w.Body.Bytes()
	what := fmt.Sprintf("%s %s with %q and body %q answered %d %q", method, target, header, body, resp.StatusCode, got)
	if loc := resp.Header.Get("Location"); loc != "" {
		fr.location = loc
	}

	if resp.StatusCode < 200 || resp.StatusCode > 599 || http.StatusText(resp.StatusCode) == "" {
		t.Fatalf("%s: not a valid status", what)
	}
	if resp.StatusCode >= 500 {
		t.Fatalf("%s: a server error for what the client sent", what)
	}
	if resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("%s: no Docker-Distribution-API-Version", what)
	}
	if method == "HEAD" && len(got) != 0 {
		t.Fatalf("%s: a body to a HEAD", what)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" && method != "HEAD" && cl != strconv.Itoa(len(got)) {
		t.Fatalf("%s: Content-Length %s", what, cl)
	}
	if resp.StatusCode >= 400 && method != "HEAD" {
		checkErrorBody(t, what, resp.Header, got)
	}
	if resp.StatusCode == http.StatusPartialContent {
		checkPartial(t, what, resp.Header, got)
	}
	if resp.StatusCode == http.StatusOK && method == "GET" {
		if d := resp.Header.Get("Docker-Content-Digest"); d != "" && digest.FromBytes(got) != digest.Digest(d) {
			t.Fatalf("%s: content does not match Docker-Content-Digest %s", what, d)
		}
	}
	if method == "GET" || method == "HEAD" {
		if after := fr.snapshot(t); after != before {
			t.Fatalf("%s: a read changed what is stored from\n%s\nto\n%s", what, before, after)
		}
	}
	if resp.StatusCode == http.StatusCreated && method == "PUT" && strings.Contains(req.URL.Path, "/manifests/") {
		// What is stored is what was sent, at the place the answer
		// gives.
		loc := resp.Header.Get("Location")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", loc, nil))
		if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), body) {
			t.Fatalf("%s: GET of its Location %q answered %d %q", what, loc, w.Code, w.Body.Bytes())
		}
		if d := resp.Header.Get("Docker-Content-Digest"); w.Header().Get("Docker-Content-Digest") != d {
			t.Fatalf("%s: Docker-Content-Digest %q, but %q from its Location", what, d, w.Header().Get("Docker-Content-Digest"))
		}
	}
}

// checkErrorBody fails t unless an error response's body is in the
// specification's JSON form, with known codes and a message.
func checkErrorBody(t *testing.T, what string, h http.Header, body []byte) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: error with Content-Type %q", what, ct)
	}
	var wire ociregistry.WireErrors
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wire); err != nil || dec.More() {
		t.Fatalf("%s: error body does not decode: %v", what, err)
	}
	if len(wire.Errors) == 0 {
		t.Fatalf("%s: error body holds no errors", what)
	}
	for _, we := range wire.Errors {
		if !slices.Contains(knownCodes, we.Code) {
			t.Fatalf("%s: unknown code %q", what, we.Code)
		}
		if we.Message == "" {
			t.Fatalf("%s: error %s with no message", what, we.Code)
		}
	}
}

// checkPartial fails t unless a 206 response's Content-Range is
// well-formed and says how many bytes the body holds.
func checkPartial(t *testing.T, what string, h http.Header, body []byte) {
	t.Helper()
	var start, end, size int64
	cr := h.Get("Content-Range")
	if n, err := fmt.Sscanf(cr, "bytes %d-%d/%d", &start, &end, &size); n != 3 || err != nil {
		t.Fatalf("%s: Content-Range %q", what, cr)
	}
	if start < 0 || end < start || end >= size || end-start+1 != int64(len(body)) {
		t.Fatalf("%s: Content-Range %q for %d bytes", what, cr, len(body))
	}
}

// snapshot describes what fr's registry holds, to compare before and
// after a request.
func (fr *fuzzRegistry) snapshot(t *testing.T) string {
	ctx := context.Background()
	var b strings.Builder
	for repo, err := range fr.reg.Repositories(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "repo %s:", repo)
		for tag, err := range fr.reg.Tags(ctx, repo, "") {
			if err != nil {
				t.Fatal(err)
			}
			desc, err := fr.reg.ResolveTag(ctx, repo, tag)
			fmt.Fprintf(&b, " %s=%s %v", tag, desc.Digest, err)
		}
		for _, d := range []ociregistry.Digest{fr.blob, fr.config} {
			desc, err := fr.reg.ResolveBlob(ctx, repo, d)
			fmt.Fprintf(&b, " blob %s %d %v", d, desc.Size, err)
		}
		desc, err := fr.reg.ResolveManifest(ctx, repo, fr.manifest)
		fmt.Fprintf(&b, " manifest %s %v\n", desc.MediaType, err)
	}
	return b.String()
}

// FuzzParseRange checks that every Range header parseRange accepts is
// one byte range with its ends in order, that it prints back to a header
// that parses the same, and that it refuses only with RANGE_INVALID.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"bytes=0-0", "bytes=10-19", "bytes=5-", "bytes=-5", "bytes=-0", " bytes= 1-2 ",
		"bytes=0-9223372036854775807", "bytes=9223372036854775808-", "bytes=1-0",
		"bytes=0-1,3-4", "items=0-1", "bytes=", "bytes=-", "bytes=+1-2", "bytes=1--2",
		"bytes=0x10-", "bytes=１-2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		br, ignore, err := parseRange(h)
		switch {
		case err != nil:
			if ignore || !errors.Is(err, ociregistry.ErrRangeInvalid) {
				t.Fatalf("parseRange(%q) = ignore %v, %v", h, ignore, err)
			}
			return
		case ignore:
			if br != (byteRange{}) {
				t.Fatalf("parseRange(%q) ignores it but returns %+v", h, br)
			}
			return
		}
		var printed string
		switch {
		case br.suffix:
			if br.start != 0 || br.end < 0 {
				t.Fatalf("parseRange(%q) = suffix %+v", h, br)
			}
			printed = fmt.Sprintf("bytes=-%d", br.end)
		case br.end == -1:
			if br.start < 0 {
				t.Fatalf("parseRange(%q) = %+v", h, br)
			}
			printed = fmt.Sprintf("bytes=%d-", br.start)
		default:
			if br.start < 0 || br.end < br.start {
				t.Fatalf("parseRange(%q) = %+v", h, br)
			}
			printed = fmt.Sprintf("bytes=%d-%d", br.start, br.end)
		}
		again, ignore, err := parseRange(printed)
		if err != nil || ignore || again != br {
			t.Fatalf("parseRange(%q) = %+v, printed %q, reparsed as %+v, %v, %v", h, br, printed, again, ignore, err)
		}
	})
}

// FuzzParseContentRange checks that every Content-Range of an upload
// chunk that parseContentRange accepts has its ends in order and prints
// back, in the specification's form, to one that parses the same.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{
		"0-0", "3-5", "bytes 3-5/6", "bytes=3-5", "bytes 3-5/*", "5-3", "-1-2", "1-", "-",
		"0-9223372036854775807", "0-9223372036854775808", " 1-2 ", "bytes", "+1-2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		start, end, ok := parseContentRange(h)
		if !ok {
			if start != 0 || end != 0 {
				t.Fatalf("parseContentRange(%q) refuses it but returns %d-%d", h, start, end)
			}
			return
		}
		if start < 0 || end < start {
			t.Fatalf("parseContentRange(%q) = %d-%d", h, start, end)
		}
		printed := fmt.Sprintf("%d-%d", start, end)
		s2, e2, ok := parseContentRange(printed)
		if !ok || s2 != start || e2 != end {
			t.Fatalf("parseContentRange(%q) = %d-%d, but of %q: %d-%d %v", h, start, end, printed, s2, e2, ok)
		}
	})
}
