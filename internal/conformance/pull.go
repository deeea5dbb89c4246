package conformance

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"
)

// pullContent is one manifest the pull tests read, with the tag it is
// pushed under when its digest algorithm allows tags.
type pullContent struct {
	name string
	m    *manifest
}

// contentKinds returns one manifest of every kind the specification and
// the image spec know, with digests made with algo: images with and
// without layers, indexes (empty, nested), artifacts, descriptors with
// data fields, unknown fields, and layers that are never pushed.
func contentKinds(algo digest.Algorithm) []pullContent {
	img1 := newImage(algo, imageOpts{layers: 2})
	img2 := newImage(algo, imageOpts{layers: 1})
	inner1 := newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1}), newImage(algo, imageOpts{layers: 1})}, indexOpts{})
	inner2 := newIndex(algo, []*manifest{newImage(algo, imageOpts{layers: 1})}, indexOpts{})
	custom := newIndex(algo, []*manifest{
		newImage(algo, imageOpts{layers: 1, extraFields: true}),
		newImage(algo, imageOpts{layers: 1, extraFields: true}),
	}, indexOpts{extraFields: true})
	return []pullContent{
		{"image", img1},
		{"image-no-layers", newImage(algo, imageOpts{})},
		{"index", newIndex(algo, []*manifest{img2, newImage(algo, imageOpts{layers: 2})}, indexOpts{})},
		{"index-empty", newIndex(algo, nil, indexOpts{})},
		{"index-of-index", newIndex(algo, []*manifest{inner1, inner2}, indexOpts{})},
		{"artifact", newImage(algo, imageOpts{
			layers: 1, layerMediaType: mtArtifactA, configMediaType: mtEmptyJSON, artifactType: mtArtifactA,
		})},
		{"artifact-no-layers", newImage(algo, imageOpts{configMediaType: mtEmptyJSON, artifactType: mtArtifactB})},
		{"artifact-empty-json-layer", newImage(algo, imageOpts{configMediaType: mtEmptyJSON, emptyJSONLayer: true, artifactType: mtArtifactA})},
		{"artifact-custom-config", newImage(algo, imageOpts{layers: 1, layerMediaType: mtArtifactB, configMediaType: mtArtifactConf})},
		{"artifact-index", newIndex(algo, []*manifest{
			newImage(algo, imageOpts{layers: 1, layerMediaType: mtArtifactA, configMediaType: mtEmptyJSON, artifactType: mtArtifactA}),
		}, indexOpts{artifactType: mtArtifactA, annotations: map[string]string{"org.example.kind": "artifact-index"}})},
		{"data-field", newImage(algo, imageOpts{layers: 2, dataField: true})},
		{"custom-fields", custom},
		{"non-distributable", newImage(algo, imageOpts{layers: 1, nonDistributable: true})},
		{"annotations", newImage(algo, imageOpts{layers: 1, annotations: map[string]string{
			"org.opencontainers.image.created": "2024-01-01T00:00:00Z",
			"org.example.unicode":              "naïve ☃",
		}})},
	}
}

// testPull checks the Pull category (spec: Pull, end-2, end-3) on
// content put in place by the seeder.
func (s *suite) testPull(t *testing.T, algo digest.Algorithm) {
	repo := s.repo("pull-" + string(algo))
	kinds := contentKinds(algo)
	// Tags are pushed only for sha256 content: a registry computes the
	// digest of a manifest pushed by tag with its canonical algorithm.
	tagged := algo == digest.Canonical
	for _, k := range kinds {
		tag := ""
		if tagged {
			tag = k.name
		}
		s.seed(t, repo, tag, k.m)
	}
	emptyBlob := newBlob(algo, mtOctetStream, []byte{})
	emptyJSON := newBlob(algo, mtEmptyJSON, []byte("{}"))
	rangeBlob := randomBlob(algo, 2048)
	for _, b := range []blob{emptyBlob, emptyJSON, rangeBlob} {
		s.seeder.pushBlob(t, repo, b)
	}

	t.Run("Manifests", func(t *testing.T) {
		for _, k := range kinds {
			t.Run(k.name, func(t *testing.T) {
				s.checkManifestPullable(t, repo, k.m.digest.String(), k.m)
				if tagged {
					s.checkManifestPullable(t, repo, k.name, k.m)
				}
				for _, c := range k.m.children {
					s.checkManifestPullable(t, repo, c.digest.String(), c)
				}
			})
		}
	})
	t.Run("Blobs", func(t *testing.T) {
		for _, k := range kinds {
			t.Run(k.name, func(t *testing.T) {
				for _, b := range k.m.allBlobs() {
					s.checkBlobPullable(t, repo, b)
				}
			})
		}
		t.Run("Empty", func(t *testing.T) { s.checkBlobPullable(t, repo, emptyBlob) })
		t.Run("EmptyJSON", func(t *testing.T) { s.checkBlobPullable(t, repo, emptyJSON) })
	})
	t.Run("AcceptHeaders", func(t *testing.T) {
		m := kinds[0].m
		cases := []struct {
			name   string
			accept []string
		}{
			{"None", nil},
			{"Exact", []string{mtImage}},
			{"List", []string{mtIndex + ", " + mtImage}},
			{"SeparateHeaders", []string{mtIndex, mtImage}},
			{"WithQuality", []string{mtIndex + ";q=0.5, " + mtImage + ";q=0.9, */*;q=0.1"}},
			{"Wildcard", []string{"*/*"}},
			{"DockerAndOCI", []string{
				"application/vnd.docker.distribution.manifest.v2+json",
				"application/vnd.docker.distribution.manifest.list.v2+json",
				mtIndex, mtImage,
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var hdr []string
				for _, a := range c.accept {
					hdr = append(hdr, "Accept", a)
				}
				resp := s.c.get(t, "/v2/"+repo+"/manifests/"+m.digest.String(), hdr...)
				resp.wantStatus(t, http.StatusOK)
				resp.checkHeader(t, "Content-Type", m.mediaType)
				resp.checkBody(t, m.data)
			})
		}
	})
	t.Run("Ranges", func(t *testing.T) { s.testRanges(t, repo, rangeBlob) })
	t.Run("NotFound", func(t *testing.T) { s.testPullNotFound(t, repo, algo) })
}

// checkManifestPullable checks GET and HEAD of a manifest by ref (spec:
// Pulling manifests, Checking if content exists).
func (s *suite) checkManifestPullable(t *testing.T, repo, ref string, m *manifest) {
	t.Helper()
	u := "/v2/" + repo + "/manifests/" + ref
	accept := []string{"Accept", mtIndex, "Accept", mtImage}
	resp := s.c.get(t, u, accept...)
	if resp.checkStatus(t, http.StatusOK) {
		resp.checkBody(t, m.data)
		resp.checkHeader(t, "Content-Type", m.mediaType)
		resp.checkHeader(t, "Content-Length", strconv.Itoa(len(m.data)))
		resp.checkHeader(t, "Docker-Content-Digest", m.digest.String())
	}
	resp = s.c.head(t, u, accept...)
	if resp.checkStatus(t, http.StatusOK) {
		resp.checkNoBody(t)
		resp.checkHeader(t, "Content-Type", m.mediaType)
		resp.checkHeader(t, "Content-Length", strconv.Itoa(len(m.data)))
		resp.checkHeader(t, "Docker-Content-Digest", m.digest.String())
	}
}

// checkBlobPullable checks GET and HEAD of a blob (spec: Pulling blobs,
// Checking if content exists).
func (s *suite) checkBlobPullable(t *testing.T, repo string, b blob) {
	t.Helper()
	u := "/v2/" + repo + "/blobs/" + b.desc.Digest.String()
	resp := s.c.get(t, u)
	if resp.checkStatus(t, http.StatusOK) {
		resp.checkBody(t, b.data)
		resp.checkHeader(t, "Content-Length", strconv.Itoa(len(b.data)))
		resp.checkHeader(t, "Docker-Content-Digest", b.desc.Digest.String())
	}
	resp = s.c.head(t, u)
	if resp.checkStatus(t, http.StatusOK) {
		resp.checkNoBody(t)
		resp.checkHeader(t, "Content-Length", strconv.Itoa(len(b.data)))
		resp.checkHeader(t, "Docker-Content-Digest", b.desc.Digest.String())
	}
}

// testRanges checks Range requests on a blob of 2048 bytes (spec: Pulling
// blobs, RFC 9110 section 14).
func (s *suite) testRanges(t *testing.T, repo string, b blob) {
	size := len(b.data)
	cases := []struct {
		name       string
		rangeHdr   string
		start, end int // inclusive; start < 0 means 416
	}{
		{"Middle", "bytes=500-1499", 500, 1499},
		{"FirstByte", "bytes=0-0", 0, 0},
		{"LastByte", "bytes=2047-2047", 2047, 2047},
		{"OpenEnded", "bytes=500-", 500, size - 1},
		{"Suffix", "bytes=-500", size - 500, size - 1},
		{"SuffixLongerThanBlob", "bytes=-5000", 0, size - 1},
		{"EndPastSize", "bytes=2000-5000", 2000, size - 1},
		{"Whole", "bytes=0-2047", 0, size - 1},
		{"StartPastSize", "bytes=5000-10000", -1, 0},
		{"StartAtSize", "bytes=2048-", -1, 0},
		{"Reversed", "bytes=500-0", -1, 0},
	}
	u := "/v2/" + repo + "/blobs/" + b.desc.Digest.String()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := s.c.get(t, u, "Range", c.rangeHdr)
			if c.start < 0 {
				resp.wantStatus(t, http.StatusRequestedRangeNotSatisfiable)
				return
			}
			resp.wantStatus(t, http.StatusPartialContent)
			resp.checkBody(t, b.data[c.start:c.end+1])
			resp.checkHeader(t, "Content-Length", strconv.Itoa(c.end-c.start+1))
			want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size)
			if got := resp.header.Get("Content-Range"); got != want && got != fmt.Sprintf("bytes %d-%d/*", c.start, c.end) {
				t.Errorf("Content-Range: got %q, want %q\n%s", got, want, resp)
			}
		})
	}
}

// testPullNotFound checks the answers for content that is not there.
func (s *suite) testPullNotFound(t *testing.T, repo string, algo digest.Algorithm) {
	missing := algo.FromBytes(randomBytes(64))
	otherRepo := s.repo("never-pushed")
	cases := []struct {
		name   string
		method string
		path   string
		codes  []string // for GET; HEAD has no body
	}{
		{"BlobGet", http.MethodGet, "/v2/" + repo + "/blobs/" + missing.String(), []string{"BLOB_UNKNOWN"}},
		{"BlobHead", http.MethodHead, "/v2/" + repo + "/blobs/" + missing.String(), nil},
		{"BlobInUnknownRepo", http.MethodGet, "/v2/" + otherRepo + "/blobs/" + missing.String(), []string{"BLOB_UNKNOWN", "NAME_UNKNOWN"}},
		{"ManifestByDigest", http.MethodGet, "/v2/" + repo + "/manifests/" + missing.String(), []string{"MANIFEST_UNKNOWN"}},
		{"ManifestByDigestHead", http.MethodHead, "/v2/" + repo + "/manifests/" + missing.String(), nil},
		{"ManifestByTag", http.MethodGet, "/v2/" + repo + "/manifests/missing-" + randomID(), []string{"MANIFEST_UNKNOWN"}},
		{"ManifestByTagHead", http.MethodHead, "/v2/" + repo + "/manifests/missing-" + randomID(), nil},
		{"ManifestInUnknownRepo", http.MethodGet, "/v2/" + otherRepo + "/manifests/latest", []string{"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}},
		// A reference that is no valid tag names no manifest: the
		// older OCI conformance suite asks for ".INVALID_MANIFEST_NAME"
		// and wants 404.
		{"ManifestByInvalidTag", http.MethodGet, "/v2/" + repo + "/manifests/.INVALID_MANIFEST_NAME", []string{"MANIFEST_UNKNOWN"}},
		{"ManifestByInvalidTagHead", http.MethodHead, "/v2/" + repo + "/manifests/.INVALID_MANIFEST_NAME", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := s.c.do(t, request{method: c.method, url: c.path, header: headers("Accept", mtImage)})
			if c.method == http.MethodHead {
				resp.wantStatus(t, http.StatusNotFound)
				resp.checkNoBody(t)
				return
			}
			resp.wantError(t, []int{http.StatusNotFound}, c.codes...)
		})
	}
	t.Run("InvalidManifestDigest", func(t *testing.T) {
		// A malformed digest is either not found or a bad request; a
		// 400 must carry a proper error body.
		resp := s.c.get(t, "/v2/"+repo+"/manifests/sha256:totallywrong", "Accept", mtImage)
		resp.wantStatus(t, http.StatusBadRequest, http.StatusNotFound)
		if resp.status == http.StatusBadRequest {
			resp.wantError(t, []int{http.StatusBadRequest}, "DIGEST_INVALID", "MANIFEST_INVALID", "NAME_INVALID", "MANIFEST_UNKNOWN")
		}
	})
	t.Run("InvalidBlobDigest", func(t *testing.T) {
		resp := s.c.get(t, "/v2/"+repo+"/blobs/sha256:totallywrong")
		resp.wantStatus(t, http.StatusBadRequest, http.StatusNotFound)
		if resp.status == http.StatusBadRequest {
			resp.wantError(t, []int{http.StatusBadRequest}, "DIGEST_INVALID", "BLOB_UNKNOWN")
		}
	})
}
