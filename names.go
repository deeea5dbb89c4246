package ociregistry

import (
	_ "crypto/sha256" // registers sha256 for go-digest
	_ "crypto/sha512" // registers sha512 for go-digest
	"fmt"
	"regexp"

	"github.com/opencontainers/go-digest"
)

// MaxRepositoryLength is the longest repository name accepted. The
// specification notes that many clients limit host, "/" and name together
// to 255 characters; a longer name could never be pulled by them.
const MaxRepositoryLength = 255

// MaxTagLength is the longest tag the specification allows.
const MaxTagLength = 128

var (
	repoPattern = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagPattern  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// CheckRepository returns nil when name is a valid repository name, and
// otherwise an error that Is ErrNameInvalid.
func CheckRepository(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty repository name: %w", ErrNameInvalid)
	case len(name) > MaxRepositoryLength:
		return fmt.Errorf("repository name is %d bytes long, more than %d: %w", len(name), MaxRepositoryLength, ErrNameInvalid)
	case !repoPattern.MatchString(name):
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
	if !tagPattern.MatchString(tag) {
		if len(tag) > 50 {
			tag = tag[:50] + "..."
		}
		return fmt.Errorf("invalid tag %q: %w", tag, ErrManifestInvalid)
	}
	return nil
}

// IsValidTag reports whether tag is a valid tag.
func IsValidTag(tag string) bool {
	return tagPattern.MatchString(tag)
}

// CheckDigest returns nil when d is a well-formed digest of an algorithm
// this package supports (sha256 and sha512), and otherwise an error that
// Is ErrDigestInvalid.
func CheckDigest(d Digest) error {
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
