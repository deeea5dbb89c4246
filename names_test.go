package ociregistry_test

import (
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

func TestCheckRepository(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"a", true},
		{"library/ubuntu", true},
		{"a/b/c/d", true},
		{"foo.bar", true},
		{"foo_bar", true},
		{"foo__bar", true},
		{"foo-bar", true},
		{"foo---bar", true},
		{"0123", true},
		{"a.b-c_d/e__f", true},
		{strings.Repeat("a", ociregistry.MaxRepositoryLength), true},
		{strings.Repeat("a", ociregistry.MaxRepositoryLength+1), false},
		{strings.Repeat("ab/", 85) + "a", false}, // 256 bytes
		{"", false},
		{"Upper", false},
		{"foo___bar", false},
		{"foo..bar", false},
		{"foo._bar", false},
		{"-foo", false},
		{"foo-", false},
		{".foo", false},
		{"foo/", false},
		{"/foo", false},
		{"foo//bar", false},
		{"foo bar", false},
		{"foo:bar", false},
		{"foo@bar", false},
		{"ünicode", false},
		{"foo\n", false},
	}
	for _, test := range tests {
		t.Run(test.name[:min(len(test.name), 20)], func(t *testing.T) {
			err := ociregistry.CheckRepository(test.name)
			qt.Assert(t, qt.Equals(ociregistry.IsValidRepository(test.name), test.valid))
			if test.valid {
				qt.Assert(t, qt.IsNil(err))
				return
			}
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid))
			qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(err), 400))
		})
	}
}

func TestCheckTag(t *testing.T) {
	tests := []struct {
		tag   string
		valid bool
	}{
		{"latest", true},
		{"v1.2.3", true},
		{"V1_x-y.z", true},
		{"_private", true},
		{"0", true},
		{"a", true},
		{strings.Repeat("t", ociregistry.MaxTagLength), true},
		{strings.Repeat("t", ociregistry.MaxTagLength+1), false},
		{"", false},
		{".hidden", false},
		{"-dash", false},
		{"a/b", false},
		{"a:b", false},
		{"a@b", false},
		{"a b", false},
		{"sha256:abc", false},
		{"ünicode", false},
	}
	for _, test := range tests {
		t.Run(test.tag[:min(len(test.tag), 20)], func(t *testing.T) {
			err := ociregistry.CheckTag(test.tag)
			qt.Assert(t, qt.Equals(ociregistry.IsValidTag(test.tag), test.valid))
			if test.valid {
				qt.Assert(t, qt.IsNil(err))
				return
			}
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid))
		})
	}
	// A long bad tag is shortened in the message.
	err := ociregistry.CheckTag(strings.Repeat("x", 1000) + "/")
	qt.Assert(t, qt.IsTrue(len(err.Error()) < 200))
}

func TestCheckDigest(t *testing.T) {
	hex64 := strings.Repeat("a", 64)
	hex128 := strings.Repeat("b", 128)
	tests := []struct {
		digest ociregistry.Digest
		valid  bool
	}{
		{digest.FromString("x"), true},
		{digest.SHA512.FromString("x"), true},
		{ociregistry.Digest("sha256:" + hex64), true},
		{ociregistry.Digest("sha512:" + hex128), true},
		{"", false},
		{"sha256", false},
		{"sha256:", false},
		{ociregistry.Digest("sha256:" + hex64[:63]), false},
		{ociregistry.Digest("sha256:" + hex64 + "a"), false},
		{ociregistry.Digest("sha256:" + strings.ToUpper(hex64)), false},
		{ociregistry.Digest("sha256:" + hex64[:63] + "g"), false},
		{ociregistry.Digest("sha512:" + hex64), false},
		{ociregistry.Digest("sha512:" + hex128[:127]), false},
		{ociregistry.Digest("sha384:" + strings.Repeat("c", 96)), false},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", false},
		{ociregistry.Digest(":" + hex64), false},
		{ociregistry.Digest("SHA256:" + hex64), false},
		{ociregistry.Digest("sha256:" + hex64 + " "), false},
		{ociregistry.Digest(strings.Repeat("x", 1000)), false},
	}
	for _, test := range tests {
		t.Run(string(test.digest)[:min(len(test.digest), 20)], func(t *testing.T) {
			err := ociregistry.CheckDigest(test.digest)
			qt.Assert(t, qt.Equals(ociregistry.IsValidDigest(test.digest), test.valid))
			if test.valid {
				qt.Assert(t, qt.IsNil(err))
				return
			}
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
			// The message stays short, however long the digest.
			qt.Assert(t, qt.IsTrue(len(err.Error()) < 300), qt.Commentf("%s", err))
		})
	}
}
