package ociserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var linkPattern = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// nextLink returns the target of the Link header of resp, or "".
func nextLink(t *testing.T, resp response) string {
	t.Helper()
	link := resp.header.Get("Link")
	if link == "" {
		return ""
	}
	m := linkPattern.FindStringSubmatch(link)
	qt.Assert(t, qt.Not(qt.IsNil(m)), qt.Commentf("Link %q", link))
	return m[1]
}

func TestTags(t *testing.T) {
	r := ocimem.New()
	desc := pushManifest(t, r, "foo", "", "seed", nil, "")
	data := imageManifest(t, r, "foo", "seed", nil, "")
	for _, tag := range []string{"e", "a", "c", "b", "d"} {
		_, err := r.PushManifest(context.Background(), "foo", tag, data, desc.MediaType)
		qt.Assert(t, qt.IsNil(err))
	}
	base := newServer(t, r, nil)
	tests := []struct {
		query string
		tags  string
		link  string
	}{
		{"", `["a","b","c","d","e"]`, ""},
		{"?n=2", `["a","b"]`, "/v2/foo/tags/list?last=b&n=2"},
		{"?n=2&last=b", `["c","d"]`, "/v2/foo/tags/list?last=d&n=2"},
		{"?n=2&last=d", `["e"]`, ""},
		{"?n=5", `["a","b","c","d","e"]`, ""},
		{"?n=0", `[]`, ""},
		{"?last=c", `["d","e"]`, ""},
		{"?last=e", `[]`, ""},
	}
	for _, test := range tests {
		t.Run(test.query, func(t *testing.T) {
			resp := do(t, base, request{method: "GET", path: "/v2/foo/tags/list" + test.query})
			qt.Check(t, qt.Equals(resp.status, 200))
			qt.Check(t, qt.Equals(resp.header.Get("Content-Type"), "application/json"))
			qt.Check(t, qt.Equals(resp.body, `{"name":"foo","tags":`+test.tags+`}`))
			qt.Check(t, qt.Equals(nextLink(t, resp), test.link))
		})
	}
	resp := do(t, base, request{method: "GET", path: "/v2/nothere/tags/list"})
	checkError(t, resp, 404, "NAME_UNKNOWN")
	resp = do(t, base, request{method: "GET", path: "/v2/nothere/tags/list?n=0"})
	checkError(t, resp, 404, "NAME_UNKNOWN")
}

// TestTagsPageLimit checks that a listing without n is cut into pages of
// Options.ListPageSize, and that following the Link headers gets the
// whole list.
func TestTagsPageLimit(t *testing.T) {
	r := ocimem.New()
	data := imageManifest(t, r, "foo", "seed", nil, "")
	var want []string
	for i := range 7 {
		tag := fmt.Sprintf("t%d", i)
		want = append(want, tag)
		_, err := r.PushManifest(context.Background(), "foo", tag, data, ocispec.MediaTypeImageManifest)
		qt.Assert(t, qt.IsNil(err))
	}
	base := newServer(t, r, &ociserver.Options{ListPageSize: 3})
	var got []string
	pages := 0
	for path := "/v2/foo/tags/list?n=100"; path != ""; pages++ {
		resp := do(t, base, request{method: "GET", path: path})
		qt.Assert(t, qt.Equals(resp.status, 200))
		var body struct{ Tags []string }
		qt.Assert(t, qt.IsNil(json.Unmarshal([]byte(resp.body), &body)))
		qt.Assert(t, qt.IsTrue(len(body.Tags) <= 3))
		got = append(got, body.Tags...)
		path = nextLink(t, resp)
	}
	qt.Check(t, qt.DeepEquals(got, want))
	qt.Check(t, qt.Equals(pages, 3))
}

func TestCatalog(t *testing.T) {
	r := ocimem.New()
	for _, repo := range []string{"c", "a/b", "a", "b"} {
		pushBlob(t, r, repo, "x")
	}
	base := newServer(t, r, nil)
	tests := []struct {
		query string
		repos string
		link  string
	}{
		{"", `["a","a/b","b","c"]`, ""},
		{"?n=2", `["a","a/b"]`, "/v2/_catalog?last=a%2Fb&n=2"},
		{"?n=2&last=a%2Fb", `["b","c"]`, ""},
		{"?n=0", `[]`, ""},
		{"?last=b", `["c"]`, ""},
	}
	for _, test := range tests {
		t.Run(test.query, func(t *testing.T) {
			resp := do(t, base, request{method: "GET", path: "/v2/_catalog" + test.query})
			qt.Check(t, qt.Equals(resp.status, 200))
			qt.Check(t, qt.Equals(resp.body, `{"repositories":`+test.repos+`}`))
			qt.Check(t, qt.Equals(nextLink(t, resp), test.link))
		})
	}
	resp := do(t, newServer(t, ocimem.New(), nil), request{method: "GET", path: "/v2/_catalog"})
	qt.Check(t, qt.Equals(resp.body, `{"repositories":[]}`))
}

// referrersIndex is the body of a referrers response.
type referrersIndex struct {
	SchemaVersion int                      `json:"schemaVersion"`
	MediaType     string                   `json:"mediaType"`
	Manifests     []ociregistry.Descriptor `json:"manifests"`
}

func TestReferrers(t *testing.T) {
	r := ocimem.New()
	subject := pushManifest(t, r, "foo", "v1", "subject", nil, "")
	var all []ociregistry.Descriptor
	for i := range 5 {
		artifactType := "application/x-sbom"
		if i%2 == 1 {
			artifactType = "application/x-sig"
		}
		all = append(all, pushManifest(t, r, "foo", "", fmt.Sprint("ref", i), &subject, artifactType))
	}
	base := newServer(t, r, &ociserver.Options{ReferrersPageSize: 2})
	subjectPath := "/v2/foo/referrers/" + string(subject.Digest)

	fetchAll := func(t *testing.T, path string, wantFilter string) []ociregistry.Descriptor {
		var got []ociregistry.Descriptor
		for path != "" {
			resp := do(t, base, request{method: "GET", path: path})
			qt.Assert(t, qt.Equals(resp.status, 200), qt.Commentf("body %s", resp.body))
			qt.Check(t, qt.Equals(resp.header.Get("Content-Type"), ocispec.MediaTypeImageIndex))
			qt.Check(t, qt.Equals(resp.header.Get("OCI-Filters-Applied"), wantFilter))
			var idx referrersIndex
			qt.Assert(t, qt.IsNil(json.Unmarshal([]byte(resp.body), &idx)))
			qt.Check(t, qt.Equals(idx.SchemaVersion, 2))
			qt.Check(t, qt.Equals(idx.MediaType, ocispec.MediaTypeImageIndex))
			qt.Check(t, qt.IsTrue(len(idx.Manifests) <= 2))
			got = append(got, idx.Manifests...)
			path = nextLink(t, resp)
		}
		return got
	}
	got := fetchAll(t, subjectPath, "")
	qt.Assert(t, qt.HasLen(got, 5))
	digests := map[digest.Digest]bool{}
	for i, desc := range got {
		digests[desc.Digest] = true
		if i > 0 {
			qt.Check(t, qt.IsTrue(got[i-1].Digest < desc.Digest))
		}
		qt.Check(t, qt.Not(qt.Equals(desc.ArtifactType, "")))
	}
	for _, desc := range all {
		qt.Check(t, qt.IsTrue(digests[desc.Digest]))
	}

	got = fetchAll(t, subjectPath+"?artifactType="+url.QueryEscape("application/x-sig"), "artifactType")
	qt.Assert(t, qt.HasLen(got, 2))
	for _, desc := range got {
		qt.Check(t, qt.Equals(desc.ArtifactType, "application/x-sig"))
	}
	// The filter is kept across pages.
	resp := do(t, base, request{method: "GET", path: subjectPath + "?artifactType=application/x-sbom"})
	qt.Check(t, qt.StringContains(nextLink(t, resp), "artifactType=application%2Fx-sbom"))

	// Nothing refers to it, or the repository does not exist: an empty
	// list, never null.
	for _, path := range []string{"/v2/foo/referrers/" + goodDigest, "/v2/nothere/referrers/" + goodDigest} {
		resp := do(t, base, request{method: "GET", path: path})
		qt.Check(t, qt.Equals(resp.status, 200))
		qt.Check(t, qt.StringContains(resp.body, `"manifests":[]`))
	}
}

func TestReferrersByteLimit(t *testing.T) {
	r := ocimem.New()
	subject := pushManifest(t, r, "foo", "v1", "subject", nil, "")
	for i := range 4 {
		pushManifest(t, r, "foo", "", fmt.Sprint("ref", i), &subject, "application/x-"+strings.Repeat("y", 100))
	}
	refs, err := ociregistry.All(r.Referrers(context.Background(), "foo", subject.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	descSize := 0
	for _, desc := range refs {
		data, err := json.Marshal(desc)
		qt.Assert(t, qt.IsNil(err))
		descSize = max(descSize, len(data)+1)
	}
	// Room for the index and two and a half descriptors: two fit.
	limit := 200 + descSize*5/2
	base := newServer(t, r, &ociserver.Options{MaxManifestSize: int64(limit)})
	resp := do(t, base, request{method: "GET", path: "/v2/foo/referrers/" + string(subject.Digest)})
	qt.Assert(t, qt.Equals(resp.status, 200))
	var idx referrersIndex
	qt.Assert(t, qt.IsNil(json.Unmarshal([]byte(resp.body), &idx)))
	qt.Check(t, qt.HasLen(idx.Manifests, 2))
	qt.Check(t, qt.IsTrue(len(resp.body) <= limit))
	qt.Check(t, qt.Not(qt.Equals(nextLink(t, resp), "")))
}

func TestReferrersDisabled(t *testing.T) {
	var c counter
	base := newServer(t, counting(ocimem.New(), &c), &ociserver.Options{DisableReferrersAPI: true})
	resp := do(t, base, request{method: "GET", path: "/v2/foo/referrers/" + goodDigest})
	checkError(t, resp, 404, "UNSUPPORTED")
	qt.Check(t, qt.HasLen(c.get(), 0))
}
