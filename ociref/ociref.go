// Package ociref parses and prints references to content in OCI
// registries, of the form [host[:port]/]repository[:tag][@digest], with
// the grammar of the distribution specification. Docker Hub's defaults
// (docker.io, library/, registry-1.docker.io) are applied only on request.
package ociref

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ocireg/ociregistry"
)

// Docker Hub's names.
const (
	// DockerHubHost is the host name that references use for Docker Hub.
	DockerHubHost = "docker.io"

	// DockerHubRegistryHost is the host that serves Docker Hub's
	// registry API.
	DockerHubRegistryHost = "registry-1.docker.io"
)

// Reference is a reference to a repository, or to content in it by tag
// and/or digest.
type Reference struct {
	// Host is the registry's host, with a port when the reference names
	// one, such as "ghcr.io" or "localhost:5000". It is empty when the
	// reference names no host.
	Host string

	// Repository is the repository's name, such as "library/alpine".
	Repository string

	// Tag is the tag, or empty.
	Tag string

	// Digest is the digest, or empty.
	Digest ociregistry.Digest
}

var (
	// A domain component, per the reference grammar: letters, digits
	// and inner hyphens.
	domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	hostPattern     = regexp.MustCompile(`^(?:` + domainComponent + `(?:\.` + domainComponent + `)*|\[[a-fA-F0-9:.]+\])(?::[0-9]+)?$`)
)

// Parse parses a reference of the form
// [host[:port]/]repository[:tag][@digest]. The first component of the
// path is taken as a host when it contains a "." or a ":", is
// "localhost", or holds an upper-case letter (which a repository name
// cannot); otherwise Host is left empty. No defaults are applied: see
// ParseDocker for those.
//
// It returns an error that Is ociregistry.ErrNameInvalid for a bad host
// or repository, ociregistry.ErrManifestInvalid for a bad tag and
// ociregistry.ErrDigestInvalid for a bad digest, naming the part that is
// wrong.
func Parse(s string) (Reference, error) {
	var ref Reference
	if s == "" {
		return ref, fmt.Errorf("empty reference: %w", ociregistry.ErrNameInvalid)
	}
	rest := s
	if i := strings.Index(rest, "@"); i >= 0 {
		ref.Digest = ociregistry.Digest(rest[i+1:])
		rest = rest[:i]
		if err := ociregistry.CheckDigest(ref.Digest); err != nil {
			return Reference{}, fmt.Errorf("invalid reference %q: %w", s, err)
		}
	}
	// A tag follows the last ":" that comes after the last "/", so that
	// a host's port is not mistaken for a tag.
	if i := strings.LastIndex(rest, ":"); i >= 0 && i > strings.LastIndex(rest, "/") {
		ref.Tag = rest[i+1:]
		rest = rest[:i]
		if err := ociregistry.CheckTag(ref.Tag); err != nil {
			return Reference{}, fmt.Errorf("invalid reference %q: %w", s, err)
		}
	}
	if i := strings.Index(rest, "/"); i >= 0 && isHost(rest[:i]) {
		ref.Host = rest[:i]
		rest = rest[i+1:]
		if !hostPattern.MatchString(ref.Host) {
			return Reference{}, fmt.Errorf("invalid reference %q: invalid host %q: %w", s, ref.Host, ociregistry.ErrNameInvalid)
		}
	}
	ref.Repository = rest
	if err := ociregistry.CheckRepository(ref.Repository); err != nil {
		return Reference{}, fmt.Errorf("invalid reference %q: %w", s, err)
	}
	return ref, nil
}

// isHost reports whether the first component of a reference's path
// names a host, by the rule Docker set and every client follows.
func isHost(s string) bool {
	return strings.ContainsAny(s, ".:[") || s == "localhost" || strings.ToLower(s) != s
}

// ParseDocker parses a reference as Parse does and then applies Docker
// Hub's defaults, as the docker command does: a reference with no host
// is on docker.io, and a one-component repository on docker.io is in
// library/. It returns the errors that Parse does, and one that Is
// ociregistry.ErrNameInvalid when library/ makes the repository name too
// long.
func ParseDocker(s string) (Reference, error) {
	ref, err := Parse(s)
	if err != nil {
		return Reference{}, err
	}
	ref = ref.WithDockerDefaults()
	if err := ociregistry.CheckRepository(ref.Repository); err != nil {
		return Reference{}, fmt.Errorf("invalid reference %q on Docker Hub: %w", s, err)
	}
	return ref, nil
}

// WithDockerDefaults returns ref with Docker Hub's defaults applied: the
// host docker.io when there is none (index.docker.io is also taken as
// docker.io), and library/ before a one-component repository there.
func (ref Reference) WithDockerDefaults() Reference {
	if ref.Host == "" || ref.Host == "index.docker.io" {
		ref.Host = DockerHubHost
	}
	if ref.Host == DockerHubHost && !strings.Contains(ref.Repository, "/") {
		ref.Repository = "library/" + ref.Repository
	}
	return ref
}

// RegistryHost returns the host that serves the registry API for ref:
// registry-1.docker.io for docker.io, and ref.Host otherwise.
func (ref Reference) RegistryHost() string {
	if ref.Host == DockerHubHost || ref.Host == "index.docker.io" {
		return DockerHubRegistryHost
	}
	return ref.Host
}

// Tagged reports whether ref has a tag or a digest, that is, whether it
// names content rather than only a repository.
func (ref Reference) Tagged() bool {
	return ref.Tag != "" || ref.Digest != ""
}

// String returns the reference in the form Parse accepts:
// [host/]repository[:tag][@digest].
func (ref Reference) String() string {
	var b strings.Builder
	if ref.Host != "" {
		b.WriteString(ref.Host)
		b.WriteByte('/')
	}
	b.WriteString(ref.Repository)
	if ref.Tag != "" {
		b.WriteByte(':')
		b.WriteString(ref.Tag)
	}
	if ref.Digest != "" {
		b.WriteByte('@')
		b.WriteString(string(ref.Digest))
	}
	return b.String()
}
