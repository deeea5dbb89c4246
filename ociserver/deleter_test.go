package ociserver_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
)

func TestDeleteBlob(t *testing.T) {
	r := ocimem.New()
	desc := pushBlob(t, r, "foo", "to delete")
	base := newServer(t, r, nil)
	path := "/v2/foo/blobs/" + string(desc.Digest)
	resp := do(t, base, request{method: "DELETE", path: path})
	qt.Check(t, qt.Equals(resp.status, 202))
	resp = do(t, base, request{method: "GET", path: path})
	checkError(t, resp, 404, "BLOB_UNKNOWN")
	resp = do(t, base, request{method: "DELETE", path: path})
	checkError(t, resp, 404, "BLOB_UNKNOWN")
}

func TestDeleteManifest(t *testing.T) {
	r := ocimem.New()
	desc := pushManifest(t, r, "foo", "v1", "seed", nil, "")
	_, err := r.PushManifest(context.Background(), "foo", "v2", imageManifest(t, r, "foo", "seed", nil, ""), desc.MediaType)
	qt.Assert(t, qt.IsNil(err))
	base := newServer(t, r, nil)

	// Deleting a tag leaves the manifest.
	resp := do(t, base, request{method: "DELETE", path: "/v2/foo/manifests/v1"})
	qt.Check(t, qt.Equals(resp.status, 202))
	resp = do(t, base, request{method: "GET", path: "/v2/foo/manifests/v1"})
	checkError(t, resp, 404, "MANIFEST_UNKNOWN")
	resp = do(t, base, request{method: "DELETE", path: "/v2/foo/manifests/v1"})
	checkError(t, resp, 404, "MANIFEST_UNKNOWN")
	resp = do(t, base, request{method: "GET", path: "/v2/foo/manifests/v2"})
	qt.Check(t, qt.Equals(resp.status, 200))

	// Deleting by digest removes the manifest and its tags.
	resp = do(t, base, request{method: "DELETE", path: "/v2/foo/manifests/" + string(desc.Digest)})
	qt.Check(t, qt.Equals(resp.status, 202))
	resp = do(t, base, request{method: "GET", path: "/v2/foo/manifests/" + string(desc.Digest)})
	checkError(t, resp, 404, "MANIFEST_UNKNOWN")
	_, err = r.ResolveTag(context.Background(), "foo", "v2")
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	resp = do(t, base, request{method: "DELETE", path: "/v2/foo/manifests/" + string(desc.Digest)})
	checkError(t, resp, 404, "MANIFEST_UNKNOWN")
}

// TestBackendMethodNotAllowedHasAllow checks that a 405 whose cause is
// the backend (one that supports no delete) says in Allow which methods
// the endpoint surely allows: its reads.
func TestBackendMethodNotAllowedHasAllow(t *testing.T) {
	base := newServer(t, &ociregistry.Funcs{}, nil)
	for _, path := range []string{"/v2/foo/blobs/" + digest.FromString("x").String(), "/v2/foo/manifests/v1"} {
		resp := do(t, base, request{method: "DELETE", path: path})
		checkError(t, resp, http.StatusMethodNotAllowed, "UNSUPPORTED")
		qt.Check(t, qt.Equals(resp.header.Get("Allow"), "GET, HEAD"), qt.Commentf("DELETE %s", path))
	}
}
