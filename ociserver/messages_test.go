package ociserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
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

// TestErrorMessagesLongUploadID checks that an upload ID of thousands of
// characters, which no registry hands out, is not echoed whole in the
// BLOB_UPLOAD_UNKNOWN answer, by either backend and for every method.
func TestErrorMessagesLongUploadID(t *testing.T) {
	id := strings.Repeat("x", 5000)
	for name, newBackend := range backends(t) {
		base := newServer(t, newBackend(t), nil)
		for _, method := range []string{"GET", "PATCH", "PUT", "DELETE"} {
			t.Run(name+"/"+method, func(t *testing.T) {
				path := "/v2/foo/blobs/uploads/" + id
				if method == "PUT" {
					path += "?digest=" + digest.FromString("").String()
				}
				resp := do(t, base, request{method: method, path: path})
				qt.Check(t, qt.Equals(resp.status, http.StatusNotFound))
				qt.Check(t, qt.Equals(errorCode(t, resp.body), "BLOB_UPLOAD_UNKNOWN"))
				qt.Check(t, qt.StringContains(resp.body, "xxxxxxxxxx"))
				qt.Check(t, qt.IsTrue(len(resp.body) < 500), qt.Commentf("body of %d bytes: %.300s", len(resp.body), resp.body))
			})
		}
	}
}

// TestErrorMessagesNoServerPaths checks that a 500 caused by the server's
// file system does not tell the client the server's paths: the client
// gets UNKNOWN and a generic message, and the log gets the whole error.
func TestErrorMessagesNoServerPaths(t *testing.T) {
	dir := t.TempDir()
	r, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	// The uploads directory becomes a file: no upload can start.
	qt.Assert(t, qt.IsNil(os.RemoveAll(filepath.Join(dir, "uploads"))))
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(dir, "uploads"), nil, 0o666)))
	var logBuf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logBuf}, nil))
	base := newServer(t, r, &ociserver.Options{Logger: logger})

	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	qt.Check(t, qt.Equals(resp.status, http.StatusInternalServerError))
	qt.Check(t, qt.Equals(errorCode(t, resp.body), "UNKNOWN"))
	qt.Check(t, qt.IsFalse(strings.Contains(resp.body, dir)), qt.Commentf("body %s", resp.body))
	qt.Check(t, qt.StringContains(resp.body, "log"))
	mu.Lock()
	defer mu.Unlock()
	qt.Check(t, qt.StringContains(logBuf.String(), filepath.Join(dir, "uploads")))
}

// TestErrorMessagesNoBackendDetails checks that what a backend says of
// its own failures (an object store's answer, a network error) reaches
// the log but not the client, whatever the status and however it is
// wrapped or joined, while coded errors keep their words: the client
// still learns what is wrong.
func TestErrorMessagesNoBackendDetails(t *testing.T) {
	const detail = "operation error S3: GetObject, StatusCode: 503, RequestID: X1, bucket secret-bucket"
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 443}, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		tag     string
		err     error
		status  int
		code    string
		message string // what the client must be told
	}{{
		tag:     "plain",
		err:     fmt.Errorf("ocis3: reading tag: %s", detail),
		status:  http.StatusInternalServerError,
		code:    "UNKNOWN",
		message: "its log says why",
	}, {
		tag:     "joined",
		err:     errors.Join(fmt.Errorf("r0: %w", ociregistry.ErrManifestUnknown), fmt.Errorf("r1: ocis3: %s", detail)),
		status:  http.StatusNotFound,
		code:    "MANIFEST_UNKNOWN",
		message: "manifest unknown",
	}, {
		tag:     "network",
		err:     &ociregistry.HTTPError{StatusCode: http.StatusBadGateway, Err: fmt.Errorf("%w: %w", ociregistry.NewError("upstream failed", "UNKNOWN", nil), dialErr)},
		status:  http.StatusBadGateway,
		code:    "UNKNOWN",
		message: "upstream failed",
	}, {
		tag:     "upstream",
		err:     &ociregistry.HTTPError{StatusCode: http.StatusInternalServerError, Err: ociregistry.NewError("upstream said: storage full", "UNKNOWN", nil)},
		status:  http.StatusInternalServerError,
		code:    "UNKNOWN",
		message: "upstream said: storage full",
	}}
	var logBuf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logBuf}, nil))
	base := newServer(t, &ociregistry.Funcs{
		GetTag_: func(ctx context.Context, repo, tag string) (ociregistry.BlobReader, error) {
			for _, test := range tests {
				if test.tag == tag {
					return nil, test.err
				}
			}
			return nil, ociregistry.ErrManifestUnknown
		},
	}, &ociserver.Options{Logger: logger})
	for _, test := range tests {
		t.Run(test.tag, func(t *testing.T) {
			resp := do(t, base, request{method: "GET", path: "/v2/foo/manifests/" + test.tag})
			qt.Check(t, qt.Equals(resp.status, test.status))
			qt.Check(t, qt.Equals(errorCode(t, resp.body), test.code))
			qt.Check(t, qt.StringContains(resp.body, test.message))
			qt.Check(t, qt.Not(qt.StringContains(resp.body, "secret-bucket")))
			qt.Check(t, qt.Not(qt.StringContains(resp.body, "10.1.2.3")))
		})
	}
	mu.Lock()
	defer mu.Unlock()
	qt.Check(t, qt.StringContains(logBuf.String(), "secret-bucket"))
	qt.Check(t, qt.StringContains(logBuf.String(), "10.1.2.3"))
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
