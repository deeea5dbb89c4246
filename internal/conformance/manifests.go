package conformance

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testPushManifests checks the manifest push endpoint (spec: Pushing
// Manifests, end-7a, end-7b) with every kind of manifest and the ways
// it must refuse one.
func (s *suite) testPushManifests(t *testing.T, algo digest.Algorithm) {
	repo := s.repo("push-manifests-" + string(algo))
	// Only sha256 manifests are pushed by tag: a registry computes the
	// digest of a manifest pushed by tag with its canonical algorithm.
	byTag := algo == digest.Canonical
	t.Run("Kinds", func(t *testing.T) {
		for _, k := range contentKinds(algo) {
			t.Run(k.name, func(t *testing.T) {
				s.pushContentOverHTTP(t, repo, k.m)
				if byTag {
					s.putManifest(t, repo, k.name, k.m)
					s.checkManifestPullable(t, repo, k.name, k.m)
				}
			})
		}
	})
	t.Run("SameManifestTwice", func(t *testing.T) {
		m := newImage(algo, imageOpts{layers: 1})
		s.pushContentOverHTTP(t, repo, m)
		s.putManifest(t, repo, m.digest.String(), m)
	})
	t.Run("ContentTypeWithParameters", func(t *testing.T) {
		// "The registry SHOULD ignore parameters on the Content-Type
		// header" and "SHOULD NOT include parameters" when it answers.
		m := newImage(algo, imageOpts{layers: 1})
		s.pushBlobsOverHTTP(t, repo, m)
		resp := s.c.send(t, http.MethodPut, "/v2/"+repo+"/manifests/"+m.digest.String(), m.data,
			"Content-Type", m.mediaType+"; charset=utf-8")
		s.checkManifestCreated(t, resp, repo, m)
		s.checkManifestPullable(t, repo, m.digest.String(), m)
	})
	if byTag {
		t.Run("TagMoves", func(t *testing.T) {
			m1 := newImage(algo, imageOpts{layers: 1})
			m2 := newImage(algo, imageOpts{layers: 1})
			s.pushBlobsOverHTTP(t, repo, m1)
			s.pushBlobsOverHTTP(t, repo, m2)
			s.putManifest(t, repo, "moving", m1)
			s.checkManifestPullable(t, repo, "moving", m1)
			if s.opts.ImmutableTags {
				resp := s.c.send(t, http.MethodPut, "/v2/"+repo+"/manifests/moving", m2.data, "Content-Type", m2.mediaType)
				if resp.status < 400 || resp.status >= 500 {
					t.Fatalf("moving an immutable tag answered %d, want a 4xx refusal\n%s", resp.status, resp)
				}
				s.checkManifestPullable(t, repo, "moving", m1)
				return
			}
			s.putManifest(t, repo, "moving", m2)
			s.checkManifestPullable(t, repo, "moving", m2)
			// The first manifest is still there by digest.
			s.checkManifestPullable(t, repo, m1.digest.String(), m1)
		})
		t.Run("TagFormats", func(t *testing.T) {
			m := newImage(algo, imageOpts{layers: 1})
			s.pushBlobsOverHTTP(t, repo, m)
			for _, tag := range []string{"v1.2.3", "UPPER_lower-1.2", "_leading_underscore", strings.Repeat("t", 128)} {
				s.putManifest(t, repo, tag, m)
				s.checkManifestPullable(t, repo, tag, m)
			}
		})
	}
	if !s.opts.SkipTagParam {
		t.Run("TagParameters", func(t *testing.T) {
			m := newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1})}, indexOpts{})
			s.pushBlobsOverHTTP(t, repo, m)
			for _, c := range m.children {
				s.putManifest(t, repo, c.digest.String(), c)
			}
			tags := []string{"param-1", "param-2", "param-" + randomID()}
			q := url.Values{"tag": tags}
			resp := s.c.send(t, http.MethodPut, "/v2/"+repo+"/manifests/"+m.digest.String()+"?"+q.Encode(), m.data,
				"Content-Type", m.mediaType)
			s.checkManifestCreated(t, resp, repo, m)
			var got []string
			for _, v := range resp.header.Values("OCI-Tag") {
				for tag := range strings.SplitSeq(v, ",") {
					got = append(got, strings.TrimSpace(tag))
				}
			}
			for _, tag := range tags {
				if !slices.Contains(got, tag) {
					t.Errorf("OCI-Tag headers %q do not list tag %q (spec: Pushing Manifests, end-7b)\n%s", got, tag, resp)
				}
				s.checkManifestPullable(t, repo, tag, m)
			}
		})
	}
	if !s.opts.SkipReferrers {
		t.Run("Subject", func(t *testing.T) { s.testPushSubject(t, repo, algo) })
	}
	t.Run("MissingReferences", func(t *testing.T) { s.testMissingReferences(t, repo, algo) })
	t.Run("Invalid", func(t *testing.T) { s.testInvalidManifests(t, repo, algo) })
	if algo == digest.Canonical {
		// The limit does not depend on the algorithm, and big
		// manifests are slow to check under the race detector.
		t.Run("Size", func(t *testing.T) { s.testManifestSize(t, repo, algo) })
	}
}

// pushBlobsOverHTTP pushes the blobs of m and of its children.
func (s *suite) pushBlobsOverHTTP(t *testing.T, repo string, m *manifest) {
	t.Helper()
	for _, b := range m.allBlobs() {
		s.checkBlobCreated(t, s.pushPostPut(t, repo, b), repo, b)
	}
}

// pushContentOverHTTP pushes m with everything it refers to through
// the server, by digest, checking every answer.
func (s *suite) pushContentOverHTTP(t *testing.T, repo string, m *manifest) {
	t.Helper()
	for _, b := range m.blobs {
		s.checkBlobCreated(t, s.pushPostPut(t, repo, b), repo, b)
	}
	for _, c := range m.children {
		s.pushContentOverHTTP(t, repo, c)
	}
	s.putManifest(t, repo, m.digest.String(), m)
}

// putManifest pushes m to repo by ref and checks the answer.
func (s *suite) putManifest(t *testing.T, repo, ref string, m *manifest) {
	t.Helper()
	resp := s.c.send(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, m.data, "Content-Type", m.mediaType)
	s.checkManifestCreated(t, resp, repo, m)
}

// checkManifestCreated checks the answer to a manifest push, then reads
// the manifest back from its Location.
func (s *suite) checkManifestCreated(t *testing.T, resp *response, repo string, m *manifest) {
	t.Helper()
	resp.wantStatus(t, http.StatusCreated)
	loc := resp.wantLocation(t)
	resp.checkHeader(t, "Docker-Content-Digest", m.digest.String())
	if m.subject != nil && !s.opts.SkipReferrers {
		// spec: Pushing Manifests with Subject.
		resp.checkHeader(t, "OCI-Subject", m.subject.Digest.String())
	}
	got := s.c.get(t, loc, "Accept", mtIndex, "Accept", mtImage)
	if got.checkStatus(t, http.StatusOK) {
		got.checkBody(t, m.data)
		got.checkHeader(t, "Content-Type", m.mediaType)
		got.checkHeader(t, "Content-Length", strconv.Itoa(len(m.data)))
	}
}

// testPushSubject checks manifests with a subject (spec: Pushing
// Manifests with Subject): the OCI-Subject header, and that the subject
// need not exist.
func (s *suite) testPushSubject(t *testing.T, repo string, algo digest.Algorithm) {
	subject := newImage(algo, imageOpts{layers: 1})
	s.pushContentOverHTTP(t, repo, subject)
	sd := subject.desc()
	missing := ociregistry.Descriptor{MediaType: mtImage, Digest: algo.FromBytes(randomBytes(32)), Size: 1234}
	cases := []struct {
		name string
		m    *manifest
	}{
		{"ImageWithSubject", newImage(algo, imageOpts{
			layers: 1, layerMediaType: mtArtifactA, configMediaType: mtEmptyJSON, artifactType: mtArtifactA, subject: &sd,
		})},
		{"ImageWithMissingSubject", newImage(algo, imageOpts{
			layers: 1, layerMediaType: mtArtifactA, configMediaType: mtEmptyJSON, artifactType: mtArtifactA, subject: &missing,
		})},
		{"IndexWithSubject", newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1})}, indexOpts{
			artifactType: mtArtifactB, subject: &sd,
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.pushContentOverHTTP(t, repo, c.m)
		})
	}
}

// testMissingReferences checks manifests that refer to content the
// repository does not hold (spec: Push: "it MUST result in one or more
// MANIFEST_BLOB_UNKNOWN errors").
func (s *suite) testMissingReferences(t *testing.T, repo string, algo digest.Algorithm) {
	img := newImage(algo, imageOpts{layers: 1})
	cases := []struct {
		name   string
		m      *manifest
		blobs  []blob // what to push first
		childs []*manifest
	}{
		{"MissingLayer", newImage(algo, imageOpts{layers: 1, missingLayer: true}), nil, nil},
		{"MissingConfig", img, img.blobs[1:], nil},
		{"IndexMissingChild", newIndex(algo, []*manifest{img}, indexOpts{missing: true}), img.blobs, []*manifest{img}},
	}
	cases[0].blobs = cases[0].m.blobs
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, b := range c.blobs {
				s.checkBlobCreated(t, s.pushPostPut(t, repo, b), repo, b)
			}
			for _, ch := range c.childs {
				s.putManifest(t, repo, ch.digest.String(), ch)
			}
			resp := s.c.send(t, http.MethodPut, "/v2/"+repo+"/manifests/"+c.m.digest.String(), c.m.data,
				"Content-Type", c.m.mediaType)
			if s.opts.LaxChildReferences {
				s.checkManifestCreated(t, resp, repo, c.m)
				return
			}
			// The endpoint table lists 404 for a failed manifest PUT,
			// and registries answer 400 too.
			resp.wantError(t, []int{http.StatusBadRequest, http.StatusNotFound}, "MANIFEST_BLOB_UNKNOWN")
			got := s.c.head(t, "/v2/"+repo+"/manifests/"+c.m.digest.String())
			got.checkStatus(t, http.StatusNotFound)
		})
	}
}

// testInvalidManifests checks manifests that must be refused.
func (s *suite) testInvalidManifests(t *testing.T, repo string, algo digest.Algorithm) {
	good := newImage(algo, imageOpts{layers: 1})
	s.pushBlobsOverHTTP(t, repo, good)
	other := newImage(algo, imageOpts{layers: 1})
	cases := []struct {
		name        string
		ref         string
		body        []byte
		contentType string
		statuses    []int
		codes       []string
	}{
		{"NotJSON", algo.FromString("not json").String(), []byte("not json"), mtImage,
			[]int{http.StatusBadRequest}, []string{"MANIFEST_INVALID"}},
		{"NotJSONByTag", "not-json", []byte("{\"schemaVersion\": 2, "), mtImage,
			[]int{http.StatusBadRequest}, []string{"MANIFEST_INVALID"}},
		{"DigestMismatch", other.digest.String(), good.data, mtImage,
			[]int{http.StatusBadRequest}, []string{"DIGEST_INVALID", "MANIFEST_INVALID"}},
		{"MalformedDigest", "sha256:baddigeststring", good.data, mtImage,
			[]int{http.StatusBadRequest}, []string{"DIGEST_INVALID", "MANIFEST_INVALID", "TAG_INVALID"}},
		{"InvalidTag", "-not-a-tag", good.data, mtImage,
			[]int{http.StatusBadRequest}, []string{"MANIFEST_INVALID", "TAG_INVALID", "NAME_INVALID"}},
		{"TagTooLong", strings.Repeat("t", 129), good.data, mtImage,
			[]int{http.StatusBadRequest}, []string{"MANIFEST_INVALID", "TAG_INVALID", "NAME_INVALID"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := s.c.send(t, http.MethodPut, "/v2/"+repo+"/manifests/"+c.ref, c.body, "Content-Type", c.contentType)
			resp.wantError(t, c.statuses, c.codes...)
		})
	}
	t.Run("GoodManifestStillAccepted", func(t *testing.T) {
		s.putManifest(t, repo, good.digest.String(), good)
	})
}

// testManifestSize checks the size limit (spec: Pushing Manifests: at
// least 4 megabytes accepted, 413 beyond the limit).
func (s *suite) testManifestSize(t *testing.T, repo string, algo digest.Algorithm) {
	config := newBlob(algo, mtConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	s.checkBlobCreated(t, s.pushPostPut(t, repo, config), repo, config)
	const fourMB = 4_000_000
	if max := s.opts.MaxManifestSize; max == 0 || max >= fourMB {
		t.Run("FourMegabytes", func(t *testing.T) {
			m := sizedManifest(algo, config, fourMB)
			s.putManifest(t, repo, m.digest.String(), m)
		})
	}
	if max := s.opts.MaxManifestSize; max > 0 {
		t.Run("AtLimit", func(t *testing.T) {
			m := sizedManifest(algo, config, int(max))
			s.putManifest(t, repo, m.digest.String(), m)
		})
		t.Run("OverLimit", func(t *testing.T) {
			m := sizedManifest(algo, config, int(max)+1)
			resp := s.c.send(t, http.MethodPut, "/v2/"+repo+"/manifests/"+m.digest.String(), m.data, "Content-Type", m.mediaType)
			resp.wantStatus(t, http.StatusRequestEntityTooLarge)
			got := s.c.head(t, "/v2/"+repo+"/manifests/"+m.digest.String())
			got.checkStatus(t, http.StatusNotFound)
		})
	}
}

// sizedManifest returns an image manifest of exactly size bytes, made
// big by an annotation.
func sizedManifest(algo digest.Algorithm, config blob, size int) *manifest {
	const placeholder = "PADDING"
	small, err := json.Marshal(ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   mtImage,
		Config:      config.desc,
		Layers:      []ociregistry.Descriptor{},
		Annotations: map[string]string{"org.example.padding": placeholder},
	})
	if err != nil {
		panic(err)
	}
	// The padding is plain ASCII, so it goes into the JSON as it is.
	pad := paddingBytes(max(size-(len(small)-len(placeholder)), 0))
	data := bytes.Replace(small, []byte(placeholder), pad, 1)
	return &manifest{data: data, mediaType: mtImage, digest: algo.FromBytes(data), blobs: []blob{config}}
}
