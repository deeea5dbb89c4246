package ociregistry

import (
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // registers sha512 for go-digest
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// MaxRepositoryLength is the longest repository name accepted. The
// specification notes that many clients limit host, "/" and name together
// to 255 characters; a longer name could never be pulled by them.
const MaxRepositoryLength = 255

// MaxTagLength is the longest tag the specification allows.
const MaxTagLength = 128

// The names are checked by hand rather than by regular expression:
// every request checks one or two, and a regexp.Regexp took a third of
// the server's own time answering a manifest HEAD. The grammar is the
// specification's:
//
//	repository: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//	tag:        [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}

// validRepository reports whether name matches the repository grammar,
// whatever its length.
func validRepository(name string) bool {
	for comp := range strings.SplitSeq(name, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

// validComponent reports whether comp is one path component of a
// repository name: runs of [a-z0-9] joined by ".", "_", "__" or
// dashes.
func validComponent(comp string) bool {
	i := 0
	for {
		// A run of lower-case letters and digits.
		start := i
		for i < len(comp) && isLowerAlnum(comp[i]) {
			i++
		}
		if i == start {
			return false
		}
		if i == len(comp) {
			return true
		}
		// A separator, which must be followed by another run.
		switch sep := comp[i]; sep {
		case '.':
			i++
		case '_':
			i++
			if i < len(comp) && comp[i] == '_' {
				i++
			}
		case '-':
			for i < len(comp) && comp[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

func isLowerAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

// validTag reports whether tag matches the tag grammar.
func validTag(tag string) bool {
	if len(tag) == 0 || len(tag) > MaxTagLength || tag[0] == '.' || tag[0] == '-' {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(isLowerAlnum(c) || 'A' <= c && c <= 'Z' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// validHex reports whether s is n lower-case hexadecimal digits.
func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckRepository returns nil when name is a valid repository name, and
// otherwise an error that Is ErrNameInvalid and says which rule the name
// breaks.
func CheckRepository(name string) error {
	switch {
	case name == "":
		return NewError("empty repository name", ErrNameInvalid.Code(), nil)
	case len(name) > MaxRepositoryLength:
		return nameInvalid(name, fmt.Sprintf("it is %d bytes long, more than %d", len(name), MaxRepositoryLength))
	case !validRepository(name):
		return nameInvalid(name, repositoryProblem(name))
	}
	return nil
}

// nameInvalid returns the error for a repository name that breaks the
// rule that reason describes. Its message says so without the generic
// text of ErrNameInvalid, which would only repeat it.
func nameInvalid(name, reason string) error {
	if len(name) > 100 {
		name = name[:100] + "..."
	}
	return NewError(fmt.Sprintf("invalid repository name %q: %s", name, reason), ErrNameInvalid.Code(), nil)
}

// repositoryProblem says why name, which does not match the grammar,
// is not a repository name.
func repositoryProblem(name string) string {
	for _, comp := range strings.Split(name, "/") {
		if comp == "" {
			return "it has an empty path component (a leading, trailing or double slash)"
		}
		for _, c := range comp {
			switch {
			case c >= 'A' && c <= 'Z':
				return fmt.Sprintf("upper-case letter %q: names are lower-case", c)
			case !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'):
				return fmt.Sprintf("character %q is not allowed: names hold a-z, 0-9, '.', '_', '-' and '/'", c)
			}
		}
		if !isLowerAlnum(comp[0]) || !isLowerAlnum(comp[len(comp)-1]) {
			return fmt.Sprintf("component %q does not start and end with a letter or digit", comp)
		}
		if !validComponent(comp) {
			return fmt.Sprintf("component %q has a separator other than '.', '_', '__' or a run of '-' between letters or digits", comp)
		}
	}
	return "it does not match the repository grammar"
}

// CheckRepositoryDigest returns nil when repo is a valid repository name
// and dg a well-formed digest, as implementations check the arguments of
// a call naming content by digest before acting on it. Otherwise it
// returns the error of CheckRepository (which Is ErrNameInvalid) or, for
// a good name, that of CheckDigest (which Is ErrDigestInvalid).
func CheckRepositoryDigest(repo string, dg Digest) error {
	if err := CheckRepository(repo); err != nil {
		return err
	}
	return CheckDigest(dg)
}

// IsValidRepository reports whether name is a valid repository name.
func IsValidRepository(name string) bool {
	return CheckRepository(name) == nil
}

// CheckTag returns nil when tag is a valid tag, and otherwise an error
// that Is ErrManifestInvalid (the specification has no code of its own
// for a bad tag; a tag names a manifest) and says which rule the tag
// breaks.
func CheckTag(tag string) error {
	if validTag(tag) {
		return nil
	}
	var reason string
	switch {
	case tag == "":
		reason = "it is empty"
	case len(tag) > MaxTagLength:
		reason = fmt.Sprintf("it is %d bytes long, more than %d", len(tag), MaxTagLength)
	case tag[0] == '.' || tag[0] == '-':
		reason = fmt.Sprintf("it starts with %q: a tag starts with a letter, a digit or '_'", tag[0])
	default:
		reason = "it does not match the tag grammar"
		for _, c := range tag {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				reason = fmt.Sprintf("character %q is not allowed: tags hold letters, digits, '_', '.' and '-'", c)
				break
			}
		}
	}
	if len(tag) > 50 {
		tag = tag[:50] + "..."
	}
	return NewError(fmt.Sprintf("invalid tag %q: %s", tag, reason), ErrManifestInvalid.Code(), nil)
}

// IsValidTag reports whether tag is a valid tag.
func IsValidTag(tag string) bool {
	return validTag(tag)
}

// CheckDigest returns nil when d is a well-formed digest of an algorithm
// this package supports (sha256 and sha512), and otherwise an error that
// Is ErrDigestInvalid and says what is wrong with its form. (The message
// of ErrDigestInvalid itself speaks of content that does not match, which
// is not what happened.)
func CheckDigest(d Digest) error {
	// The common cases, without go-digest's regular expressions.
	if rest, ok := strings.CutPrefix(string(d), "sha256:"); ok && validHex(rest, 64) {
		return nil
	}
	if rest, ok := strings.CutPrefix(string(d), "sha512:"); ok && validHex(rest, 128) {
		return nil
	}
	s := string(d)
	if len(s) > 140 {
		s = s[:140] + "..."
	}
	alg, hex, ok := strings.Cut(string(d), ":")
	var reason string
	switch {
	case !ok:
		reason = "it has no algorithm: a digest is algorithm:hex, such as sha256: and 64 hex digits"
	case alg != string(digest.SHA256) && alg != string(digest.SHA512):
		return NewError(fmt.Sprintf("invalid digest %q: unsupported digest algorithm %.20q: sha256 and sha512 are supported", s, alg), ErrDigestInvalid.Code(), nil)
	case len(hex) != digest.Algorithm(alg).Size()*2:
		reason = fmt.Sprintf("%d hex digits where %s has %d", len(hex), alg, digest.Algorithm(alg).Size()*2)
	default:
		err := d.Validate()
		if err == nil {
			return nil
		}
		reason = err.Error()
		for _, c := range hex {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				reason = fmt.Sprintf("%q is not a lower-case hex digit", c)
				break
			}
		}
	}
	return NewError(fmt.Sprintf("invalid digest %q: malformed: %s", s, reason), ErrDigestInvalid.Code(), nil)
}

// IsValidDigest reports whether d is a well-formed sha256 or sha512 digest.
func IsValidDigest(d Digest) bool {
	return CheckDigest(d) == nil
}
