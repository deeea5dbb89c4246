package smoketest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

func TestRegctl(t *testing.T) {
	t.Parallel()
	testRegctl(t, toolstest.StartOcireg(t))
}

// testRegctl drives regctl against the registry at host.
func testRegctl(t *testing.T, host string) {
	regctl := newTool(t, toolstest.Require(t, "regctl"))
	ref := func(s string) string { return host + "/" + s }
	// The configuration lands in the tool's own $HOME.
	regctl.run("registry", "set", "--tls", "disabled", host)

	t.Run("CopyIndex", func(t *testing.T) {
		idx := pushRandomIndex(t, host, "regctl/src", "v1")
		regctl.run("image", "copy", ref("regctl/src:v1"), ref("regctl/dst:v1"))
		assertSameIndex(t, host, "regctl/dst", "v1", idx)
		qt.Assert(t, qt.Equals(string(regctl.run("tag", "ls", ref("regctl/dst"))), "v1\n"))
		qt.Assert(t, qt.DeepEquals(regctl.run("manifest", "get", "--format", "raw-body", ref("regctl/dst:v1")), idx.manifest))
		child := idx.children[1]
		layer := digest.FromBytes(child.layer)
		qt.Assert(t, qt.DeepEquals(regctl.run("blob", "get", ref("regctl/dst"), layer.String()), child.layer))
	})
	t.Run("Artifacts", func(t *testing.T) {
		img := pushRandomImage(t, host, "regctl/img", "v1")
		sbom := []byte(`{"sbom":"not really"}`)
		stdout, stderr, err := regctl.exec(sbom, "artifact", "put",
			"--artifact-type", "application/vnd.ocireg.sbom", "--file-media-type", "application/json",
			"--subject", ref("regctl/img:v1"))
		qt.Assert(t, qt.IsNil(err), qt.Commentf("stdout:\n%s\nstderr:\n%s", stdout, stderr))

		out := regctl.run("artifact", "list", "--format", "{{json .}}", ref("regctl/img:v1"))
		var list struct {
			Descriptors []ocispec.Descriptor
		}
		qt.Assert(t, qt.IsNil(json.Unmarshal(out, &list)), qt.Commentf("%s", out))
		qt.Assert(t, qt.HasLen(list.Descriptors, 1))
		qt.Assert(t, qt.Equals(list.Descriptors[0].ArtifactType, "application/vnd.ocireg.sbom"))
		artifact := list.Descriptors[0].Digest
		var m ocispec.Manifest
		qt.Assert(t, qt.IsNil(json.Unmarshal(getManifest(t, host, "regctl/img", artifact.String()), &m)))
		qt.Assert(t, qt.Equals(m.Subject.Digest, img.digest))

		got := regctl.run("artifact", "get", "--subject", ref("regctl/img:v1"), "--filter-artifact-type", "application/vnd.ocireg.sbom")
		qt.Assert(t, qt.DeepEquals(got, sbom))

		// Copying with --referrers takes the artifact along.
		regctl.run("image", "copy", "--referrers", ref("regctl/img:v1"), ref("regctl/img-copy:v1"))
		assertSameImage(t, host, "regctl/img-copy", "v1", img)
		var referrers ocispec.Index
		qt.Assert(t, qt.IsNil(json.Unmarshal(get(t, fmt.Sprintf("http://%s/v2/regctl/img-copy/referrers/%s", host, img.digest)), &referrers)))
		qt.Assert(t, qt.HasLen(referrers.Manifests, 1))
		qt.Assert(t, qt.Equals(referrers.Manifests[0].Digest, artifact))
	})
}
