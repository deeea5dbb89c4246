package ociref

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry"
)

const dgst = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Reference
	}{
		{"alpine", Reference{Repository: "alpine"}},
		{"alpine:3.20", Reference{Repository: "alpine", Tag: "3.20"}},
		{"foo/bar/baz", Reference{Repository: "foo/bar/baz"}},
		{"ghcr.io/foo/bar:v1", Reference{Host: "ghcr.io", Repository: "foo/bar", Tag: "v1"}},
		{"localhost/foo", Reference{Host: "localhost", Repository: "foo"}},
		{"localhost:5000/foo:latest", Reference{Host: "localhost:5000", Repository: "foo", Tag: "latest"}},
		{"127.0.0.1:5000/a/b@" + dgst, Reference{Host: "127.0.0.1:5000", Repository: "a/b", Digest: dgst}},
		{"[::1]:5000/a", Reference{Host: "[::1]:5000", Repository: "a"}},
		{"Registry/foo", Reference{Host: "Registry", Repository: "foo"}},
		{"a.b/c:t@" + dgst, Reference{Host: "a.b", Repository: "c", Tag: "t", Digest: dgst}},
		{"foo__bar/x-y.z", Reference{Repository: "foo__bar/x-y.z"}},
	}
	for _, test := range tests {
		t.Run(test.in, func(t *testing.T) {
			got, err := Parse(test.in)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(got, test.want))
			qt.Assert(t, qt.Equals(got.String(), test.in))
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		wantMsg string
	}{
		{"", ociregistry.ErrNameInvalid, "empty reference"},
		{"Foo", ociregistry.ErrNameInvalid, `invalid repository name "Foo"`},
		{"foo/Bar", ociregistry.ErrNameInvalid, `invalid repository name "foo/Bar"`},
		{"foo:", ociregistry.ErrManifestInvalid, `invalid tag ""`},
		{"foo:-x", ociregistry.ErrManifestInvalid, `invalid tag "-x"`},
		{"foo:" + strings.Repeat("a", 129), ociregistry.ErrManifestInvalid, "invalid tag"},
		{"foo@sha256:abc", ociregistry.ErrDigestInvalid, "invalid digest"},
		{"foo@md5:d41d8cd98f00b204e9800998ecf8427e", ociregistry.ErrDigestInvalid, ""},
		{"-host.io/foo", ociregistry.ErrNameInvalid, `invalid host "-host.io"`},
		{"host.io:x/foo", ociregistry.ErrNameInvalid, `invalid host "host.io:x"`},
		{"host.io/", ociregistry.ErrNameInvalid, "empty repository name"},
		{"foo//bar", ociregistry.ErrNameInvalid, "invalid repository name"},
	}
	for _, test := range tests {
		t.Run(test.in, func(t *testing.T) {
			_, err := Parse(test.in)
			qt.Assert(t, qt.IsTrue(errors.Is(err, test.wantErr)), qt.Commentf("err %v", err))
			qt.Assert(t, qt.StringContains(err.Error(), test.wantMsg))
			qt.Assert(t, qt.StringContains(err.Error(), "reference"))
		})
	}
}

func TestParseDocker(t *testing.T) {
	tests := []struct {
		in       string
		want     string
		wantHost string
	}{
		{"alpine", "docker.io/library/alpine", "registry-1.docker.io"},
		{"alpine:3", "docker.io/library/alpine:3", "registry-1.docker.io"},
		{"foo/bar", "docker.io/foo/bar", "registry-1.docker.io"},
		{"docker.io/alpine", "docker.io/library/alpine", "registry-1.docker.io"},
		{"index.docker.io/foo/bar", "docker.io/foo/bar", "registry-1.docker.io"},
		{"ghcr.io/alpine", "ghcr.io/alpine", "ghcr.io"},
		{"localhost:5000/alpine@" + dgst, "localhost:5000/alpine@" + dgst, "localhost:5000"},
	}
	for _, test := range tests {
		t.Run(test.in, func(t *testing.T) {
			got, err := ParseDocker(test.in)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(got.String(), test.want))
			qt.Assert(t, qt.Equals(got.RegistryHost(), test.wantHost))
		})
	}
}

func TestTagged(t *testing.T) {
	qt.Assert(t, qt.IsFalse(Reference{Repository: "a"}.Tagged()))
	qt.Assert(t, qt.IsTrue(Reference{Repository: "a", Tag: "x"}.Tagged()))
	qt.Assert(t, qt.IsTrue(Reference{Repository: "a", Digest: dgst}.Tagged()))
}
