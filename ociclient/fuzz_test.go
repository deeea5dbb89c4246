package ociclient

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocireg/ociregistry"
)

// FuzzParseContentRange checks that every Content-Range of a 206
// response that parseContentRange accepts is one the client can trust:
// a start and a size that fit together, as in "bytes 5-9/10", and that
// the header printed from them parses the same.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{
		"bytes 0-0/1", "bytes 5-9/10", "bytes 5-9/*", "bytes 9-5/10", "bytes 5-9/3",
		"bytes 5-9/-1", "bytes +5-9/10", "bytes -5-9/10", "bytes 5-/10", "bytes 5-x/10",
		"bytes */10", "bytes 0-9223372036854775806/9223372036854775807", "bytes=0-1/2", "0-1/2", "bytes 5-9/10/11",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		start, size, ok := parseContentRange(h)
		if !ok {
			return
		}
		if start < 0 || size < -1 || size >= 0 && start >= size {
			t.Fatalf("parseContentRange(%q) = start %d, size %d", h, start, size)
		}
		// The header must say which bytes it holds, within the size.
		var end int64
		rng, _, _ := strings.Cut(strings.TrimPrefix(h, "bytes "), "/")
		if _, e, _ := strings.Cut(rng, "-"); true {
			var err error
			end, err = strconv.ParseInt(e, 10, 64)
			if err != nil || end < start || size >= 0 && end >= size {
				t.Fatalf("parseContentRange(%q) accepts the range %q of size %d", h, rng, size)
			}
		}
		total := "*"
		if size >= 0 {
			total = strconv.FormatInt(size, 10)
		}
		printed := fmt.Sprintf("bytes %d-%d/%s", start, end, total)
		s2, size2, ok := parseContentRange(printed)
		if !ok || s2 != start || size2 != size {
			t.Fatalf("parseContentRange(%q) = %d, %d, but of %q: %d, %d, %v", h, start, size, printed, s2, size2, ok)
		}
	})
}

// FuzzRangeEnd checks that the size of an upload read from a Range
// header is never negative and that a size printed in the
// specification's form reads back the same.
func FuzzRangeEnd(f *testing.F) {
	for _, s := range []string{
		"", "0-0", "0-9", "bytes=0-9", "0--1", "1-9", "0-", "0-x", "0-9223372036854775807", "0-9223372036854775806", "0-+5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		n, err := rangeEnd(h)
		if err != nil {
			if n != 0 {
				t.Fatalf("rangeEnd(%q) = %d with error %v", h, n, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("rangeEnd(%q) = %d", h, n)
		}
		if n > 1 {
			printed := fmt.Sprintf("0-%d", n-1)
			if again, err := rangeEnd(printed); err != nil || again != n {
				t.Fatalf("rangeEnd(%q) = %d, but of %q: %d, %v", h, n, printed, again, err)
			}
		}
	})
}

// FuzzRetryAfter checks that any Retry-After the client accepts asks
// for a wait that is not negative: a wait that overflowed would retry
// at once a registry that asked to be left alone.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{
		"0", "5", " 7 ", "-1", "9223372037", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Fri, 31 Dec 9999 23:59:59 GMT", "soon", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		d, ok := retryAfter(h)
		if !ok {
			if d != 0 {
				t.Fatalf("retryAfter(%q) = %v, not ok", h, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("retryAfter(%q) = %v", h, d)
		}
		if secs, err := strconv.ParseInt(strings.TrimSpace(h), 10, 64); err == nil && secs >= 0 && secs < 1<<33 {
			if d != time.Duration(secs)*time.Second {
				t.Fatalf("retryAfter(%q) = %v", h, d)
			}
		}
	})
}

// FuzzNextLink checks that the next page a Link header names is an
// absolute URL on the registry's scheme, resolved against the request.
func FuzzNextLink(f *testing.F) {
	for _, s := range []string{
		`</v2/_catalog?last=b&n=2>; rel="next"`,
		`<https://other.example/v2/foo/tags/list?last=x>; rel=next`,
		`<a>; rel="prev", </v2/x>; rel="next"`,
		`</v2/x>; REL="next"; title="y"`,
		`<>; rel="next"`,
		`<%zz>; rel="next"`,
		`</v2/x>`,
		`<//evil.example/x>; rel="next"`,
		`<http://[::1>; rel="next"`,
	} {
		f.Add(s)
	}
	base, _ := url.Parse("https://registry.example/v2/_catalog?n=2")
	f.Fuzz(func(t *testing.T, h string) {
		resp := &http.Response{Header: http.Header{"Link": {h}}, Request: &http.Request{URL: base}}
		next, err := nextLink(resp)
		if err != nil {
			if next != "" {
				t.Fatalf("nextLink(%q) = %q with error %v", h, next, err)
			}
			return
		}
		if next == "" {
			return
		}
		u, err := url.Parse(next)
		if err != nil || !u.IsAbs() {
			t.Fatalf("nextLink(%q) = %q, not an absolute URL (%v)", h, next, err)
		}
	})
}

// FuzzDecodeID checks that an upload ID, which any HTTP client of a
// server built on this client can make up, is taken only as an upload
// in the repository named, on the registry's own host.
func FuzzDecodeID(f *testing.F) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		enc("https://registry.example/v2/foo/blobs/uploads/abc?_state=x"),
		enc("http://registry.example/v2/foo/blobs/uploads/abc"),
		enc("https://other.example/v2/foo/blobs/uploads/abc"),
		enc("https://registry.example@other.example/v2/foo/blobs/uploads/abc"),
		enc("https://user:pw@registry.example/v2/foo/blobs/uploads/abc"),
		enc("file://registry.example/v2/foo/blobs/uploads/abc"),
		enc("//registry.example/v2/foo/blobs/uploads/abc"),
		enc("https://registry.example/v2/bar/blobs/uploads/abc"),
		enc("https://registry.example:443/v2/foo/blobs/uploads/abc"),
		enc("https://registry.example/v2/secret/blobs/uploads/abc/v2/foo/blobs/uploads/"),
		enc("https://registry.example/v2/foo/blobs/uploads/../../../secret/blobs/uploads/abc"),
		enc("https://registry.example/v2/foo/blobs/uploads/%2e%2e/x"),
		"not base64!",
	} {
		f.Add(s)
	}
	r, err := New("registry.example", nil)
	if err != nil {
		f.Fatal(err)
	}
	c := r.(*client)
	f.Fuzz(func(t *testing.T, id string) {
		u, err := c.decodeID(t.Context(), "foo", id)
		if err != nil {
			if !errors.Is(err, ociregistry.ErrBlobUploadUnknown) {
				t.Fatalf("decodeID(%q): %v is not BLOB_UPLOAD_UNKNOWN", id, err)
			}
			return
		}
		if u.Host != "registry.example" || u.Scheme != "https" && u.Scheme != "http" || u.User != nil {
			t.Fatalf("decodeID(%q) = %q, not on the registry", id, u)
		}
		if !strings.HasPrefix(u.Path, "/v2/foo/blobs/uploads/") || !strings.HasPrefix(path.Clean(u.Path), "/v2/foo/blobs/uploads/") {
			t.Fatalf("decodeID(%q) = %q, not an upload in foo", id, u)
		}
		if again, err := c.decodeID(t.Context(), "foo", encodeID(u)); err != nil || again.String() != u.String() {
			t.Fatalf("decodeID(%q) = %q, encoded and decoded again: %v, %v", id, u, again, err)
		}
	})
}
