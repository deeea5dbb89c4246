package ociserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
)

// TestErrorMessages checks that error responses say what happened in
// words: which rule a name, tag or digest breaks, that a malformed digest
// is malformed (not content that did not match it), and, for a range, the
// range the client asked for, with no text said twice.
func TestErrorMessages(t *testing.T) {
	r := ocimem.New()
	blob := pushBlob(t, r, "foo", "0123456789")
	manifestType := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	tests := []struct {
		name    string
		rq      request
		status  int
		code    string
		want    []string
		notWant []string
	}{{
		name:    "MalformedBlobDigest",
		rq:      request{method: "GET", path: "/v2/foo/blobs/sha256:abc"},
		status:  400,
		code:    "DIGEST_INVALID",
		want:    []string{`malformed`, `3 hex digits where sha256 has 64`},
		notWant: []string{"did not match"},
	}, {
		name:    "MalformedPostDigest",
		rq:      request{method: "POST", path: "/v2/foo/blobs/uploads/?digest=sha256:xyz", body: "x"},
		status:  400,
		code:    "DIGEST_INVALID",
		want:    []string{`malformed`},
		notWant: []string{"did not match"},
	}, {
		name:    "MalformedUploadDigest",
		rq:      request{method: "PUT", path: "/v2/foo/blobs/uploads/someid?digest=nodigest"},
		status:  400,
		code:    "DIGEST_INVALID",
		want:    []string{`malformed`, `no algorithm`},
		notWant: []string{"did not match"},
	}, {
		name:    "UploadWithoutDigest",
		rq:      request{method: "PUT", path: "/v2/foo/blobs/uploads/someid"},
		status:  400,
		code:    "DIGEST_INVALID",
		want:    []string{`needs a digest parameter`},
		notWant: []string{"did not match"},
	}, {
		name:    "UnknownDigestAlgorithm",
		rq:      request{method: "POST", path: "/v2/foo/blobs/uploads/?digest-algorithm=md5"},
		status:  400,
		code:    "DIGEST_INVALID",
		want:    []string{`unsupported digest-algorithm "md5"`},
		notWant: []string{"did not match"},
	}, {
		name:   "UpperCaseName",
		rq:     request{method: "GET", path: "/v2/Team/App/tags/list"},
		status: 400,
		code:   "NAME_INVALID",
		want:   []string{`invalid repository name "Team/App": upper-case letter 'T'`},
	}, {
		name:   "DoubleSlashName",
		rq:     request{method: "GET", path: "/v2/a//b/tags/list"},
		status: 400,
		code:   "NAME_INVALID",
		want:   []string{`empty path component`},
	}, {
		name:   "BadSeparatorName",
		rq:     request{method: "POST", path: "/v2/a__-b/blobs/uploads/"},
		status: 400,
		code:   "NAME_INVALID",
		want:   []string{`component "a__-b" has a separator`},
	}, {
		name:   "BadTag",
		rq:     request{method: "PUT", path: "/v2/foo/manifests/-x", header: manifestType, body: "{}"},
		status: 400,
		code:   "MANIFEST_INVALID",
		want:   []string{`invalid tag "-x": it starts with '-'`},
	}, {
		name:   "BadTagParameter",
		rq:     request{method: "PUT", path: "/v2/foo/manifests/" + goodDigest + "?tag=a:b", header: manifestType, body: "{}"},
		status: 400,
		code:   "MANIFEST_INVALID",
		want:   []string{`invalid tag "a:b": character ':' is not allowed`},
	}, {
		name:   "GetBadTag",
		rq:     request{method: "GET", path: "/v2/foo/manifests/.x"},
		status: 404,
		code:   "MANIFEST_UNKNOWN",
		want:   []string{`invalid tag ".x": it starts with '.'`},
	}, {
		name:   "RangePastEnd",
		rq:     request{method: "GET", path: "/v2/foo/blobs/" + string(blob.Digest), header: map[string]string{"Range": "bytes=100-200"}},
		status: 416,
		code:   "RANGE_INVALID",
		want:   []string{`range bytes=100-200 starts at or past the end of blob ` + string(blob.Digest) + ` of 10 bytes`},
	}, {
		name:   "OpenRangePastEnd",
		rq:     request{method: "GET", path: "/v2/foo/blobs/" + string(blob.Digest), header: map[string]string{"Range": "bytes=10-"}},
		status: 416,
		code:   "RANGE_INVALID",
		want:   []string{`range bytes=10- starts at or past the end`},
	}}
	base := newServer(t, r, nil)
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			resp := do(t, base, test.rq)
			checkError(t, resp, test.status, test.code)
			err := ociregistry.UnmarshalError(resp.status, resp.header, []byte(resp.body))
			msg := err.Error()
			for _, w := range test.want {
				qt.Check(t, qt.StringContains(msg, w))
			}
			for _, w := range test.notWant {
				qt.Check(t, qt.Not(qt.StringContains(msg, w)))
			}
			// No part of the message is said twice, as when an
			// error's text is wrapped in the same error again.
			parts := strings.Split(msg, ": ")
			seen := map[string]bool{}
			for _, p := range parts {
				qt.Check(t, qt.IsFalse(seen[p]), qt.Commentf("%q repeated in %q", p, msg))
				seen[p] = true
			}
			if test.status == http.StatusRequestedRangeNotSatisfiable {
				qt.Check(t, qt.Equals(resp.header.Get("Content-Range"), "bytes */10"))
			}
		})
	}
}
