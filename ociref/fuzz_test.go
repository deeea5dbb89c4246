package ociref

import (
	"errors"
	"testing"

	"github.com/ocireg/ociregistry"
)

// FuzzParse checks that every reference Parse accepts has parts that the
// validators accept, prints as a string that parses back to the same
// reference, and keeps doing so with Docker Hub's defaults applied; and
// that every reference it refuses gets one of the three errors it
// documents.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"alpine",
		"alpine:3.20",
		"library/alpine:latest",
		"docker.io/library/alpine",
		"index.docker.io/foo",
		"ghcr.io/foo/bar:v1",
		"localhost/foo",
		"localhost:5000/foo:latest",
		"127.0.0.1:5000/a/b@" + dgst,
		"[::1]:5000/a",
		"Registry/foo",
		"a.b/c:t@" + dgst,
		"foo__bar/x-y.z",
		"foo:-x",
		"foo@sha256:abc",
		"host.io:x/foo",
		"host.io/",
		"foo//bar",
		"a:b:c",
		"a@b@c",
		"[::1/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ociregistry.ErrNameInvalid) && !errors.Is(err, ociregistry.ErrManifestInvalid) && !errors.Is(err, ociregistry.ErrDigestInvalid) {
				t.Fatalf("Parse(%q): error %v is none of NAME_INVALID, MANIFEST_INVALID, DIGEST_INVALID", s, err)
			}
			if _, derr := ParseDocker(s); derr == nil {
				t.Fatalf("ParseDocker(%q) accepts what Parse refuses (%v)", s, err)
			}
			return
		}
		checkParts(t, s, ref)
		if got := ref.String(); got != s {
			t.Fatalf("Parse(%q).String() = %q, not the input", s, got)
		}
		docker, err := ParseDocker(s)
		if err != nil {
			// Only library/ can make a name Parse took invalid.
			defaulted := ref.WithDockerDefaults()
			if !errors.Is(err, ociregistry.ErrNameInvalid) || ociregistry.IsValidRepository(defaulted.Repository) {
				t.Fatalf("ParseDocker(%q) refuses what Parse accepts: %v", s, err)
			}
			return
		}
		if docker != ref.WithDockerDefaults() {
			t.Fatalf("ParseDocker(%q) = %#v, not Parse's result with defaults %#v", s, docker, ref.WithDockerDefaults())
		}
		checkParts(t, s, docker)
		if docker.Host == "" {
			t.Fatalf("ParseDocker(%q) has no host", s)
		}
		if docker.RegistryHost() == "" {
			t.Fatalf("ParseDocker(%q).RegistryHost() is empty", s)
		}
		// The defaults are applied once: applying them again, or
		// printing and parsing again, changes nothing.
		if again := docker.WithDockerDefaults(); again != docker {
			t.Fatalf("WithDockerDefaults is not idempotent on %q: %#v then %#v", s, docker, again)
		}
		back, err := ParseDocker(docker.String())
		if err != nil {
			t.Fatalf("ParseDocker(%q) of the printed %q: %v", s, docker.String(), err)
		}
		if back != docker {
			t.Fatalf("ParseDocker(%q) = %#v, reparsed from %q as %#v", s, docker, docker.String(), back)
		}
	})
}

// checkParts fails t unless each part of ref is valid on its own.
func checkParts(t *testing.T, s string, ref Reference) {
	t.Helper()
	if err := ociregistry.CheckRepository(ref.Repository); err != nil {
		t.Fatalf("Parse(%q) accepted repository %q: %v", s, ref.Repository, err)
	}
	if ref.Tag != "" && !ociregistry.IsValidTag(ref.Tag) {
		t.Fatalf("Parse(%q) accepted tag %q", s, ref.Tag)
	}
	if ref.Digest != "" && !ociregistry.IsValidDigest(ref.Digest) {
		t.Fatalf("Parse(%q) accepted digest %q", s, ref.Digest)
	}
	if ref.Host != "" && (!hostPattern.MatchString(ref.Host) || !isHost(ref.Host)) {
		t.Fatalf("Parse(%q) accepted host %q", s, ref.Host)
	}
	if ref.Tagged() != (ref.Tag != "" || ref.Digest != "") {
		t.Fatalf("Parse(%q).Tagged() = %v", s, ref.Tagged())
	}
}
