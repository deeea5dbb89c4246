package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ocireg/ociregistry"
)

// client sends raw HTTP requests to the registry under test.
type client struct {
	base *url.URL
	hc   *http.Client
}

// request describes one HTTP request.
type request struct {
	method string
	// url is a path with an optional query ("/v2/..."), or an absolute
	// URL (as found in a Location header), resolved against the base.
	url    string
	header http.Header
	body   []byte
	// stream makes the body be sent with chunked transfer encoding and
	// no Content-Length, as a streaming client does.
	stream bool
}

// response is a received response with its body read in full.
type response struct {
	method string
	url    string
	reqHdr http.Header
	// reqLen is the request's Content-Length, -1 when streamed.
	reqLen int64
	status int
	header http.Header
	body   []byte
}

func newClient(baseURL string) (*client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("invalid base URL %q: %v", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("base URL %q is not of the form http://host[:port]", baseURL)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("base URL %q has a path; the API lives at /v2/ of the host", baseURL)
	}
	return &client{
		base: u,
		hc: &http.Client{
			// Redirects are followed (the spec allows registries to
			// redirect any request), but a 3xx to a URL we cannot read
			// shows as itself.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 10 {
					return http.ErrUseLastResponse
				}
				return nil
			},
		},
	}, nil
}

// resolve returns the absolute URL for one of our paths ("/v2/...") or a
// Location header value, which may be absolute or relative.
func (c *client) resolve(ref string) (string, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return c.base.ResolveReference(r).String(), nil
}

// do sends req and returns the response, failing the test at once when
// the request cannot be made at all.
func (c *client) do(t testing.TB, req request) *response {
	t.Helper()
	u, err := c.resolve(req.url)
	if err != nil {
		t.Fatalf("%s %s: cannot resolve URL: %v", req.method, req.url, err)
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
		if req.stream {
			// A reader that net/http does not know the length of.
			body = io.MultiReader(bytes.NewReader(req.body))
		}
	}
	hreq, err := http.NewRequest(req.method, u, body)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, u, err)
	}
	if req.stream {
		hreq.ContentLength = -1
	}
	for k, vs := range req.header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	if cl := req.header.Get("Content-Length"); cl != "" && !req.stream {
		// net/http takes the length from the body, not the header.
		hreq.Header.Del("Content-Length")
	}
	hresp, err := c.hc.Do(hreq)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, u, err)
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(hresp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading response body: %v", req.method, u, err)
	}
	return &response{
		method: req.method,
		url:    u,
		reqHdr: hreq.Header,
		reqLen: hreq.ContentLength,
		status: hresp.StatusCode,
		header: hresp.Header,
		body:   data,
	}
}

// get, head, del, post, put and patch are shorthands for do. Headers are
// given as name, value pairs.
func (c *client) get(t testing.TB, u string, hdr ...string) *response {
	t.Helper()
	return c.do(t, request{method: http.MethodGet, url: u, header: headers(hdr...)})
}

func (c *client) head(t testing.TB, u string, hdr ...string) *response {
	t.Helper()
	return c.do(t, request{method: http.MethodHead, url: u, header: headers(hdr...)})
}

func (c *client) del(t testing.TB, u string, hdr ...string) *response {
	t.Helper()
	return c.do(t, request{method: http.MethodDelete, url: u, header: headers(hdr...)})
}

func (c *client) send(t testing.TB, method, u string, body []byte, hdr ...string) *response {
	t.Helper()
	return c.do(t, request{method: method, url: u, header: headers(hdr...), body: body})
}

func headers(kv ...string) http.Header {
	if len(kv)%2 != 0 {
		panic("odd number of header arguments")
	}
	h := make(http.Header)
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// String describes the exchange for failure messages: the request line,
// the status, the headers and the start of the body.
func (r *response) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.method, r.url)
	for _, k := range sortedKeys(r.reqHdr) {
		fmt.Fprintf(&b, "  > %s: %s\n", k, strings.Join(r.reqHdr[k], ", "))
	}
	switch {
	case r.reqLen > 0:
		fmt.Fprintf(&b, "  > Content-Length: %d\n", r.reqLen)
	case r.reqLen < 0:
		fmt.Fprintf(&b, "  > Transfer-Encoding: chunked\n")
	}
	fmt.Fprintf(&b, "  status %d %s\n", r.status, http.StatusText(r.status))
	for _, k := range sortedKeys(r.header) {
		fmt.Fprintf(&b, "  < %s: %s\n", k, strings.Join(r.header[k], ", "))
	}
	body := r.body
	const max = 512
	switch {
	case len(body) > 0 && !utf8.Valid(body):
		fmt.Fprintf(&b, "  body: %d bytes of binary data\n", len(body))
	case len(body) > 0:
		suffix := ""
		if len(body) > max {
			body, suffix = body[:max], fmt.Sprintf("... (%d bytes in all)", len(r.body))
		}
		fmt.Fprintf(&b, "  body: %q%s\n", body, suffix)
	}
	return b.String()
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// wantStatus fails the test at once unless the status is one of want.
// Every failing status is checked for a well-formed error body too, and
// every response for well-formed warnings.
func (r *response) wantStatus(t testing.TB, want ...int) {
	t.Helper()
	if !slices.Contains(want, r.status) {
		t.Fatalf("got status %d, want %s\n%s", r.status, statusList(want), r)
	}
	r.checkErrorBody(t)
	r.checkWarnings(t)
}

// checkStatus is like wantStatus but lets the test carry on; it reports
// whether the status was right.
func (r *response) checkStatus(t testing.TB, want ...int) bool {
	t.Helper()
	if !slices.Contains(want, r.status) {
		t.Errorf("got status %d, want %s\n%s", r.status, statusList(want), r)
		return false
	}
	r.checkErrorBody(t)
	r.checkWarnings(t)
	return true
}

var warningPattern = regexp.MustCompile(`^299 - "([^"\\]|\\.)*"$`)

// checkWarnings checks Warning headers (spec: Warnings): warn-code 299,
// warn-agent "-", no date, and at most 4096 bytes in all.
func (r *response) checkWarnings(t testing.TB) {
	t.Helper()
	total := 0
	for _, w := range r.header.Values("Warning") {
		total += len(w)
		if !warningPattern.MatchString(w) {
			t.Errorf("Warning header %q is not of the form 299 - \"text\" (spec: Warnings)\n%s", w, r)
		}
	}
	if total > 4096 {
		t.Errorf("Warning headers hold %d bytes, more than 4096 (spec: Warnings)\n%s", total, r)
	}
}

func statusList(want []int) string {
	s := make([]string, len(want))
	for i, w := range want {
		s[i] = fmt.Sprint(w)
	}
	return strings.Join(s, " or ")
}

// checkHeader reports an error unless header name has value want.
func (r *response) checkHeader(t testing.TB, name, want string) bool {
	t.Helper()
	if got := r.header.Get(name); got != want {
		t.Errorf("header %s: got %q, want %q\n%s", name, got, want, r)
		return false
	}
	return true
}

// checkBody reports an error unless the body is exactly want.
func (r *response) checkBody(t testing.TB, want []byte) bool {
	t.Helper()
	if !bytes.Equal(r.body, want) {
		t.Errorf("body differs from the expected %d bytes (got %d bytes)\n%s", len(want), len(r.body), r)
		return false
	}
	return true
}

// wantLocation returns the Location header, failing at once when it is
// missing.
func (r *response) wantLocation(t testing.TB) string {
	t.Helper()
	loc := r.header.Get("Location")
	if loc == "" {
		t.Fatalf("response has no Location header\n%s", r)
	}
	return loc
}

var errorCodePattern = regexp.MustCompile(`^[A-Z_]+$`)

// specCodes are the codes of the specification's error table, and the
// legacy Docker codes it says clients may meet.
var specCodes = []string{
	"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
	"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
	"NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
	"TOOMANYREQUESTS",
	// Legacy codes the specification mentions, and the code for a range
	// that cannot be satisfied, which it lacks.
	"TAG_INVALID", "MANIFEST_UNVERIFIED", "RANGE_INVALID",
}

// errorCodes decodes the body of an error response. ok is false when the
// body is not in the specification's JSON form.
func (r *response) errorCodes() (codes []string, ok bool) {
	var wire ociregistry.WireErrors
	if json.Unmarshal(r.body, &wire) != nil || wire.Errors == nil {
		return nil, false
	}
	for _, e := range wire.Errors {
		codes = append(codes, e.Code)
	}
	return codes, true
}

// checkErrorBody checks the body of a 4xx response: a body in JSON must
// have the form of the specification's "Error Codes" section, with codes
// made of upper-case letters and underscores from its table.
func (r *response) checkErrorBody(t testing.TB) {
	t.Helper()
	if r.status < 400 || r.status >= 500 || len(bytes.TrimSpace(r.body)) == 0 || r.method == http.MethodHead {
		return
	}
	if !json.Valid(r.body) {
		return // any format is allowed; only JSON is constrained
	}
	codes, ok := r.errorCodes()
	if !ok || len(codes) == 0 {
		t.Errorf("JSON error body is not of the form {\"errors\":[{\"code\":...}]} (spec: Error Codes)\n%s", r)
		return
	}
	for _, c := range codes {
		if !errorCodePattern.MatchString(c) || !slices.Contains(specCodes, c) {
			t.Errorf("error code %q is not one of the specification's codes (spec: Error Codes)\n%s", c, r)
		}
	}
}

// wantError checks that the response has one of the statuses and that
// its body is the specification's JSON with one of the codes.
func (r *response) wantError(t testing.TB, statuses []int, codes ...string) {
	t.Helper()
	r.wantStatus(t, statuses...)
	got, ok := r.errorCodes()
	if !ok {
		t.Errorf("error response has no JSON error body; want code %s\n%s", strings.Join(codes, " or "), r)
		return
	}
	for _, c := range got {
		if slices.Contains(codes, c) {
			return
		}
	}
	t.Errorf("got error codes %v, want %s\n%s", got, strings.Join(codes, " or "), r)
}

// checkNoBody reports an error when a response (to HEAD, or a 204) has a
// body.
func (r *response) checkNoBody(t testing.TB) {
	t.Helper()
	if len(r.body) != 0 {
		t.Errorf("response has a body of %d bytes, want none\n%s", len(r.body), r)
	}
}

// links returns the target of the rel="next" Link header, or "".
func (r *response) nextLink(t testing.TB) string {
	t.Helper()
	for _, v := range r.header.Values("Link") {
		for part := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				t.Errorf("malformed Link header %q (RFC 5988)\n%s", v, r)
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(val, `"`) == "next" {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}
