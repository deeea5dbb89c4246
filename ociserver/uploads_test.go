package ociserver_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
)

// TestMaxUploads checks that the server holds no more uploads in
// progress than Options.MaxUploads: one more is 429 TOOMANYREQUESTS with
// Retry-After, stores nothing, and disturbs neither the uploads in
// progress nor stored content; finishing or cancelling one frees a slot.
func TestMaxUploads(t *testing.T) {
	r := ocimem.New()
	stored := pushBlob(t, r, "foo", "stored before")
	base := newServer(t, r, &ociserver.Options{MaxUploads: 3})
	var locations []string
	for range 3 {
		resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		locations = append(locations, resp.header.Get("Location"))
	}
	// One session more, a single-request upload, in another
	// repository too: all refused before anything is stored.
	content := "refused content"
	for _, rq := range []request{
		{method: "POST", path: "/v2/foo/blobs/uploads/"},
		{method: "POST", path: "/v2/bar/blobs/uploads/"},
		{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + digest.FromString(content).String(), body: content},
	} {
		resp := do(t, base, rq)
		checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")
		qt.Check(t, qt.Equals(resp.header.Get("Retry-After"), "10"))
		qt.Check(t, qt.StringContains(resp.body, "3 uploads are in progress"))
	}
	resp := do(t, base, request{method: "HEAD", path: "/v2/foo/blobs/" + digest.FromString(content).String()})
	qt.Check(t, qt.Equals(resp.status, http.StatusNotFound))
	resp = do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + string(stored.Digest)})
	qt.Check(t, qt.Equals(resp.body, "stored before"))

	// The sessions in progress go on: one is finished, one
	// cancelled, each freeing a slot.
	data := "session content"
	resp = do(t, base, request{method: "PATCH", path: locations[0], body: data})
	qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	resp = do(t, base, request{method: "PUT", path: locations[0] + "?digest=" + digest.FromString(data).String()})
	qt.Assert(t, qt.Equals(resp.status, http.StatusCreated))
	resp = do(t, base, request{method: "DELETE", path: locations[1]})
	qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
	for range 2 {
		resp = do(t, base, request{method: "POST", path: "/v2/bar/blobs/uploads/"})
		qt.Check(t, qt.Equals(resp.status, http.StatusAccepted))
	}
	resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")

	// A single-request upload holds its slot only while it runs.
	resp = do(t, base, request{method: "DELETE", path: locations[2]})
	qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
	for range 3 {
		resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + digest.FromString(content).String(), body: content})
		qt.Check(t, qt.Equals(resp.status, http.StatusCreated))
	}
}

// TestUploadIdleTimeout checks that a session idle for longer than
// Options.UploadIdleTimeout stops counting against the limit and is
// cancelled in the backend, freeing what it held there.
func TestUploadIdleTimeout(t *testing.T) {
	base := newServer(t, ocimem.New(), &ociserver.Options{MaxUploads: 2, UploadIdleTimeout: 500 * time.Millisecond})
	var locations []string
	for range 2 {
		resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		locations = append(locations, resp.header.Get("Location"))
		resp = do(t, base, request{method: "PATCH", path: resp.header.Get("Location"), body: "abandoned"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	}
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	time.Sleep(700 * time.Millisecond)
	resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	qt.Check(t, qt.Equals(resp.status, http.StatusAccepted))
	for _, loc := range locations {
		resp := do(t, base, request{method: "GET", path: loc})
		checkError(t, resp, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	}
}

// TestUploadsUnlimited checks that a negative MaxUploads sets no limit.
func TestUploadsUnlimited(t *testing.T) {
	base := newServer(t, ocimem.New(), &ociserver.Options{MaxUploads: -1})
	for range 50 {
		resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	}
}
