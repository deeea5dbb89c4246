package ociserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
)

// TestEncodedNames checks that a repository name is taken as sent: a
// percent-encoded slash or dot does not make another name (a%2Fb is not
// a/b, %2E%2E is not ..), whatever the endpoint, so no filter or access
// rule can be reached by another spelling of a name. Such a name is 400
// NAME_INVALID, says why, and never reaches the backend.
func TestEncodedNames(t *testing.T) {
	names := []string{
		"a%2fb",
		"a%2Fb",
		"a%2fb%2fc",
		"x/a%2fb",
		"%2e%2e",
		"%2E%2E/a",
		"a/%2e%2e/b",
		"%61",     // "a", spelt differently
		"a%252fb", // a double-encoded slash
	}
	manifestType := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	endpoints := []struct {
		name   string
		method string
		path   string // after the name
		header map[string]string
		body   string
	}{
		{"PutManifest", "PUT", "/manifests/latest", manifestType, "{}"},
		{"PutManifestByDigest", "PUT", "/manifests/" + goodDigest, manifestType, "{}"},
		{"GetManifest", "GET", "/manifests/latest", nil, ""},
		{"HeadManifest", "HEAD", "/manifests/latest", nil, ""},
		{"DeleteManifest", "DELETE", "/manifests/" + goodDigest, nil, ""},
		{"DeleteTag", "DELETE", "/manifests/latest", nil, ""},
		{"GetBlob", "GET", "/blobs/" + goodDigest, nil, ""},
		{"HeadBlob", "HEAD", "/blobs/" + goodDigest, nil, ""},
		{"DeleteBlob", "DELETE", "/blobs/" + goodDigest, nil, ""},
		{"StartUpload", "POST", "/blobs/uploads/", nil, ""},
		{"StartUploadNoSlash", "POST", "/blobs/uploads", nil, ""},
		{"SinglePostUpload", "POST", "/blobs/uploads/?digest=" + goodDigest, nil, ""},
		{"Mount", "POST", "/blobs/uploads/?mount=" + goodDigest + "&from=src", nil, ""},
		{"PatchUpload", "PATCH", "/blobs/uploads/someid", nil, "data"},
		{"PutUpload", "PUT", "/blobs/uploads/someid?digest=" + goodDigest, nil, ""},
		{"UploadStatus", "GET", "/blobs/uploads/someid", nil, ""},
		{"CancelUpload", "DELETE", "/blobs/uploads/someid", nil, ""},
		{"Tags", "GET", "/tags/list", nil, ""},
		{"Referrers", "GET", "/referrers/" + goodDigest, nil, ""},
	}
	r := ocimem.New()
	pushBlob(t, r, "src", "")
	var c counter
	base := newServer(t, counting(r, &c), nil)
	for _, name := range names {
		for _, ep := range endpoints {
			t.Run(name+"/"+ep.name, func(t *testing.T) {
				before := len(c.get())
				resp := do(t, base, request{method: ep.method, path: "/v2/" + name + ep.path, header: ep.header, body: ep.body})
				if ep.method == "HEAD" {
					qt.Check(t, qt.Equals(resp.status, http.StatusBadRequest))
				} else {
					checkError(t, resp, http.StatusBadRequest, "NAME_INVALID")
					qt.Check(t, qt.StringContains(resp.body, "percent-encoded"))
				}
				qt.Check(t, qt.HasLen(c.get()[before:], 0), qt.Commentf("backend calls %v", c.get()[before:]))
			})
		}
	}
	// Nothing was made under any decoded spelling.
	var repos []string
	for repo, err := range r.Repositories(context.Background(), "") {
		qt.Assert(t, qt.IsNil(err))
		repos = append(repos, repo)
	}
	qt.Check(t, qt.DeepEquals(repos, []string{"src"}))
}

// TestEncodedReference checks that the reference, unlike the name, may
// be escaped, as some clients escape the colon of a digest.
func TestEncodedReference(t *testing.T) {
	r := ocimem.New()
	desc := pushBlob(t, r, "foo", "hello")
	base := newServer(t, r, nil)
	resp := do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + strings.Replace(string(desc.Digest), ":", "%3A", 1)})
	qt.Check(t, qt.Equals(resp.status, http.StatusOK))
	qt.Check(t, qt.Equals(resp.body, "hello"))
	// An escaped slash in a tag is still no tag.
	resp = do(t, base, request{method: "PUT", path: "/v2/foo/manifests/a%2Fb", header: map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body: "{}"})
	checkError(t, resp, http.StatusBadRequest, "MANIFEST_INVALID")
	for tag, err := range r.Tags(context.Background(), "foo", "") {
		t.Errorf("tag %q stored (err %v)", tag, err)
	}
}

// TestHeadAsGet checks that every path that answers GET answers HEAD
// too, as RFC 9110 asks of every server, with the status and the headers
// that GET gives (the length and type of the body it would have sent
// among them) and no body; errors included.
func TestHeadAsGet(t *testing.T) {
	r := ocimem.New()
	subject := pushManifest(t, r, "foo", "latest", "subject", nil, "")
	pushManifest(t, r, "foo", "", "referrer", &subject, "application/x.example")
	blob := pushBlob(t, r, "foo", "some content")
	base := newServer(t, r, &ociserver.Options{ListPageSize: 1})
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	upload := locationPath(t, resp)

	paths := []string{
		"/v2/",
		"/v2/_catalog",
		"/v2/_catalog?n=x",
		"/v2/foo/tags/list",
		"/v2/nothere/tags/list",
		"/v2/foo/referrers/" + string(subject.Digest),
		"/v2/foo/referrers/" + string(subject.Digest) + "?artifactType=application/x.example",
		"/v2/foo/referrers/notadigest",
		"/v2/foo/blobs/" + string(blob.Digest),
		"/v2/foo/blobs/" + goodDigest,
		"/v2/foo/blobs/sha256:bad",
		"/v2/foo/manifests/latest",
		"/v2/foo/manifests/nothere",
		"/v2/Foo/manifests/latest",
		upload,
		"/v2/foo/blobs/uploads/nothere",
		"/v2/foo/nothing",
	}
	compared := []string{"Content-Type", "Content-Length", "Docker-Content-Digest", "Link", "Location", "Range", "OCI-Filters-Applied", "Allow"}
	for _, path := range paths {
		t.Run(strings.TrimPrefix(path, "/v2/"), func(t *testing.T) {
			get := do(t, base, request{method: "GET", path: path})
			head := do(t, base, request{method: "HEAD", path: path})
			qt.Check(t, qt.Equals(head.status, get.status), qt.Commentf("GET body %s", get.body))
			for _, h := range compared {
				qt.Check(t, qt.DeepEquals(head.header.Values(h), get.header.Values(h)), qt.Commentf("header %s", h))
			}
			qt.Check(t, qt.Equals(head.body, ""))
		})
	}
}
