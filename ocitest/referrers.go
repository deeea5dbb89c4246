package ocitest

import (
	"slices"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var referrersTests = []test{
	{"SubjectNotPushed", testReferrersSubjectNotPushed},
	{"Filter", testReferrersFilter},
	{"ArtifactTypeFromConfig", testReferrersArtifactTypeFromConfig},
	{"Annotations", testReferrersAnnotations},
	{"None", testReferrersNone},
	{"BreakEarly", testReferrersBreakEarly},
	{"Deleted", testReferrersDeleted},
	{"DeletedAfterTwoTypes", testReferrersDeletedAfterTwoTypes},
	{"SHA512Subject", testReferrersSHA512Subject},
}

// referrerDesc returns the descriptor that Referrers should yield for p.
func referrerDesc(p Pushed) ociregistry.Descriptor {
	return ociregistry.Descriptor{
		MediaType:    p.Manifest.MediaType,
		ArtifactType: p.Manifest.ArtifactType,
		Digest:       p.Manifest.Digest,
		Size:         p.Manifest.Size,
	}
}

// referrers collects what r.Referrers yields, with empty annotations made
// nil so that implementations may answer either.
func referrers(t *testing.T, r ociregistry.Interface, repo string, dig ociregistry.Digest, artifactType string) []ociregistry.Descriptor {
	t.Helper()
	descs := collect(t, r.Referrers(t.Context(), repo, dig, artifactType))
	for i := range descs {
		if len(descs[i].Annotations) == 0 {
			descs[i].Annotations = nil
		}
	}
	return descs
}

// byDigest sorts descriptors as Referrers orders them.
func byDigest(descs []ociregistry.Descriptor) []ociregistry.Descriptor {
	descs = slices.Clone(descs)
	slices.SortFunc(descs, func(a, b ociregistry.Descriptor) int {
		return strings.Compare(string(a.Digest), string(b.Digest))
	})
	return descs
}

func testReferrersSubjectNotPushed(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	r := s.newRegistry(t)
	subject := ociregistry.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    Digest([]byte("a manifest that is not there yet")),
		Size:      int64(len("a manifest that is not there yet")),
	}
	p := PushRandomArtifact(t, r, "test/referrers", subject, "application/vnd.example.sig")
	got := referrers(t, r, "test/referrers", subject.Digest, "")
	qt.Assert(t, qt.DeepEquals(got, []ociregistry.Descriptor{referrerDesc(p)}))
}

func testReferrersFilter(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	r := s.newRegistry(t)
	image := PushRandomImage(t, r, "test/referrers", "v1")
	const sig, sbom = "application/vnd.example.sig", "application/vnd.example.sbom"
	sig1 := PushRandomArtifact(t, r, "test/referrers", image.Manifest, sig)
	sbom1 := PushRandomArtifact(t, r, "test/referrers", image.Manifest, sbom)
	sig2 := PushRandomArtifact(t, r, "test/referrers", image.Manifest, sig)
	// A referrer of another manifest is not yielded.
	other := PushRandomImage(t, r, "test/referrers", "v2")
	PushRandomArtifact(t, r, "test/referrers", other.Manifest, sig)

	tests := []struct {
		artifactType string
		want         []Pushed
	}{
		{"", []Pushed{sig1, sbom1, sig2}},
		{sig, []Pushed{sig1, sig2}},
		{sbom, []Pushed{sbom1}},
		{"application/vnd.example.none", nil},
	}
	for _, tc := range tests {
		var want []ociregistry.Descriptor
		for _, p := range tc.want {
			want = append(want, referrerDesc(p))
		}
		got := referrers(t, r, "test/referrers", image.Manifest.Digest, tc.artifactType)
		qt.Assert(t, qt.DeepEquals(got, byDigest(want)), qt.Commentf("artifactType %q", tc.artifactType))
	}
}

func testReferrersArtifactTypeFromConfig(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	r := s.newRegistry(t)
	image := PushRandomImage(t, r, "test/referrers", "v1")
	// Without an artifactType, the config's media type is the
	// artifact type (image-spec, "Guidelines for Artifact Usage").
	const configType = "application/vnd.example.config.v1+json"
	config := pushBlob(t, r, "test/referrers", configType, []byte(`{"example":true}`))
	m := newManifest(config, nil)
	m.Subject = &image.Manifest
	content := mustMarshal(t, m)
	desc := pushManifest(t, r, "test/referrers", "", content, ocispec.MediaTypeImageManifest)
	desc.ArtifactType = configType

	got := referrers(t, r, "test/referrers", image.Manifest.Digest, "")
	qt.Assert(t, qt.DeepEquals(got, []ociregistry.Descriptor{desc}))
	got = referrers(t, r, "test/referrers", image.Manifest.Digest, configType)
	qt.Assert(t, qt.DeepEquals(got, []ociregistry.Descriptor{desc}))
}

func testReferrersAnnotations(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	r := s.newRegistry(t)
	image := PushRandomImage(t, r, "test/referrers", "v1")
	config := pushBlob(t, r, "test/referrers", ocispec.MediaTypeEmptyJSON, []byte(`{}`))
	m := newManifest(config, nil)
	m.ArtifactType = "application/vnd.example.note"
	m.Subject = &image.Manifest
	m.Annotations = map[string]string{"org.example.note": "hello"}
	content := mustMarshal(t, m)
	desc := pushManifest(t, r, "test/referrers", "", content, ocispec.MediaTypeImageManifest)
	desc.ArtifactType = m.ArtifactType
	// The referrers API carries a manifest's annotations in its
	// descriptor.
	desc.Annotations = m.Annotations

	got := referrers(t, r, "test/referrers", image.Manifest.Digest, "")
	qt.Assert(t, qt.DeepEquals(got, []ociregistry.Descriptor{desc}))
}

func testReferrersNone(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	r := s.newRegistry(t)
	image := PushRandomImage(t, r, "test/referrers", "v1")
	got := referrers(t, r, "test/referrers", image.Manifest.Digest, "")
	qt.Assert(t, qt.HasLen(got, 0))
	got = referrers(t, r, "test/referrers", Digest([]byte("nothing")), "")
	qt.Assert(t, qt.HasLen(got, 0))
}

func testReferrersBreakEarly(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	r := s.newRegistry(t)
	image := PushRandomImage(t, r, "test/referrers", "v1")
	var want []ociregistry.Descriptor
	for range 3 {
		want = append(want, referrerDesc(PushRandomArtifact(t, r, "test/referrers", image.Manifest, "application/vnd.example.sig")))
	}
	want = byDigest(want)
	var got []ociregistry.Descriptor
	for desc, err := range r.Referrers(t.Context(), "test/referrers", image.Manifest.Digest, "") {
		qt.Assert(t, qt.IsNil(err))
		got = append(got, desc)
		if len(got) == 2 {
			break
		}
	}
	qt.Assert(t, qt.DeepEquals(got, want[:2]))
	// The registry still answers after an iteration was abandoned.
	qt.Assert(t, qt.DeepEquals(referrers(t, r, "test/referrers", image.Manifest.Digest, ""), want))
}

func testReferrersDeleted(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	if s.NoDelete {
		t.Skip("Suite.NoDelete")
	}
	r := s.newRegistry(t)
	image := PushRandomImage(t, r, "test/referrers", "v1")
	gone := PushRandomArtifact(t, r, "test/referrers", image.Manifest, "application/vnd.example.sig")
	kept := PushRandomArtifact(t, r, "test/referrers", image.Manifest, "application/vnd.example.sig")
	qt.Assert(t, qt.IsNil(r.DeleteManifest(t.Context(), "test/referrers", gone.Manifest.Digest)))
	got := referrers(t, r, "test/referrers", image.Manifest.Digest, "")
	qt.Assert(t, qt.DeepEquals(got, []ociregistry.Descriptor{referrerDesc(kept)}))
}

// testReferrersDeletedAfterTwoTypes pushes content with a subject and
// no mediaType field first as an opaque type, which has no subject to
// a registry, then as an index, which has. Once the manifest is deleted
// and pushed again as the opaque type only, its subject's referrers are
// as for content that was only ever pushed as that type.
func testReferrersDeletedAfterTwoTypes(t *testing.T, s Suite) {
	if s.NoReferrers {
		t.Skip("Suite.NoReferrers")
	}
	if s.NoDelete {
		t.Skip("Suite.NoDelete")
	}
	const opaque = "application/vnd.example.thing+json"
	r := s.newRegistry(t)
	image := PushRandomImage(t, r, "test/referrers", "v1")
	content := mustMarshal(t, map[string]any{"schemaVersion": 2, "subject": image.Manifest})
	first := pushManifest(t, r, "test/referrers", "opaque", content, opaque)
	_, err := r.PushManifest(t.Context(), "test/referrers", "index", content, ocispec.MediaTypeImageIndex)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(r.DeleteManifest(t.Context(), "test/referrers", first.Digest)))
	qt.Assert(t, qt.HasLen(referrers(t, r, "test/referrers", image.Manifest.Digest, ""), 0))
	pushManifest(t, r, "test/referrers", "opaque", content, opaque)

	control := PushRandomImage(t, r, "test/control", "v1")
	pushManifest(t, r, "test/control", "opaque", mustMarshal(t, map[string]any{"schemaVersion": 2, "subject": control.Manifest}), opaque)
	want := len(referrers(t, r, "test/control", control.Manifest.Digest, ""))
	qt.Assert(t, qt.HasLen(referrers(t, r, "test/referrers", image.Manifest.Digest, ""), want))
}
