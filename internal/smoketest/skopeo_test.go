package smoketest

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

func TestSkopeo(t *testing.T) {
	t.Parallel()
	testSkopeo(t, toolstest.StartOcireg(t))
}

// testSkopeo drives skopeo against the registry at host.
func testSkopeo(t *testing.T, host string) {
	skopeo := newTool(t, toolstest.Require(t, "skopeo"))
	docker := func(s string) string { return "docker://" + host + "/" + s }
	// skopeo refuses to copy without a trust policy; the system one may
	// be missing or strict.
	policy := skopeo.writeFile("policy.json", []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`))
	copyArgs := []string{"--policy", policy, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests"}
	img := pushRandomImage(t, host, "skopeo/src", "v1")

	t.Run("CopyImage", func(t *testing.T) {
		skopeo.run(append(copyArgs, docker("skopeo/src:v1"), docker("skopeo/dst:v1"))...)
		assertSameImage(t, host, "skopeo/dst", "v1", img)
		qt.Assert(t, qt.DeepEquals(skopeo.run("inspect", "--raw", "--tls-verify=false", docker("skopeo/dst:v1")), img.manifest))
	})
	t.Run("CopyIndex", func(t *testing.T) {
		idx := pushRandomIndex(t, host, "skopeo/multi", "v1")
		skopeo.run(append(copyArgs, "--all", docker("skopeo/multi:v1"), docker("skopeo/multi-copy:v1"))...)
		assertSameIndex(t, host, "skopeo/multi-copy", "v1", idx)
	})
	t.Run("ThroughLayout", func(t *testing.T) {
		layout := filepath.Join(skopeo.dir, "layout")
		skopeo.run(append(copyArgs, docker("skopeo/src:v1"), "oci:"+layout+":v1")...)
		for dg, data := range img.blobs() {
			got, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", dg.Encoded()))
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.DeepEquals(got, data))
		}
		skopeo.run(append(copyArgs, "oci:"+layout+":v1", docker("skopeo/back:v1"))...)
		assertSameImage(t, host, "skopeo/back", "v1", img)
	})
	t.Run("ListTagsDelete", func(t *testing.T) {
		pushManifest(t, host, "skopeo/src", "v2", "application/vnd.oci.image.manifest.v1+json", img.manifest)
		out := string(skopeo.run("list-tags", "--tls-verify=false", docker("skopeo/src")))
		qt.Assert(t, qt.StringContains(out, `"v1"`))
		qt.Assert(t, qt.StringContains(out, `"v2"`))
		qt.Assert(t, qt.StringContains(out, `"Repository": "`+host+`/skopeo/src"`), qt.Commentf("%s", out))

		skopeo.run(append(copyArgs, docker("skopeo/src:v1"), docker("skopeo/doomed:v1"))...)
		skopeo.run("delete", "--tls-verify=false", docker("skopeo/doomed:v1"))
		qt.Assert(t, qt.Equals(manifestStatus(t, host, "skopeo/doomed", img.digest.String()), http.StatusNotFound))
		// Deleting in one repository leaves the same image elsewhere alone.
		assertSameImage(t, host, "skopeo/src", "v1", img)
	})
}
