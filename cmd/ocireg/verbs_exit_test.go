package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

func TestVerbExitCodes(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	reg := ocimem.New()
	host := ocitest.NewServer(t, reg)
	img := ocitest.PushRandomImage(t, reg, "app", "v1")
	authHost := serveForTest(t, basicAuth(ociserver.New(ocimem.New(), nil)))
	missing := "sha256:" + strings.Repeat("0", 64)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "CpOK", args: []string{"cp", host + "/app:v1", host + "/copy:v1"}, wantCode: exitOK, wantStdout: string(img.Manifest.Digest)},
		{name: "DigestOK", args: []string{"digest", host + "/copy:v1"}, wantCode: exitOK, wantStdout: string(img.Manifest.Digest)},
		{name: "ManifestMissing", args: []string{"manifest", host + "/app:nope"}, wantCode: exitNotFound, wantStderr: "ocireg: " + host + "/app:nope: manifest unknown\n"},
		{name: "CpMissing", args: []string{"cp", host + "/app:nope", host + "/x:v1"}, wantCode: exitNotFound, wantStderr: "manifest unknown"},
		{name: "BlobMissing", args: []string{"blob", host + "/app@" + missing}, wantCode: exitNotFound, wantStderr: "blob unknown"},
		{name: "BlobLayerOK", args: []string{"blob", "--layer", "0", host + "/app:v1"}, wantCode: exitOK, wantStdout: string(img.BlobContent[img.Blobs[1].Digest])},
		{name: "BlobLayerMissing", args: []string{"blob", "--layer", "9", host + "/app:v1"}, wantCode: exitNotFound, wantStderr: "no layer 9: blob unknown"},
		{name: "BlobPlatformNoLayer", args: []string{"blob", "--platform", "linux/amd64", host + "/app:v1"}, wantCode: exitUsage, wantStderr: "--platform chooses an image"},
		{name: "LsMissingRepo", args: []string{"ls", host + "/nothing"}, wantCode: exitNotFound, wantStderr: "repository unknown"},
		{name: "RmMissingTag", args: []string{"rm", host + "/app:nope"}, wantCode: exitNotFound, wantStderr: "manifest unknown"},
		{name: "Unauthorized", args: []string{"ls", authHost + "/app"}, wantCode: exitFailure, wantStderr: "(run: ocireg login " + authHost + ")"},
		{name: "CpUsage", args: []string{"cp", host + "/app:v1"}, wantCode: exitUsage, wantStderr: "cp needs SRC and DST"},
		{name: "BadReference", args: []string{"digest", "localhost/UPPER"}, wantCode: exitUsage, wantStderr: "invalid repository name"},
		{name: "BadFlag", args: []string{"ls", "--frob", host + "/app"}, wantCode: exitUsage, wantStderr: "flag provided but not defined: -frob"},
		{name: "Help", args: []string{"catalog", "-h"}, wantCode: exitOK, wantStdout: "usage: ocireg catalog"},
		{name: "LoginUsage", args: []string{"login", authHost}, wantCode: exitUsage, wantStderr: "login needs a user name"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), test.args, &stdout, &stderr)
			qt.Check(t, qt.Equals(code, test.wantCode), qt.Commentf("stderr: %s", stderr.String()))
			if test.wantStdout == "" {
				qt.Check(t, qt.Equals(stdout.String(), ""))
			} else {
				qt.Check(t, qt.StringContains(stdout.String(), test.wantStdout))
			}
			qt.Check(t, qt.StringContains(stderr.String(), test.wantStderr))
		})
	}
}

// TestLoginChecksWithRegistry checks that checkLogin sends the
// credentials the way registries want them and reports a refusal.
func TestLoginChecksWithRegistry(t *testing.T) {
	host := serveForTest(t, basicAuth(http.NotFoundHandler()))
	opts, err := (&clientFlags{}).clientOptions(host)
	qt.Assert(t, qt.IsNil(err))
	err = checkLogin(context.Background(), host, opts, ociCreds(authUser, "wrong"))
	qt.Check(t, qt.ErrorMatches(err, `login to .* failed: the registry turned down the user name or password \(401 Unauthorized\)`))
	// alice gets through to a handler that is no registry.
	err = checkLogin(context.Background(), host, opts, ociCreds(authUser, authPassword))
	qt.Check(t, qt.ErrorMatches(err, `login to .* failed: /v2/ answered 404 Not Found; is it an OCI registry\?`))
}

// serveForTest serves h on a loopback port until the test ends, and
// returns its host. Not httptest.Server, whose Close disturbs
// http.DefaultTransport for tests running in parallel.
func serveForTest(t *testing.T, h http.Handler) string {
	host, stop, err := serveForScript(h)
	qt.Assert(t, qt.IsNil(err))
	t.Cleanup(stop)
	return host
}
