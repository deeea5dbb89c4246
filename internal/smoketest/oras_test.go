package smoketest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

func TestOras(t *testing.T) {
	t.Parallel()
	testOras(t, toolstest.StartOcireg(t))
}

// testOras drives oras against the registry at host.
func testOras(t *testing.T, host string) {
	oras := newTool(t, toolstest.Require(t, "oras"))
	ref := func(s string) string { return host + "/" + s }

	t.Run("PushPullFiles", func(t *testing.T) {
		files := map[string][]byte{"a.txt": []byte("hello from oras\n"), "b.bin": randomBytes(t, 4000)}
		for name, data := range files {
			oras.writeFile(name, data)
		}
		oras.run("push", "--plain-http", "--no-tty", "--artifact-type", "application/vnd.ocireg.test",
			"--export-manifest", "pushed.json", ref("oras/files:v1"), "a.txt:text/plain", "b.bin")
		pushed := oras.readFile("pushed.json")
		qt.Assert(t, qt.DeepEquals(getManifest(t, host, "oras/files", "v1"), pushed))

		oras.run("pull", "--plain-http", "--no-tty", "-o", "out", ref("oras/files:v1"))
		for name, data := range files {
			qt.Assert(t, qt.DeepEquals(oras.readFile("out/"+name), data), qt.Commentf("pulled %s", name))
		}
		qt.Assert(t, qt.DeepEquals(oras.run("manifest", "fetch", "--plain-http", ref("oras/files:v1")), pushed))
		dg := digest.FromBytes(files["b.bin"])
		qt.Assert(t, qt.DeepEquals(oras.run("blob", "fetch", "--plain-http", "--output", "-", ref("oras/files@"+dg.String())), files["b.bin"]))
	})
	t.Run("AttachDiscover", func(t *testing.T) {
		img := pushRandomImage(t, host, "oras/img", "v1")
		oras.writeFile("sig.txt", []byte("not really a signature\n"))
		oras.run("attach", "--plain-http", "--no-tty", "--distribution-spec", "v1.1-referrers-api",
			"--artifact-type", "application/vnd.ocireg.sig", "--export-manifest", "sig.json",
			ref("oras/img:v1"), "sig.txt")
		sig := oras.readFile("sig.json")
		sigDigest := digest.FromBytes(sig)
		var m ocispec.Manifest
		qt.Assert(t, qt.IsNil(json.Unmarshal(sig, &m)))
		qt.Assert(t, qt.Equals(m.Subject.Digest, img.digest))
		qt.Assert(t, qt.DeepEquals(getManifest(t, host, "oras/img", sigDigest.String()), sig))

		// The server's referrers API lists it...
		var referrers ocispec.Index
		qt.Assert(t, qt.IsNil(json.Unmarshal(get(t, fmt.Sprintf("http://%s/v2/oras/img/referrers/%s", host, img.digest)), &referrers)))
		qt.Assert(t, qt.HasLen(referrers.Manifests, 1))
		qt.Assert(t, qt.Equals(referrers.Manifests[0].Digest, sigDigest))
		qt.Assert(t, qt.Equals(referrers.Manifests[0].ArtifactType, "application/vnd.ocireg.sig"))

		// ...and so does oras.
		out := oras.run("discover", "--plain-http", "--distribution-spec", "v1.1-referrers-api", "--format", "json", ref("oras/img:v1"))
		var discovered struct {
			Digest    digest.Digest
			Referrers []struct {
				Digest       digest.Digest
				ArtifactType string
			}
		}
		qt.Assert(t, qt.IsNil(json.Unmarshal(out, &discovered)), qt.Commentf("%s", out))
		qt.Assert(t, qt.Equals(discovered.Digest, img.digest))
		qt.Assert(t, qt.HasLen(discovered.Referrers, 1))
		qt.Assert(t, qt.Equals(discovered.Referrers[0].Digest, sigDigest))
		qt.Assert(t, qt.Equals(discovered.Referrers[0].ArtifactType, "application/vnd.ocireg.sig"))

		// A recursive copy takes the referrer along.
		oras.run("cp", "--from-plain-http", "--to-plain-http", "--no-tty", "-r", ref("oras/img:v1"), ref("oras/img-copy:v1"))
		assertSameImage(t, host, "oras/img-copy", "v1", img)
		qt.Assert(t, qt.DeepEquals(getManifest(t, host, "oras/img-copy", sigDigest.String()), sig))
	})
	t.Run("Delete", func(t *testing.T) {
		img := pushRandomImage(t, host, "oras/doomed", "v1")
		oras.run("manifest", "delete", "--plain-http", "--force", ref("oras/doomed@"+img.digest.String()))
		qt.Assert(t, qt.Equals(manifestStatus(t, host, "oras/doomed", img.digest.String()), http.StatusNotFound))
	})
}
