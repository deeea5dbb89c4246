package ocimem_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func TestManifestByTagAndDigest(t *testing.T) {
	r := ocimem.New()
	desc := pushImage(t, r, "repo", "v1", "one")
	data := readAll(t, must(r.GetTag(ctx, "repo", "v1")), desc)
	qt.Assert(t, qt.Equals(digest.FromString(data), desc.Digest))
	qt.Assert(t, qt.Equals(readAll(t, must(r.GetManifest(ctx, "repo", desc.Digest)), desc), data))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "v1")), desc))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveManifest(ctx, "repo", desc.Digest)), desc))

	// The manifest can be addressed by its sha512 digest too, and is
	// then described with it.
	desc512 := desc
	desc512.Digest = digest.SHA512.FromString(data)
	qt.Assert(t, qt.Equals(readAll(t, must(r.GetManifest(ctx, "repo", desc512.Digest)), desc512), data))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveManifest(ctx, "repo", desc512.Digest)), desc512))

	// Manifests belong to their repository.
	_, err := r.GetManifest(ctx, "other", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))

	// Pushing with a tag moves the tag; the old manifest stays.
	desc2 := pushImage(t, r, "repo", "v1", "two")
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "v1")), desc2))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveManifest(ctx, "repo", desc.Digest)), desc))

	// Pushing the same manifest again, with another tag, adds the tag.
	_, err = r.PushManifest(ctx, "repo", "v0", []byte(data), ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Tags(ctx, "repo", "")), []string{"v0", "v1"}))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "v0")), desc))
}

func TestPushManifestCopiesContent(t *testing.T) {
	r := ocimem.New()
	data := []byte(`{"anything":true}`)
	desc, err := r.PushManifest(ctx, "repo", "t", data, "application/vnd.example+json")
	qt.Assert(t, qt.IsNil(err))
	copy(data, "XXXX")
	qt.Assert(t, qt.Equals(readAll(t, must(r.GetTag(ctx, "repo", "t")), desc), `{"anything":true}`))
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

func TestPushManifestChecks(t *testing.T) {
	r := ocimem.New()
	config := pushBlob(t, r, "repo", digest.SHA256, "{}")
	config.MediaType = ocispec.MediaTypeImageConfig
	layer := pushBlob(t, r, "repo", digest.SHA512, "layer")
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	missing := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString("missing"), Size: 7}
	child := pushImage(t, r, "repo", "", "child")
	dockerChild := must(r.PushManifest(ctx, "repo", "", dockerImage(t, config, layer), dockerManifest))

	withURL := missing
	withURL.URLs = []string{"https://example.com/layer"}
	foreign := missing
	foreign.MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	nonDist := missing
	nonDist.MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" // deprecated but still found in the wild
	badDigest := layer
	badDigest.Digest = "sha256:nothex"
	// A descriptor names its content by digest and size: one whose
	// digest is right but whose size is wrong does not describe what
	// the registry holds.
	wrongSizeLayer := layer
	wrongSizeLayer.Size++
	wrongSizeConfig := config
	wrongSizeConfig.Size--
	wrongSizeChild := child
	wrongSizeChild.Size += 10

	tests := []struct {
		name      string
		data      []byte
		mediaType string
		wantErr   error // nil means success
		laxOK     bool  // success with LaxChildReferences, in a registry without the content
		sha512    bool  // the manifest refers to sha512 content first
	}{{
		name:      "Image",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{layer}}),
		mediaType: ocispec.MediaTypeImageManifest,
	}, {
		name:      "ImageNoMediaTypeField",
		data:      []byte(`{"schemaVersion":2,"config":` + jsonOf(t, config) + `,"layers":[]}`),
		mediaType: ocispec.MediaTypeImageManifest,
	}, {
		name:      "MediaTypeFromContent",
		data:      imageManifest(t, ocispec.Manifest{Config: config}),
		mediaType: "",
	}, {
		name:      "NoMediaTypeAtAll",
		data:      []byte(`{"schemaVersion":2,"config":` + jsonOf(t, config) + `}`),
		mediaType: "",
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "MediaTypeMismatch",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Annotations: map[string]string{"a": "b"}}),
		mediaType: ocispec.MediaTypeImageIndex,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "NotJSON",
		data:      []byte("not json"),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "JSONArray",
		data:      []byte("[]"),
		mediaType: ocispec.MediaTypeImageIndex,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "NoSchemaVersion",
		data:      []byte(`{"config":` + jsonOf(t, config) + `}`),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "SchemaVersion1",
		data:      []byte(`{"schemaVersion":1,"config":` + jsonOf(t, config) + `}`),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "NoConfig",
		data:      []byte(`{"schemaVersion":2,"layers":[]}`),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "BadLayerDigest",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{badDigest}}),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "BadSubjectDigest",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Subject: &badDigest}),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "MissingLayer",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{layer, missing}}),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestBlobUnknown,
		laxOK:     true,
	}, {
		name:      "MissingConfig",
		data:      imageManifest(t, ocispec.Manifest{Config: missing}),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestBlobUnknown,
		laxOK:     true,
	}, {
		name:      "ConfigIsAManifest",
		data:      imageManifest(t, ocispec.Manifest{Config: child}),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestBlobUnknown,
		laxOK:     true,
	}, {
		name:      "LayerWrongSize",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{wrongSizeLayer}}),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestInvalid,
		laxOK:     true,
	}, {
		name:      "ConfigWrongSize",
		data:      imageManifest(t, ocispec.Manifest{Config: wrongSizeConfig, Layers: []ocispec.Descriptor{layer}}),
		mediaType: ocispec.MediaTypeImageManifest,
		wantErr:   ociregistry.ErrManifestInvalid,
		laxOK:     true,
	}, {
		name:      "LayerWithURL",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{withURL}}),
		mediaType: ocispec.MediaTypeImageManifest,
	}, {
		name:      "ForeignLayer",
		data:      dockerImage(t, config, foreign),
		mediaType: dockerManifest,
	}, {
		name:      "NonDistributableLayer",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{nonDist}}),
		mediaType: ocispec.MediaTypeImageManifest,
	}, {
		name:      "MissingSubjectIsFine",
		data:      imageManifest(t, ocispec.Manifest{Config: config, Subject: &missing}),
		mediaType: ocispec.MediaTypeImageManifest,
	}, {
		name:      "Index",
		data:      indexManifest(t, ocispec.Index{Manifests: []ocispec.Descriptor{child}}),
		mediaType: ocispec.MediaTypeImageIndex,
	}, {
		name:      "EmptyIndex",
		data:      indexManifest(t, ocispec.Index{}),
		mediaType: ocispec.MediaTypeImageIndex,
	}, {
		name:      "IndexMissingChild",
		data:      indexManifest(t, ocispec.Index{Manifests: []ocispec.Descriptor{child, missing}}),
		mediaType: ocispec.MediaTypeImageIndex,
		wantErr:   ociregistry.ErrManifestBlobUnknown,
		laxOK:     true,
	}, {
		name:      "IndexChildWrongSize",
		data:      indexManifest(t, ocispec.Index{Manifests: []ocispec.Descriptor{wrongSizeChild}}),
		mediaType: ocispec.MediaTypeImageIndex,
		wantErr:   ociregistry.ErrManifestInvalid,
		laxOK:     true,
	}, {
		name:      "IndexChildIsABlob",
		data:      indexManifest(t, ocispec.Index{Manifests: []ocispec.Descriptor{layer}}),
		mediaType: ocispec.MediaTypeImageIndex,
		wantErr:   ociregistry.ErrManifestBlobUnknown,
		laxOK:     true,
		sha512:    true,
	}, {
		name:      "IndexWithLayers",
		data:      []byte(`{"schemaVersion":2,"manifests":[],"layers":[]}`),
		mediaType: ocispec.MediaTypeImageIndex,
		wantErr:   ociregistry.ErrManifestInvalid,
	}, {
		name:      "DockerManifest",
		data:      dockerImage(t, config, layer),
		mediaType: dockerManifest,
	}, {
		name:      "DockerManifestMissingLayer",
		data:      dockerImage(t, config, missing),
		mediaType: dockerManifest,
		wantErr:   ociregistry.ErrManifestBlobUnknown,
		laxOK:     true,
	}, {
		name:      "DockerManifestList",
		data:      dockerList(t, dockerChild),
		mediaType: dockerManifestList,
	}, {
		name:      "DockerManifestListMissingChild",
		data:      dockerList(t, missing),
		mediaType: dockerManifestList,
		wantErr:   ociregistry.ErrManifestBlobUnknown,
		laxOK:     true,
	}, {
		name:      "OtherMediaTypeIsOpaque",
		data:      []byte("\x00anything at all"),
		mediaType: "application/vnd.example.thing",
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			for _, lax := range []bool{false, true} {
				r := r
				if lax {
					r = ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
				}
				desc, err := r.PushManifest(ctx, "repo", "", test.data, test.mediaType)
				if test.wantErr != nil && !(lax && test.laxOK) {
					qt.Assert(t, qt.ErrorIs(err, test.wantErr), qt.Commentf("lax %v", lax))
					_, err := r.ResolveManifest(ctx, "repo", digest.FromBytes(test.data))
					qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
					continue
				}
				qt.Assert(t, qt.IsNil(err), qt.Commentf("lax %v", lax))
				wantMediaType := test.mediaType
				if wantMediaType == "" {
					wantMediaType = ocispec.MediaTypeImageManifest
				}
				alg := digest.SHA256
				if test.sha512 {
					alg = digest.SHA512
				}
				want := ociregistry.Descriptor{MediaType: wantMediaType, Digest: alg.FromBytes(test.data), Size: int64(len(test.data))}
				qt.Assert(t, qt.DeepEquals(desc, want))
				qt.Assert(t, qt.Equals(readAll(t, must(r.GetManifest(ctx, "repo", desc.Digest)), want), string(test.data)))
			}
		})
	}
}

func TestPushManifestWrongSizeLax(t *testing.T) {
	// LaxChildReferences allows content that is absent, not
	// descriptors that are wrong about content that is present.
	r := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
	config := pushBlob(t, r, "repo", digest.SHA256, "{}")
	config.MediaType = ocispec.MediaTypeImageConfig
	layer := pushBlob(t, r, "repo", digest.SHA512, "layer")
	child := pushImage(t, r, "repo", "", "child")
	absent := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString("absent"), Size: 1000}

	wrongLayer := layer
	wrongLayer.Size = 0
	wrongChild := child
	wrongChild.Size--
	for _, data := range [][]byte{
		imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{wrongLayer}}),
		indexManifest(t, ocispec.Index{Manifests: []ocispec.Descriptor{wrongChild}}),
	} {
		var m struct{ MediaType string }
		qt.Assert(t, qt.IsNil(json.Unmarshal(data, &m)))
		_, err := r.PushManifest(ctx, "repo", "bad", data, m.MediaType)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid))
		qt.Assert(t, qt.StringContains(err.Error(), "size"))
		_, err = r.ResolveManifest(ctx, "repo", digest.FromBytes(data))
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = r.ResolveTag(ctx, "repo", "bad")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	}

	// Right sizes, and absent content of any size, are accepted.
	must(r.PushManifest(ctx, "repo", "", imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{layer, absent}}), ocispec.MediaTypeImageManifest))
	must(r.PushManifest(ctx, "repo", "", indexManifest(t, ocispec.Index{Manifests: []ocispec.Descriptor{child, absent}}), ocispec.MediaTypeImageIndex))
}

func TestPushManifestChecksOwnRepository(t *testing.T) {
	// The blobs a manifest refers to must be in its own repository.
	r := ocimem.New()
	config := pushBlob(t, r, "a", digest.SHA256, "{}")
	data := imageManifest(t, ocispec.Manifest{Config: config})
	_, err := r.PushManifest(ctx, "b", "", data, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestBlobUnknown))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Repositories(ctx, "")), []string{"a"}))
	must(r.MountBlob(ctx, "a", "b", config.Digest))
	_, err = r.PushManifest(ctx, "b", "", data, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
}

func dockerImage(t *testing.T, config ociregistry.Descriptor, layers ...ociregistry.Descriptor) []byte {
	config.MediaType = "application/vnd.docker.container.image.v1+json"
	return []byte(`{"schemaVersion":2,"mediaType":"` + dockerManifest + `","config":` + jsonOf(t, config) + `,"layers":` + jsonOf(t, layers) + `}`)
}

func dockerList(t *testing.T, children ...ociregistry.Descriptor) []byte {
	return []byte(`{"schemaVersion":2,"mediaType":"` + dockerManifestList + `","manifests":` + jsonOf(t, children) + `}`)
}

func jsonOf(t testing.TB, x any) string {
	data, err := json.Marshal(x)
	qt.Assert(t, qt.IsNil(err))
	return string(data)
}

func TestReferrers(t *testing.T) {
	r := ocimem.New()
	// The subject is not pushed yet.
	subject := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}
	emptyConfig := pushBlob(t, r, "repo", digest.SHA256, "{}")
	emptyConfig.MediaType = ocispec.MediaTypeEmptyJSON
	sigConfig := pushBlob(t, r, "repo", digest.SHA256, `{"sig":1}`)
	sigConfig.MediaType = "application/vnd.example.signature.config"

	pushReferrer := func(data []byte, mediaType string) ociregistry.Descriptor {
		desc, err := r.PushManifest(ctx, "repo", "", data, mediaType)
		qt.Assert(t, qt.IsNil(err))
		return desc
	}
	// An artifact with an artifactType field.
	sbom := pushReferrer(imageManifest(t, ocispec.Manifest{
		ArtifactType: "application/vnd.example.sbom",
		Config:       emptyConfig,
		Subject:      &subject,
		Annotations:  map[string]string{"org.example": "sbom"},
	}), ocispec.MediaTypeImageManifest)
	sbom.ArtifactType = "application/vnd.example.sbom"
	sbom.Annotations = map[string]string{"org.example": "sbom"}
	// An image manifest whose artifact type is its config's media type.
	sig := pushReferrer(imageManifest(t, ocispec.Manifest{
		Config:  sigConfig,
		Subject: &subject,
	}), ocispec.MediaTypeImageManifest)
	sig.ArtifactType = "application/vnd.example.signature.config"
	// An index referrer.
	idx := pushReferrer(indexManifest(t, ocispec.Index{
		ArtifactType: "application/vnd.example.bundle",
		Subject:      &subject,
	}), ocispec.MediaTypeImageIndex)
	idx.ArtifactType = "application/vnd.example.bundle"
	// A manifest that refers to something else.
	pushReferrer(imageManifest(t, ocispec.Manifest{
		ArtifactType: "application/vnd.example.sbom",
		Config:       emptyConfig,
		Subject:      &sbom,
	}), ocispec.MediaTypeImageManifest)

	all := sortedByDigest(sbom, sig, idx)
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "")), all))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "application/vnd.example.sbom")), []ociregistry.Descriptor{sbom}))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "application/vnd.example.signature.config")), []ociregistry.Descriptor{sig}))
	qt.Assert(t, qt.HasLen(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "application/none")), 0))
	// Nothing refers to it, or no such repository: nothing, no error.
	qt.Assert(t, qt.HasLen(mustAll(t, r.Referrers(ctx, "repo", digest.FromString("x"), "")), 0))
	qt.Assert(t, qt.HasLen(mustAll(t, r.Referrers(ctx, "other", subject.Digest, "")), 0))

	// Changing a yielded descriptor changes nothing stored.
	got := mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "application/vnd.example.sbom"))
	got[0].Annotations["org.example"] = "changed"
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "application/vnd.example.sbom")), []ociregistry.Descriptor{sbom}))

	// Pushing the subject later changes nothing.
	subjectData := []byte("subject")
	_, err := r.PushManifest(ctx, "repo", "", subjectData, "application/vnd.example.subject")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "")), all))

	// Deleting a referrer removes it from the referrers.
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", sig.Digest)))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "")), sortedByDigest(sbom, idx)))
	// Deleting the subject leaves them.
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", subject.Digest)))
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "")), sortedByDigest(sbom, idx)))
}

func TestReferrersSHA512Subject(t *testing.T) {
	r := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
	subject := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.SHA512.FromString("s"), Size: 1}
	config := ociregistry.Descriptor{MediaType: "application/vnd.example.a", Digest: digest.FromString("{}"), Size: 2}
	desc := must(r.PushManifest(ctx, "repo", "", imageManifest(t, ocispec.Manifest{Config: config, Subject: &subject}), ocispec.MediaTypeImageManifest))
	desc.ArtifactType = "application/vnd.example.a"
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "")), []ociregistry.Descriptor{desc}))
	// The referrers of a manifest are found by the digest its
	// referrers used, not by its other digest.
	qt.Assert(t, qt.HasLen(mustAll(t, r.Referrers(ctx, "repo", digest.FromString("s"), "")), 0))
}

// TestReferrersPages lists more referrers than one page of the lister
// holds, while referrers come and go between pages: each is yielded
// once, in digest order, and a filter by artifact type applies across
// pages.
func TestReferrersPages(t *testing.T) {
	r := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
	subject := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}
	config := ociregistry.Descriptor{MediaType: "application/vnd.example.config", Digest: digest.FromString("{}"), Size: 2}
	push := func(i int) ociregistry.Descriptor {
		artifactType := []string{"application/vnd.example.a", "application/vnd.example.b"}[i%2]
		m := ocispec.Manifest{ArtifactType: artifactType, Config: config, Subject: &subject, Annotations: map[string]string{"i": fmt.Sprint(i)}}
		desc := must(r.PushManifest(ctx, "repo", "", imageManifest(t, m), ocispec.MediaTypeImageManifest))
		desc.ArtifactType = artifactType
		desc.Annotations = m.Annotations
		return desc
	}
	var all []ociregistry.Descriptor
	for i := range 700 {
		all = append(all, push(i))
	}
	sortedByDigest(all...)
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "")), all))
	var onlyB []ociregistry.Descriptor
	for _, d := range all {
		if d.ArtifactType == "application/vnd.example.b" {
			onlyB = append(onlyB, d)
		}
	}
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, "application/vnd.example.b")), onlyB))

	// A filter that matches one referrer among 700 finds it, on
	// whichever page it is, past pages where it matches none.
	m := ocispec.Manifest{ArtifactType: "application/vnd.example.lone", Config: config, Subject: &subject}
	lone := must(r.PushManifest(ctx, "repo", "", imageManifest(t, m), ocispec.MediaTypeImageManifest))
	lone.ArtifactType = m.ArtifactType
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", subject.Digest, m.ArtifactType)), []ociregistry.Descriptor{lone}))
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", lone.Digest)))

	// Halfway through, the last referrer is deleted and others pushed.
	var got []ociregistry.Descriptor
	for desc, err := range r.Referrers(ctx, "repo", subject.Digest, "") {
		qt.Assert(t, qt.IsNil(err))
		got = append(got, desc)
		if len(got) == 350 {
			qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", all[len(all)-1].Digest)))
			for i := 700; i < 710; i++ {
				push(i)
			}
		}
	}
	qt.Assert(t, qt.IsTrue(slices.IsSortedFunc(got, func(a, b ociregistry.Descriptor) int {
		return strings.Compare(string(a.Digest), string(b.Digest))
	})))
	qt.Assert(t, qt.DeepEquals(got[:350], all[:350]))
	// The others that were there throughout are listed too.
	for _, d := range all[350 : len(all)-1] {
		qt.Assert(t, qt.IsTrue(slices.ContainsFunc(got, func(g ociregistry.Descriptor) bool { return g.Digest == d.Digest })), qt.Commentf("%s not listed", d.Digest))
	}
	seen := map[ociregistry.Digest]bool{}
	for _, d := range got {
		qt.Assert(t, qt.IsFalse(seen[d.Digest]), qt.Commentf("%s listed twice", d.Digest))
		seen[d.Digest] = true
	}
	qt.Assert(t, qt.IsFalse(seen[all[len(all)-1].Digest]), qt.Commentf("the deleted referrer was listed"))
}

func sortedByDigest(descs ...ociregistry.Descriptor) []ociregistry.Descriptor {
	for i := range descs {
		for j := i + 1; j < len(descs); j++ {
			if strings.Compare(string(descs[j].Digest), string(descs[i].Digest)) < 0 {
				descs[i], descs[j] = descs[j], descs[i]
			}
		}
	}
	return descs
}

func TestManifestDigestAlgorithm(t *testing.T) {
	// A manifest whose content is addressed by sha512 is described by
	// its sha512 digest, since that is how a client that uses sha512
	// pushed it.
	r := ocimem.New()
	config := pushBlob(t, r, "repo", digest.SHA512, `{"a":1}`)
	config.MediaType = ocispec.MediaTypeImageConfig
	layer := pushBlob(t, r, "repo", digest.SHA512, "layer")
	data := imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{layer}})
	want := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.SHA512.FromBytes(data), Size: int64(len(data))}
	qt.Assert(t, qt.DeepEquals(must(r.PushManifest(ctx, "repo", "t", data, ocispec.MediaTypeImageManifest)), want))
	qt.Assert(t, qt.DeepEquals(must(r.ResolveTag(ctx, "repo", "t")), want))
	qt.Assert(t, qt.Equals(readAll(t, must(r.GetTag(ctx, "repo", "t")), want), string(data)))
	// Asked by sha256, it answers with sha256.
	want256 := want
	want256.Digest = digest.FromBytes(data)
	qt.Assert(t, qt.DeepEquals(must(r.ResolveManifest(ctx, "repo", want256.Digest)), want256))

	// Its referrers and indexes of sha512 content are sha512 too.
	refData := imageManifest(t, ocispec.Manifest{ArtifactType: "application/x", Config: config, Subject: &want})
	ref := must(r.PushManifest(ctx, "repo", "", refData, ocispec.MediaTypeImageManifest))
	qt.Assert(t, qt.Equals(ref.Digest, digest.SHA512.FromBytes(refData)))
	ref.ArtifactType = "application/x"
	qt.Assert(t, qt.DeepEquals(mustAll(t, r.Referrers(ctx, "repo", want.Digest, "")), []ociregistry.Descriptor{ref}))
	idxData := indexManifest(t, ocispec.Index{Manifests: []ocispec.Descriptor{want}})
	qt.Assert(t, qt.Equals(must(r.PushManifest(ctx, "repo", "", idxData, ocispec.MediaTypeImageIndex)).Digest, digest.SHA512.FromBytes(idxData)))
	// An index that holds no digest at all gets sha256.
	emptyIdx := indexManifest(t, ocispec.Index{})
	qt.Assert(t, qt.Equals(must(r.PushManifest(ctx, "repo", "", emptyIdx, ocispec.MediaTypeImageIndex)).Digest, digest.FromBytes(emptyIdx)))

	// Deleting by either digest deletes it, its tag and its referrer
	// entry.
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", digest.FromBytes(refData))))
	qt.Assert(t, qt.HasLen(mustAll(t, r.Referrers(ctx, "repo", want.Digest, "")), 0))
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", want.Digest)))
	_, err := r.ResolveTag(ctx, "repo", "t")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = r.ResolveManifest(ctx, "repo", want256.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}
