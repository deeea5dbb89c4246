package conformance

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"

	"github.com/ocireg/ociregistry"
)

// seeder puts content in place for the tests that read it: through the
// server under test, or straight into Options.Seed.
type seeder interface {
	// pushBlob stores b in repo.
	pushBlob(t testing.TB, repo string, b blob)
	// pushManifest stores m in repo, tagged tag when tag is not empty,
	// else by digest.
	pushManifest(t testing.TB, repo, tag string, m *manifest)
}

// seed stores m with all it refers to in repo: its blobs, its children
// (by digest) and then m itself, by digest and, when tag is not empty,
// by tag too.
func (s *suite) seed(t testing.TB, repo, tag string, m *manifest) {
	t.Helper()
	for _, b := range m.blobs {
		s.seeder.pushBlob(t, repo, b)
	}
	for _, c := range m.children {
		s.seed(t, repo, "", c)
	}
	s.seeder.pushManifest(t, repo, "", m)
	if tag != "" {
		s.seeder.pushManifest(t, repo, tag, m)
	}
}

// httpSeeder pushes through the server under test, with the plainest
// requests: POST then PUT for blobs, PUT for manifests.
type httpSeeder struct {
	c *client
}

func (h *httpSeeder) pushBlob(t testing.TB, repo string, b blob) {
	t.Helper()
	resp := h.c.send(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	resp.wantStatus(t, http.StatusAccepted)
	loc := resp.wantLocation(t)
	resp = h.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), b.data,
		"Content-Type", mtOctetStream)
	resp.wantStatus(t, http.StatusCreated)
}

func (h *httpSeeder) pushManifest(t testing.TB, repo, tag string, m *manifest) {
	t.Helper()
	ref := tag
	if ref == "" {
		ref = m.digest.String()
	}
	resp := h.c.send(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, m.data, "Content-Type", m.mediaType)
	resp.wantStatus(t, http.StatusCreated)
}

// interfaceSeeder pushes into an ociregistry.Interface.
type interfaceSeeder struct {
	r ociregistry.Interface
}

func (s *interfaceSeeder) pushBlob(t testing.TB, repo string, b blob) {
	t.Helper()
	if _, err := s.r.PushBlob(ctx(t), repo, b.desc, bytes.NewReader(b.data)); err != nil {
		t.Fatalf("seeding blob %s into %s: %v", b.desc.Digest, repo, err)
	}
}

func (s *interfaceSeeder) pushManifest(t testing.TB, repo, tag string, m *manifest) {
	t.Helper()
	if _, err := s.r.PushManifest(ctx(t), repo, tag, m.data, m.mediaType); err != nil {
		t.Fatalf("seeding manifest %s (tag %q) into %s: %v", m.digest, tag, repo, err)
	}
}

// withDigest adds a digest query parameter to an upload location,
// keeping the parameters the registry put there.
func withDigest(t testing.TB, loc string, dig ociregistry.Digest) string {
	t.Helper()
	return withQuery(t, loc, "digest", dig.String())
}

// withQuery sets a query parameter of a URL or path.
func withQuery(t testing.TB, loc, key, value string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("cannot parse location %q: %v", loc, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
