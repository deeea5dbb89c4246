package ociregistry_test

import (
	"regexp"
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

// TestCheckReasons checks that the errors for bad names, tags and digests
// say which rule was broken, and that a malformed digest is not reported
// as content that did not match it.
func TestCheckReasons(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code error
		want string
	}{
		{"RepoUpper", ociregistry.CheckRepository("team/App"), ociregistry.ErrNameInvalid, `invalid repository name "team/App": upper-case letter 'A'`},
		{"RepoChar", ociregistry.CheckRepository("a%2fb"), ociregistry.ErrNameInvalid, `character '%' is not allowed`},
		{"RepoEmptyComponent", ociregistry.CheckRepository("a//b"), ociregistry.ErrNameInvalid, `empty path component`},
		{"RepoTrailingSlash", ociregistry.CheckRepository("a/"), ociregistry.ErrNameInvalid, `empty path component`},
		{"RepoDotDot", ociregistry.CheckRepository(".."), ociregistry.ErrNameInvalid, `component ".." does not start and end with a letter or digit`},
		{"RepoSeparator", ociregistry.CheckRepository("a..b"), ociregistry.ErrNameInvalid, `component "a..b" has a separator other than`},
		{"RepoLong", ociregistry.CheckRepository(strings.Repeat("a", 256)), ociregistry.ErrNameInvalid, `256 bytes long, more than 255`},
		{"RepoEmpty", ociregistry.CheckRepository(""), ociregistry.ErrNameInvalid, `empty repository name`},
		{"TagEmpty", ociregistry.CheckTag(""), ociregistry.ErrManifestInvalid, `invalid tag "": it is empty`},
		{"TagStart", ociregistry.CheckTag("-x"), ociregistry.ErrManifestInvalid, `starts with '-'`},
		{"TagChar", ociregistry.CheckTag("a/b"), ociregistry.ErrManifestInvalid, `character '/' is not allowed`},
		{"TagLong", ociregistry.CheckTag(strings.Repeat("t", 129)), ociregistry.ErrManifestInvalid, `129 bytes long, more than 128`},
		{"DigestShort", ociregistry.CheckDigest("sha256:abc"), ociregistry.ErrDigestInvalid, `invalid digest "sha256:abc": malformed: 3 hex digits where sha256 has 64`},
		{"DigestNoAlgorithm", ociregistry.CheckDigest("abc"), ociregistry.ErrDigestInvalid, `malformed: it has no algorithm`},
		{"DigestUpperHex", ociregistry.CheckDigest(ociregistry.Digest("sha256:" + strings.Repeat("A", 64))), ociregistry.ErrDigestInvalid, `malformed: 'A' is not a lower-case hex digit`},
		{"DigestAlgorithm", ociregistry.CheckDigest("md5:d41d8cd98f00b204e9800998ecf8427e"), ociregistry.ErrDigestInvalid, `unsupported digest algorithm "md5"`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			qt.Assert(t, qt.ErrorIs(test.err, test.code))
			qt.Check(t, qt.StringContains(test.err.Error(), test.want))
			// The generic text of the code would only repeat the
			// reason, or, for a digest, say something else.
			qt.Check(t, qt.Not(qt.StringContains(test.err.Error(), ": "+test.code.Error())))
			body, status := ociregistry.MarshalError(test.err)
			qt.Check(t, qt.Equals(status, 400))
			back := ociregistry.UnmarshalError(status, nil, body)
			qt.Check(t, qt.ErrorIs(back, test.code))
			qt.Check(t, qt.StringContains(back.Error(), test.want))
		})
	}
}

func TestCheckRepositoryDigest(t *testing.T) {
	good := digest.FromString("x")
	tests := []struct {
		name    string
		repo    string
		dg      ociregistry.Digest
		wantErr error
	}{
		{"Valid", "a/b", good, nil},
		{"BadRepository", "A", good, ociregistry.ErrNameInvalid},
		{"BadDigest", "a/b", "sha256:x", ociregistry.ErrDigestInvalid},
		// The name is checked first: a bad name is the error reported
		// even when the digest is bad too.
		{"BothBad", "", "x", ociregistry.ErrNameInvalid},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			err := ociregistry.CheckRepositoryDigest(test.repo, test.dg)
			if test.wantErr == nil {
				qt.Assert(t, qt.IsNil(err))
				return
			}
			qt.Assert(t, qt.ErrorIs(err, test.wantErr))
		})
	}
}

// The specification's grammar, as regular expressions, against which
// the hand-written checks are compared.
var (
	specRepository = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	specTag        = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	specDigest     = regexp.MustCompile(`^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$`)
)

// checkAgainstGrammar fails when a check disagrees with the grammar
// about s.
func checkAgainstGrammar(t testing.TB, s string) {
	wantRepo := s != "" && len(s) <= ociregistry.MaxRepositoryLength && specRepository.MatchString(s)
	if got := ociregistry.IsValidRepository(s); got != wantRepo {
		t.Fatalf("IsValidRepository(%q) = %v, want %v", s, got, wantRepo)
	}
	if got, want := ociregistry.IsValidTag(s), specTag.MatchString(s); got != want {
		t.Fatalf("IsValidTag(%q) = %v, want %v", s, got, want)
	}
	if got, want := ociregistry.IsValidDigest(ociregistry.Digest(s)), specDigest.MatchString(s); got != want {
		t.Fatalf("IsValidDigest(%q) = %v, want %v", s, got, want)
	}
}

// TestNamesMatchGrammar compares the checks with the grammar on every
// string of up to five characters from an alphabet that holds one of
// each kind of character the grammar tells apart, and on long and
// digest-like strings.
func TestNamesMatchGrammar(t *testing.T) {
	const alphabet = "a0._-/Z:"
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		checkAgainstGrammar(t, prefix)
		if n == 0 {
			return
		}
		for i := range len(alphabet) {
			gen(prefix+alphabet[i:i+1], n-1)
		}
	}
	gen("", 5)
	hex := strings.Repeat("0123456789abcdef", 8)
	for _, s := range []string{
		"sha256:" + hex[:64], "sha256:" + hex[:63], "sha256:" + hex[:65], "sha256:" + strings.ToUpper(hex[:64]),
		"sha512:" + hex, "sha512:" + hex[:127], "sha384:" + hex[:96], "sha256:" + hex[:63] + "g",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "_" + strings.Repeat("b", 127),
		strings.Repeat("ab/", 85), strings.Repeat("a-", 127) + "a", "a___b", "a__b", "a..b", "a.-b",
	} {
		checkAgainstGrammar(t, s)
	}
}

func FuzzNames(f *testing.F) {
	for _, s := range []string{"library/ubuntu", "a__b-c.d/e", "v1.0_rc-1", "sha256:" + strings.Repeat("ab", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkAgainstGrammar(t, s) })
}
