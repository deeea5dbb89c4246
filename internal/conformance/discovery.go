package conformance

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// tagList is the body of a tags/list response.
type tagList struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

// testTagList checks tag listing (spec: Listing Tags, end-8a, end-8b).
func (s *suite) testTagList(t *testing.T) {
	repo := s.repo("tags")
	m := newImage(digest.Canonical, imageOpts{layers: 1})
	// Only lower-case letters and digits, so that the two orders the
	// spec allows (lexical and ASCIIbetical) agree.
	tags := []string{"v2", "alpha", "gamma10", "beta", "gamma2", "latest", "gamma1"}
	s.seed(t, repo, tags[0], m)
	for _, tag := range tags[1:] {
		s.seeder.pushManifest(t, repo, tag, m)
	}
	sorted := slices.Sorted(slices.Values(tags))
	list := func(t *testing.T, query string) (*response, tagList) {
		t.Helper()
		resp := s.c.get(t, "/v2/"+repo+"/tags/list"+query)
		resp.wantStatus(t, http.StatusOK)
		var tl tagList
		if err := json.Unmarshal(resp.body, &tl); err != nil {
			t.Fatalf("cannot decode tag list: %v\n%s", err, resp)
		}
		if tl.Name != repo {
			t.Errorf("name: got %q, want %q\n%s", tl.Name, repo, resp)
		}
		return resp, tl
	}
	t.Run("All", func(t *testing.T) {
		resp, tl := list(t, "")
		if !slices.Equal(tl.Tags, sorted) {
			t.Errorf("tags: got %q, want %q\n%s", tl.Tags, sorted, resp)
		}
	})
	cases := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"N", url.Values{"n": {"3"}}, sorted[:3]},
		{"NAndLast", url.Values{"n": {"2"}, "last": {sorted[2]}}, sorted[3:5]},
		{"NAndLastNearEnd", url.Values{"n": {"5"}, "last": {sorted[4]}}, sorted[5:]},
		{"Last", url.Values{"last": {sorted[3]}}, sorted[4:]},
		{"LastNotATag", url.Values{"last": {"delta"}}, sorted[slices.IndexFunc(sorted, func(s string) bool { return s > "delta" }):]},
		{"LastAfterAll", url.Values{"last": {"zzz"}}, nil},
		{"NBiggerThanCount", url.Values{"n": {"100"}}, sorted},
		{"NEqualsCount", url.Values{"n": {strconv.Itoa(len(sorted))}}, sorted},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, tl := list(t, "?"+c.query.Encode())
			// The spec lets a registry answer fewer than n tags with a
			// Link to the rest, but the older official suite wants
			// exactly n when there are that many, so this does too.
			if !slices.Equal(tl.Tags, c.want) && !(len(tl.Tags) == 0 && len(c.want) == 0) {
				t.Errorf("tags: got %q, want %q\n%s", tl.Tags, c.want, resp)
			}
		})
	}
	t.Run("NZero", func(t *testing.T) {
		resp, tl := list(t, "?n=0")
		if len(tl.Tags) != 0 {
			t.Errorf("n=0 gave tags %q, want none\n%s", tl.Tags, resp)
		}
		if resp.header.Get("Link") != "" {
			t.Errorf("n=0 gave a Link header, which the spec forbids\n%s", resp)
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		got := s.paginate(t, "/v2/"+repo+"/tags/list?n=2", func(t *testing.T, resp *response) []string {
			var tl tagList
			if err := json.Unmarshal(resp.body, &tl); err != nil {
				t.Fatalf("cannot decode tag list: %v\n%s", err, resp)
			}
			return tl.Tags
		})
		if !slices.Equal(got, sorted) {
			t.Errorf("pages of 2 gave tags %q, want %q", got, sorted)
		}
	})
	t.Run("UntaggedRepository", func(t *testing.T) {
		repo := s.repo("tags-none")
		s.seed(t, repo, "", newImage(digest.Canonical, imageOpts{layers: 1}))
		resp := s.c.get(t, "/v2/"+repo+"/tags/list")
		resp.wantStatus(t, http.StatusOK)
		var tl tagList
		if err := json.Unmarshal(resp.body, &tl); err != nil {
			t.Fatalf("cannot decode tag list: %v\n%s", err, resp)
		}
		if len(tl.Tags) != 0 {
			t.Errorf("got tags %q, want none\n%s", tl.Tags, resp)
		}
	})
	t.Run("UnknownRepository", func(t *testing.T) {
		// "Assuming a repository is found": a registry may answer 404
		// NAME_UNKNOWN, or an empty list.
		resp := s.c.get(t, "/v2/"+s.repo("never-pushed")+"/tags/list")
		resp.wantStatus(t, http.StatusOK, http.StatusNotFound)
		if resp.status == http.StatusNotFound {
			resp.wantError(t, []int{http.StatusNotFound}, "NAME_UNKNOWN")
		}
	})
}

// paginate follows a listing from first: through the Link header when
// there is one, else with last= while pages come back full. It returns
// everything listed.
func (s *suite) paginate(t *testing.T, first string, decode func(*testing.T, *response) []string) []string {
	t.Helper()
	u, err := url.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(u.Query().Get("n"))
	var all []string
	next := first
	for i := 0; next != ""; i++ {
		if i > 100 {
			t.Fatalf("more than 100 pages; listing does not end")
		}
		resp := s.c.get(t, next)
		resp.wantStatus(t, http.StatusOK)
		page := decode(t, resp)
		if len(page) > n {
			t.Errorf("page has %d entries, more than n=%d\n%s", len(page), n, resp)
		}
		all = append(all, page...)
		link := resp.nextLink(t)
		switch {
		case link != "":
			next = link
		case len(page) == n && n > 0:
			// No Link: the spec has the client carry on with last.
			q := u.Query()
			q.Set("last", page[len(page)-1])
			u.RawQuery = q.Encode()
			next = u.String()
		default:
			next = ""
		}
	}
	return all
}

// testCatalog checks repository listing (the reserved _catalog
// extension).
func (s *suite) testCatalog(t *testing.T) {
	prefix := s.opts.Namespace + "/catalog-" + s.run
	repos := []string{prefix + "-a", prefix + "-b", prefix + "-c"}
	for _, r := range repos {
		s.seed(t, r, "", newImage(digest.Canonical, imageOpts{layers: 1}))
	}
	decode := func(t *testing.T, resp *response) []string {
		var cl struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(resp.body, &cl); err != nil {
			t.Fatalf("cannot decode catalog: %v\n%s", err, resp)
		}
		return cl.Repositories
	}
	t.Run("All", func(t *testing.T) {
		got := s.paginate(t, "/v2/_catalog?n=1000", decode)
		for _, r := range repos {
			if !slices.Contains(got, r) {
				t.Errorf("catalog lacks repository %q", r)
			}
		}
		if !slices.IsSorted(got) {
			t.Errorf("catalog is not in lexical order: %q", got)
		}
	})
	t.Run("NAndLast", func(t *testing.T) {
		// Nothing else sorts between our repositories, so the page
		// after prefix holds exactly them.
		resp := s.c.get(t, "/v2/_catalog?"+url.Values{"n": {"2"}, "last": {prefix}}.Encode())
		resp.wantStatus(t, http.StatusOK)
		got := decode(t, resp)
		if len(got) < 2 && resp.nextLink(t) == "" {
			t.Errorf("got %d repositories and no Link, want 2\n%s", len(got), resp)
		}
		if !slices.Equal(got, repos[:len(got)]) || len(got) > 2 {
			t.Errorf("got repositories %q, want %q\n%s", got, repos[:2], resp)
		}
	})
	t.Run("Pagination", func(t *testing.T) {
		got := s.paginate(t, "/v2/_catalog?"+url.Values{"n": {"1"}, "last": {prefix}}.Encode(), decode)
		i := slices.Index(got, repos[0])
		if i < 0 || len(got) < i+len(repos) || !slices.Equal(got[i:i+len(repos)], repos) {
			t.Errorf("pages of 1 after %q gave %q, want %q first", prefix, got, repos)
		}
	})
	t.Run("NZero", func(t *testing.T) {
		resp := s.c.get(t, "/v2/_catalog?n=0")
		resp.wantStatus(t, http.StatusOK)
		if got := decode(t, resp); len(got) != 0 {
			t.Errorf("n=0 gave %q, want none\n%s", got, resp)
		}
		if resp.header.Get("Link") != "" {
			t.Errorf("n=0 gave a Link header\n%s", resp)
		}
	})
}

// testReferrers checks the referrers API (spec: Listing Referrers,
// end-12a, end-12b).
func (s *suite) testReferrers(t *testing.T, algo digest.Algorithm) {
	repo := s.repo("referrers-" + string(algo))
	subject := newImage(algo, imageOpts{layers: 1})
	s.seed(t, repo, "", subject)
	sd := subject.desc()
	annotated := func(kind string) map[string]string {
		return map[string]string{"org.example.kind": kind, "org.example.id": randomID()}
	}
	referrers := []*manifest{
		// An artifact with an artifactType.
		newImage(algo, imageOpts{layers: 1, layerMediaType: mtArtifactA, configMediaType: mtEmptyJSON,
			artifactType: mtArtifactA, subject: &sd, annotations: annotated("artifact")}),
		// An image without artifactType: the config's media type stands in.
		newImage(algo, imageOpts{layers: 1, layerMediaType: mtArtifactB, configMediaType: mtArtifactConf,
			subject: &sd, annotations: annotated("config-type")}),
		// Another of the first type, without annotations.
		newImage(algo, imageOpts{configMediaType: mtEmptyJSON, artifactType: mtArtifactA, subject: &sd}),
		// An index with an artifactType.
		newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1})}, indexOpts{
			artifactType: mtArtifactB, subject: &sd, annotations: annotated("index"),
		}),
		// An index without artifactType: none is reported.
		newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1})}, indexOpts{
			subject: &sd, annotations: annotated("index-no-type"),
		}),
	}
	for _, r := range referrers {
		s.seed(t, repo, "", r)
	}
	// A referrer pushed before its subject exists.
	missing := newImage(algo, imageOpts{layers: 1})
	md := missing.desc()
	early := newImage(algo, imageOpts{configMediaType: mtEmptyJSON, artifactType: mtArtifactB, subject: &md,
		annotations: annotated("early")})
	s.seed(t, repo, "", early)

	want := func(ms ...*manifest) []ociregistry.Descriptor {
		var ds []ociregistry.Descriptor
		for _, m := range ms {
			ds = append(ds, m.referrerDesc())
		}
		return ds
	}
	t.Run("All", func(t *testing.T) {
		s.checkReferrers(t, repo, subject.digest, "", want(referrers...))
	})
	filters := []struct {
		name         string
		artifactType string
		want         []*manifest
	}{
		{"ArtifactType", mtArtifactA, []*manifest{referrers[0], referrers[2]}},
		{"ConfigMediaType", mtArtifactConf, []*manifest{referrers[1]}},
		{"IndexArtifactType", mtArtifactB, []*manifest{referrers[3]}},
		{"NoMatch", "application/vnd.example.none", nil},
	}
	for _, f := range filters {
		t.Run("Filter/"+f.name, func(t *testing.T) {
			s.checkReferrers(t, repo, subject.digest, f.artifactType, want(f.want...))
		})
	}
	t.Run("SubjectPushedLater", func(t *testing.T) {
		s.checkReferrers(t, repo, missing.digest, "", want(early))
		s.seed(t, repo, "", missing)
		s.checkReferrers(t, repo, missing.digest, "", want(early))
	})
	t.Run("IndexSubject", func(t *testing.T) {
		idx := newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1})}, indexOpts{})
		s.seed(t, repo, "", idx)
		id := idx.desc()
		r := newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1})}, indexOpts{
			artifactType: mtArtifactA, subject: &id, annotations: annotated("index-of-index"),
		})
		s.seed(t, repo, "", r)
		s.checkReferrers(t, repo, idx.digest, "", want(r))
	})
	t.Run("NoReferrers", func(t *testing.T) {
		s.checkReferrers(t, repo, algo.FromBytes(randomBytes(16)), "", nil)
	})
	t.Run("ReferrersOfReferrer", func(t *testing.T) {
		s.checkReferrers(t, repo, referrers[0].digest, "", nil)
	})
	t.Run("UnknownRepository", func(t *testing.T) {
		// A registry with the referrers API must not answer 404.
		s.checkReferrers(t, s.repo("never-pushed"), algo.FromBytes(randomBytes(16)), "", nil)
	})
	t.Run("InvalidDigest", func(t *testing.T) {
		for _, d := range []string{"sha256:totallywrong", string(algo) + ":" + strings.Repeat("0", 10), "notadigest"} {
			resp := s.c.get(t, "/v2/"+repo+"/referrers/"+d)
			resp.wantStatus(t, http.StatusBadRequest)
		}
	})
}

// checkReferrers checks the referrers listing of dig in repo, filtered
// by artifactType when not empty, against want (in any order).
func (s *suite) checkReferrers(t *testing.T, repo string, dig digest.Digest, artifactType string, want []ociregistry.Descriptor) {
	t.Helper()
	u := "/v2/" + repo + "/referrers/" + dig.String()
	if artifactType != "" {
		u += "?" + url.Values{"artifactType": {artifactType}}.Encode()
	}
	var got []ociregistry.Descriptor
	for page := 0; u != ""; page++ {
		if page > 100 {
			t.Fatalf("more than 100 pages of referrers")
		}
		resp := s.c.get(t, u)
		resp.wantStatus(t, http.StatusOK)
		resp.checkHeader(t, "Content-Type", mtIndex)
		if artifactType != "" {
			// The only filter the spec defines; the older official
			// suite compares the header with it exactly.
			resp.checkHeader(t, "OCI-Filters-Applied", "artifactType")
		}
		var idx referrersResponse
		if err := json.Unmarshal(resp.body, &idx); err != nil {
			t.Fatalf("cannot decode referrers response: %v\n%s", err, resp)
		}
		if idx.SchemaVersion != 2 || idx.MediaType != mtIndex {
			t.Errorf("referrers response is not an image index (schemaVersion %d, mediaType %q)\n%s", idx.SchemaVersion, idx.MediaType, resp)
		}
		if idx.Manifests == nil {
			// "If a query results in no matching referrers, an empty
			// manifest list MUST be returned": [] and not null or
			// nothing, which clients decode as an invalid index.
			var raw map[string]json.RawMessage
			_ = json.Unmarshal(resp.body, &raw)
			if !bytes.Equal(bytes.TrimSpace(raw["manifests"]), []byte("[]")) {
				t.Errorf("referrers response has manifests %q, want []\n%s", raw["manifests"], resp)
			}
		}
		got = append(got, idx.Manifests...)
		u = resp.nextLink(t)
	}
	byDigest := func(ds []ociregistry.Descriptor) map[digest.Digest]ociregistry.Descriptor {
		m := make(map[digest.Digest]ociregistry.Descriptor)
		for _, d := range ds {
			m[d.Digest] = d
		}
		return m
	}
	gotM, wantM := byDigest(got), byDigest(want)
	if len(got) != len(gotM) {
		t.Errorf("referrers list has duplicate entries: %v", got)
	}
	for d, w := range wantM {
		g, ok := gotM[d]
		if !ok {
			t.Errorf("referrers of %s lack %s (%s, artifactType %q)", dig, d, w.MediaType, w.ArtifactType)
			continue
		}
		if g.MediaType != w.MediaType || g.Size != w.Size || g.ArtifactType != w.ArtifactType {
			t.Errorf("referrer %s: got mediaType %q size %d artifactType %q, want %q %d %q",
				d, g.MediaType, g.Size, g.ArtifactType, w.MediaType, w.Size, w.ArtifactType)
		}
		if !maps.Equal(g.Annotations, w.Annotations) && !(len(g.Annotations) == 0 && len(w.Annotations) == 0) {
			t.Errorf("referrer %s: got annotations %v, want %v", d, g.Annotations, w.Annotations)
		}
	}
	for d, g := range gotM {
		if _, ok := wantM[d]; !ok {
			t.Errorf("referrers of %s (artifactType filter %q) list unexpected %s (%s, artifactType %q)",
				dig, artifactType, d, g.MediaType, g.ArtifactType)
		}
	}
}
