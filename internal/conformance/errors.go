package conformance

import (
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
)

// testErrors checks requests that every registry must refuse, and the
// form of its error bodies (spec: Error Codes).
func (s *suite) testErrors(t *testing.T) {
	dig := digest.FromString("conformance " + s.run)
	invalidNames := []struct {
		name string
		repo string
	}{
		{"UpperCase", s.opts.Namespace + "/Upper-Case"},
		{"TripleUnderscore", s.opts.Namespace + "/a___b"},
		{"LeadingDash", s.opts.Namespace + "/-leading"},
		{"TrailingDot", s.opts.Namespace + "/trailing."},
	}
	for _, n := range invalidNames {
		t.Run("NameInvalid/"+n.name, func(t *testing.T) {
			t.Run("GetManifest", func(t *testing.T) {
				resp := s.c.get(t, "/v2/"+n.repo+"/manifests/latest")
				resp.wantError(t, []int{http.StatusBadRequest}, "NAME_INVALID")
			})
			t.Run("GetBlob", func(t *testing.T) {
				resp := s.c.get(t, "/v2/"+n.repo+"/blobs/"+dig.String())
				resp.wantError(t, []int{http.StatusBadRequest}, "NAME_INVALID")
			})
			t.Run("TagList", func(t *testing.T) {
				resp := s.c.get(t, "/v2/"+n.repo+"/tags/list")
				resp.wantError(t, []int{http.StatusBadRequest}, "NAME_INVALID")
			})
			if !s.opts.SkipPush {
				t.Run("StartUpload", func(t *testing.T) {
					resp := s.c.send(t, http.MethodPost, "/v2/"+n.repo+"/blobs/uploads/", nil)
					resp.wantError(t, []int{http.StatusBadRequest}, "NAME_INVALID")
				})
				t.Run("PutManifest", func(t *testing.T) {
					m := newImage(digest.SHA256, imageOpts{})
					resp := s.c.send(t, http.MethodPut, "/v2/"+n.repo+"/manifests/latest", m.data, "Content-Type", m.mediaType)
					resp.wantError(t, []int{http.StatusBadRequest}, "NAME_INVALID")
				})
			}
		})
	}
}
