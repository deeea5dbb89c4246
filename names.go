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
// otherwise an error that Is ErrNameInvalid.
func CheckRepository(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty repository name: %w", ErrNameInvalid)
	case len(name) > MaxRepositoryLength:
		return fmt.Errorf("repository name is %d bytes long, more than %d: %w", len(name), MaxRepositoryLength, ErrNameInvalid)
	case !validRepository(name):
		return fmt.Errorf("invalid repository name %q: %w", name, ErrNameInvalid)
	}
	return nil
}

// IsValidRepository reports whether name is a valid repository name.
func IsValidRepository(name string) bool {
	return CheckRepository(name) == nil
}

// CheckTag returns nil when tag is a valid tag, and otherwise an error
// that Is ErrManifestInvalid (the specification has no code of its own
// for a bad tag; a tag names a manifest).
func CheckTag(tag string) error {
	if !validTag(tag) {
		if len(tag) > 50 {
			tag = tag[:50] + "..."
		}
		return fmt.Errorf("invalid tag %q: %w", tag, ErrManifestInvalid)
	}
	return nil
}

// IsValidTag reports whether tag is a valid tag.
func IsValidTag(tag string) bool {
	return validTag(tag)
}

// CheckDigest returns nil when d is a well-formed digest of an algorithm
// this package supports (sha256 and sha512), and otherwise an error that
// Is ErrDigestInvalid.
func CheckDigest(d Digest) error {
	// The common case, without go-digest's regular expressions.
	if rest, ok := strings.CutPrefix(string(d), "sha256:"); ok && validHex(rest, 64) {
		return nil
	}
	if rest, ok := strings.CutPrefix(string(d), "sha512:"); ok && validHex(rest, 128) {
		return nil
	}
	if err := d.Validate(); err != nil {
		s := string(d)
		if len(s) > 140 {
			s = s[:140] + "..."
		}
		return fmt.Errorf("invalid digest %q: %v: %w", s, err, ErrDigestInvalid)
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return nil
	}
	return fmt.Errorf("unsupported digest algorithm %q: %w", d.Algorithm(), ErrDigestInvalid)
}

// IsValidDigest reports whether d is a well-formed sha256 or sha512 digest.
func IsValidDigest(d Digest) bool {
	return CheckDigest(d) == nil
}
