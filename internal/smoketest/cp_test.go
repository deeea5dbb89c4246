package smoketest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestOciregCp checks that "ocireg cp" copies images and indexes between
// "ocireg serve" and CNCF Distribution, both ways, digests unchanged, and
// through an OCI image layout on disk.
func TestOciregCp(t *testing.T) {
	t.Parallel()
	ocireg := newTool(t, toolstest.BuildOcireg(t))
	dist := toolstest.StartDistribution(t)
	host := toolstest.StartOcireg(t)
	img := pushRandomImage(t, host, "peer/img", "v1")
	idx := pushRandomIndex(t, host, "peer/multi", "v1")

	cp := func(src, dst, wantDigest string) {
		t.Helper()
		out := ocireg.run("cp", src, dst)
		qt.Assert(t, qt.Equals(strings.TrimSpace(string(out)), wantDigest), qt.Commentf("ocireg cp %s %s", src, dst))
	}
	cp(host+"/peer/img:v1", dist+"/peer/img:v1", img.digest.String())
	assertSameImage(t, dist, "peer/img", "v1", img)
	cp(host+"/peer/multi:v1", dist+"/peer/multi:v1", idx.digest.String())
	assertSameIndex(t, dist, "peer/multi", "v1", idx)

	cp(dist+"/peer/img:v1", host+"/peer/back:v1", img.digest.String())
	assertSameImage(t, host, "peer/back", "v1", img)
	cp(dist+"/peer/multi:v1", host+"/peer/multi-back:v1", idx.digest.String())
	assertSameIndex(t, host, "peer/multi-back", "v1", idx)

	// Within Distribution, blobs are mounted across repositories.
	cp(dist+"/peer/img:v1", dist+"/peer/mounted:v1", img.digest.String())
	assertSameImage(t, dist, "peer/mounted", "v1", img)

	// Through a layout on disk, from one registry to the other.
	cp(dist+"/peer/multi:v1", "oci:layout:v1", idx.digest.String())
	cp("oci:layout:v1", host+"/peer/from-disk:v1", idx.digest.String())
	assertSameIndex(t, host, "peer/from-disk", "v1", idx)

	// Referrers go across with --referrers, whether the registry has
	// the referrers API (ocireg) or not (Distribution, where ociclient
	// keeps the referrers tag).
	sig := pushReferrer(t, host, "peer/img", img)
	cp2 := func(src, dst string) {
		t.Helper()
		ocireg.run("cp", "--referrers", src, dst)
	}
	cp2(host+"/peer/img:v1", dist+"/peer/signed:v1")
	qt.Assert(t, qt.DeepEquals(getManifest(t, dist, "peer/signed", sig.digest.String()), sig.manifest))
	cp2(dist+"/peer/signed:v1", host+"/peer/signed-back:v1")
	qt.Assert(t, qt.DeepEquals(getManifest(t, host, "peer/signed-back", sig.digest.String()), sig.manifest))

	// The digests that ocireg reports agree on both registries.
	qt.Check(t, qt.Equals(strings.TrimSpace(string(ocireg.run("digest", dist+"/peer/multi:v1"))), idx.digest.String()))
	qt.Check(t, qt.Equals(strings.TrimSpace(string(ocireg.run("digest", host+"/peer/multi-back:v1"))), idx.digest.String()))
}

// pushReferrer pushes to repo on host an artifact manifest whose subject
// is img, with the empty config and no layers, and returns it.
func pushReferrer(t *testing.T, host, repo string, img image) image {
	t.Helper()
	empty := []byte("{}")
	pushBlob(t, host, repo, empty)
	subject := descriptorOf(ocispec.MediaTypeImageManifest, img.manifest)
	m := ocispec.Manifest{
		Versioned:    versioned,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.signature",
		Config:       descriptorOf(ocispec.MediaTypeEmptyJSON, empty),
		Layers:       []ocispec.Descriptor{},
		Subject:      &subject,
	}
	data, err := json.Marshal(m)
	qt.Assert(t, qt.IsNil(err))
	sig := image{manifest: data, digest: digest.FromBytes(data), config: empty}
	pushManifest(t, host, repo, sig.digest.String(), ocispec.MediaTypeImageManifest, data)
	return sig
}
