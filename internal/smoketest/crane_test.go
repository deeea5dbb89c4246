package smoketest

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

func TestCrane(t *testing.T) {
	t.Parallel()
	testCrane(t, toolstest.StartOcireg(t))
}

// testCrane drives crane against the registry at host.
func testCrane(t *testing.T, host string) {
	crane := newTool(t, toolstest.Require(t, "crane"))
	img := pushRandomImage(t, host, "crane/src", "v1")
	ref := func(s string) string { return host + "/" + s }

	t.Run("ReadImage", func(t *testing.T) {
		qt.Assert(t, qt.Equals(strings.TrimSpace(string(crane.run("digest", "--insecure", ref("crane/src:v1")))), img.digest.String()))
		qt.Assert(t, qt.DeepEquals(crane.run("manifest", "--insecure", ref("crane/src:v1")), img.manifest))
		qt.Assert(t, qt.DeepEquals(crane.run("config", "--insecure", ref("crane/src:v1")), img.config))
		layer := digest.FromBytes(img.layer)
		qt.Assert(t, qt.DeepEquals(crane.run("blob", "--insecure", ref("crane/src@"+layer.String())), img.layer))
	})
	t.Run("CopyImage", func(t *testing.T) {
		crane.run("copy", "--insecure", ref("crane/src:v1"), ref("crane/dst:v1"))
		assertSameImage(t, host, "crane/dst", "v1", img)
	})
	t.Run("CopyIndex", func(t *testing.T) {
		idx := pushRandomIndex(t, host, "crane/multi", "v1")
		crane.run("copy", "--insecure", ref("crane/multi:v1"), ref("crane/multi-copy:v1"))
		assertSameIndex(t, host, "crane/multi-copy", "v1", idx)
	})
	t.Run("TagAndList", func(t *testing.T) {
		crane.run("tag", "--insecure", ref("crane/src:v1"), "v2")
		qt.Assert(t, qt.DeepEquals(getManifest(t, host, "crane/src", "v2"), img.manifest))
		qt.Assert(t, qt.Equals(string(crane.run("ls", "--insecure", ref("crane/src"))), "v1\nv2\n"))
		catalog := strings.Fields(string(crane.run("catalog", "--insecure", host)))
		qt.Assert(t, qt.IsTrue(len(catalog) >= 2), qt.Commentf("catalog %q", catalog))
		for _, repo := range []string{"crane/src", "crane/dst"} {
			qt.Assert(t, qt.SliceContains(catalog, repo))
		}
	})
	t.Run("PullPushLayout", func(t *testing.T) {
		layout := filepath.Join(crane.dir, "layout")
		crane.run("pull", "--insecure", "--format", "oci", ref("crane/src:v1"), layout)
		for dg, data := range img.blobs() {
			got, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", dg.Encoded()))
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.DeepEquals(got, data))
		}
		crane.run("push", "--insecure", layout, ref("crane/pushed:v1"))
		assertSameImage(t, host, "crane/pushed", "v1", img)
	})
	t.Run("Append", func(t *testing.T) {
		extra := randomImage(t, "linux/amd64").layer
		crane.writeFile("extra.tar.gz", extra)
		out := crane.run("append", "--insecure", "-b", ref("crane/src:v1"), "-f", "extra.tar.gz", "-t", ref("crane/appended:v1"))
		var m ocispec.Manifest
		qt.Assert(t, qt.IsNil(json.Unmarshal(getManifest(t, host, "crane/appended", "v1"), &m)))
		qt.Assert(t, qt.HasLen(m.Layers, 2))
		qt.Assert(t, qt.Equals(m.Layers[0].Digest, digest.FromBytes(img.layer)))
		qt.Assert(t, qt.DeepEquals(getBlob(t, host, "crane/appended", m.Layers[1].Digest), extra))
		qt.Assert(t, qt.StringContains(string(out), "crane/appended@sha256:"))
	})
	t.Run("Delete", func(t *testing.T) {
		crane.run("copy", "--insecure", ref("crane/src:v1"), ref("crane/doomed:v1"))
		crane.run("delete", "--insecure", ref("crane/doomed@"+img.digest.String()))
		qt.Assert(t, qt.Equals(manifestStatus(t, host, "crane/doomed", img.digest.String()), http.StatusNotFound))
		qt.Assert(t, qt.Equals(manifestStatus(t, host, "crane/doomed", "v1"), http.StatusNotFound))
		crane.fail("manifest", "--insecure", ref("crane/doomed:v1"))
		// The source is untouched.
		assertSameImage(t, host, "crane/src", "v1", img)
	})
}
