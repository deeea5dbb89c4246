package conformance

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// testContentManagement checks deletes (spec: Content Management, end-9,
// end-10). Deletes must take effect at once: the official suites read
// the content back straight after.
func (s *suite) testContentManagement(t *testing.T, algo digest.Algorithm) {
	repo := s.repo("manage-" + string(algo))
	tagged := algo == digest.Canonical
	manifestURL := func(ref string) string { return "/v2/" + repo + "/manifests/" + ref }
	blobURL := func(d digest.Digest) string { return "/v2/" + repo + "/blobs/" + d.String() }
	checkGone := func(t *testing.T, u string, code string) {
		t.Helper()
		resp := s.c.get(t, u, "Accept", mtImage, "Accept", mtIndex)
		resp.wantError(t, []int{http.StatusNotFound}, code)
		resp = s.c.head(t, u, "Accept", mtImage, "Accept", mtIndex)
		resp.checkStatus(t, http.StatusNotFound)
	}

	t.Run("DeleteManifest", func(t *testing.T) {
		m := newImage(algo, imageOpts{layers: 1})
		tag := ""
		if tagged {
			tag = "to-delete"
		}
		s.seed(t, repo, tag, m)
		resp := s.c.del(t, manifestURL(m.digest.String()))
		if tagged && s.opts.ImmutableTags {
			resp.wantStatus(t, http.StatusBadRequest, http.StatusMethodNotAllowed)
			s.checkManifestPullable(t, repo, tag, m)
			return
		}
		resp.wantStatus(t, http.StatusAccepted)
		checkGone(t, manifestURL(m.digest.String()), "MANIFEST_UNKNOWN")
		if tagged {
			// "Once deleted, a GET to ... any tag pointing to that
			// digest will return a 404."
			checkGone(t, manifestURL(tag), "MANIFEST_UNKNOWN")
			if !s.opts.SkipContentDiscovery {
				s.checkTagList(t, repo, tag, false)
			}
		}
		// Its blobs stay.
		for _, b := range m.blobs {
			s.checkBlobPullable(t, repo, b)
		}
		t.Run("DeleteAgain", func(t *testing.T) {
			resp := s.c.del(t, manifestURL(m.digest.String()))
			resp.wantError(t, []int{http.StatusNotFound}, "MANIFEST_UNKNOWN")
		})
		t.Run("PushAgain", func(t *testing.T) {
			s.seed(t, repo, "", m)
			s.checkManifestPullable(t, repo, m.digest.String(), m)
		})
	})
	if tagged {
		t.Run("DeleteTag", func(t *testing.T) {
			m := newImage(algo, imageOpts{layers: 1})
			s.seed(t, repo, "tag-a", m)
			s.seeder.pushManifest(t, repo, "tag-b", m)
			resp := s.c.del(t, manifestURL("tag-a"))
			if !s.checkTagDelete(t, resp) {
				// Refused, as declared: the tag is still there.
				s.checkManifestPullable(t, repo, "tag-a", m)
				return
			}
			checkGone(t, manifestURL("tag-a"), "MANIFEST_UNKNOWN")
			if !s.opts.SkipContentDiscovery {
				s.checkTagList(t, repo, "tag-a", false)
			}
			// Other tags are untouched.
			s.checkManifestPullable(t, repo, "tag-b", m)
			t.Run("DeleteAgain", func(t *testing.T) {
				resp := s.c.del(t, manifestURL("tag-a"))
				resp.wantError(t, []int{http.StatusNotFound}, "MANIFEST_UNKNOWN")
			})
		})
	}
	t.Run("DeleteIndexThenChildren", func(t *testing.T) {
		m := newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1}), newImage(algo, imageOpts{layers: 1})}, indexOpts{})
		s.seed(t, repo, "", m)
		for _, d := range append([]*manifest{m}, m.children...) {
			resp := s.c.del(t, manifestURL(d.digest.String()))
			resp.wantStatus(t, http.StatusAccepted)
			checkGone(t, manifestURL(d.digest.String()), "MANIFEST_UNKNOWN")
		}
	})
	t.Run("DeleteBlob", func(t *testing.T) {
		b := randomBlob(algo, 500)
		s.seeder.pushBlob(t, repo, b)
		resp := s.c.del(t, blobURL(b.desc.Digest))
		resp.wantStatus(t, http.StatusAccepted)
		checkGone(t, blobURL(b.desc.Digest), "BLOB_UNKNOWN")
		t.Run("DeleteAgain", func(t *testing.T) {
			resp := s.c.del(t, blobURL(b.desc.Digest))
			resp.wantError(t, []int{http.StatusNotFound}, "BLOB_UNKNOWN")
		})
	})
	t.Run("DeleteBlobsThenManifest", func(t *testing.T) {
		// The older official suite deletes blobs before the manifests
		// that use them; both must work.
		m := newImage(algo, imageOpts{layers: 2})
		s.seed(t, repo, "", m)
		for _, b := range m.blobs {
			resp := s.c.del(t, blobURL(b.desc.Digest))
			resp.wantStatus(t, http.StatusAccepted)
			checkGone(t, blobURL(b.desc.Digest), "BLOB_UNKNOWN")
		}
		resp := s.c.del(t, manifestURL(m.digest.String()))
		resp.wantStatus(t, http.StatusAccepted)
	})
	t.Run("Unknown", func(t *testing.T) {
		missing := algo.FromBytes(randomBytes(32))
		other := s.repo("never-pushed")
		cases := []struct {
			name  string
			url   string
			codes []string
		}{
			{"Manifest", manifestURL(missing.String()), []string{"MANIFEST_UNKNOWN"}},
			{"Tag", manifestURL("no-such-tag"), []string{"MANIFEST_UNKNOWN"}},
			{"Blob", blobURL(missing), []string{"BLOB_UNKNOWN"}},
			{"ManifestInUnknownRepository", "/v2/" + other + "/manifests/" + missing.String(), []string{"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}},
			{"BlobInUnknownRepository", "/v2/" + other + "/blobs/" + missing.String(), []string{"BLOB_UNKNOWN", "NAME_UNKNOWN"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp := s.c.del(t, c.url)
				if c.name == "Tag" && s.opts.TagDeleteUnsupported {
					s.checkTagDelete(t, resp)
					return
				}
				resp.wantError(t, []int{http.StatusNotFound}, c.codes...)
			})
		}
	})
	if !s.opts.SkipReferrers && !s.opts.SkipContentDiscovery {
		t.Run("DeleteReferrer", func(t *testing.T) {
			subject := newImage(algo, imageOpts{layers: 1})
			s.seed(t, repo, "", subject)
			sd := subject.desc()
			r1 := newImage(algo, imageOpts{configMediaType: mtEmptyJSON, artifactType: mtArtifactA, subject: &sd})
			r2 := newImage(algo, imageOpts{configMediaType: mtEmptyJSON, artifactType: mtArtifactB, subject: &sd})
			s.seed(t, repo, "", r1)
			s.seed(t, repo, "", r2)
			s.checkReferrers(t, repo, subject.digest, "", []ociregistry.Descriptor{r1.referrerDesc(), r2.referrerDesc()})
			resp := s.c.del(t, manifestURL(r1.digest.String()))
			resp.wantStatus(t, http.StatusAccepted)
			s.checkReferrers(t, repo, subject.digest, "", []ociregistry.Descriptor{r2.referrerDesc()})
		})
	}
}

// checkTagDelete checks the response to a DELETE of a tag against what
// Options.TagDeleteUnsupported declares, and reports whether the tag was
// deleted. A registry may refuse to delete tags, with 400 UNSUPPORTED (as
// the older official suite wants) or 405, but only one that says so:
// where deletion is declared, a refusal is a failure, so that a
// regression cannot pass as a registry without the feature.
func (s *suite) checkTagDelete(t testing.TB, resp *response) bool {
	t.Helper()
	if s.opts.TagDeleteUnsupported {
		resp.wantStatus(t, http.StatusBadRequest, http.StatusMethodNotAllowed)
		if resp.status == http.StatusBadRequest {
			resp.wantError(t, []int{http.StatusBadRequest}, "UNSUPPORTED")
		}
		return false
	}
	if resp.status != http.StatusAccepted {
		t.Fatalf("tag deletion refused with status %d, want 202 (set Options.TagDeleteUnsupported for a registry that does not delete tags)\n%s", resp.status, resp)
	}
	resp.wantStatus(t, http.StatusAccepted)
	return true
}

// checkTagList checks whether the tag list of repo holds tag.
func (s *suite) checkTagList(t *testing.T, repo, tag string, want bool) {
	t.Helper()
	resp := s.c.get(t, "/v2/"+repo+"/tags/list")
	resp.wantStatus(t, http.StatusOK, http.StatusNotFound)
	var tl tagList
	if resp.status == http.StatusOK {
		if err := json.Unmarshal(resp.body, &tl); err != nil {
			t.Fatalf("cannot decode tag list: %v\n%s", err, resp)
		}
	}
	if got := slices.Contains(tl.Tags, tag); got != want {
		t.Errorf("tag list holds %q: %v, want %v\n%s", tag, got, want, resp)
	}
}
