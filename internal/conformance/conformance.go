// Package conformance checks over raw HTTP that a registry server
// follows the OCI distribution specification (v1.1): ping, pull, push
// (monolithic, chunked, streamed, mounts), manifests of every kind,
// referrers, tag and repository listing, deletes and the error codes.
//
// It is the project's own spec-conformance suite: it checks at least what
// the official OCI conformance suites check, so that a server that passes
// it passes them. It speaks HTTP with net/http only, so that it judges the
// server and not a client library, and fails with the request, the status,
// the headers and the body of every exchange that went wrong.
//
// The tests use repositories below Options.Namespace whose names carry a
// random suffix, so that a run can be repeated against a registry that
// keeps its content.
package conformance

import (
	"context"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// Options says which parts of the specification to check and how.
// The zero value checks everything the specification requires.
type Options struct {
	// Namespace is the prefix of the repositories the tests use.
	// The default is "conformance/test".
	Namespace string

	// CrossMountNamespace is the prefix of the repositories that blobs
	// are mounted from. The default is "conformance/crossmount".
	CrossMountNamespace string

	// SkipPull, SkipPush, SkipContentDiscovery and SkipContentManagement
	// leave out a category of the specification.
	SkipPull              bool
	SkipPush              bool
	SkipContentDiscovery  bool
	SkipContentManagement bool

	// PullOnly is for registries that do not accept pushes, such as a
	// read-only view or a pull-through proxy: only the Pull and Content
	// Discovery categories run, and their content is pushed into Seed,
	// which must be set, rather than through the server.
	PullOnly bool

	// Seed, when not nil, receives the content that pull, discovery and
	// management tests need, instead of the server under test. A
	// pull-through proxy stack is tested by seeding its upstream and
	// pulling through the proxy.
	Seed ociregistry.Interface

	// SkipCatalog leaves out the _catalog tests (the endpoint is an
	// extension the specification reserves, not a requirement).
	SkipCatalog bool

	// SkipReferrers leaves out the referrers API and the OCI-Subject
	// header, for registries that implement distribution spec 1.0.
	SkipReferrers bool

	// SkipSHA512 runs the content tests with sha256 digests only.
	SkipSHA512 bool

	// TagDeleteUnsupported declares that the registry does not delete
	// tags, which the specification allows: a DELETE of a tag must then
	// be refused with 400 UNSUPPORTED or 405 and leave the tag in
	// place. When it is false, a DELETE of a tag must answer 202 and
	// remove the tag only; a refusal fails the test.
	TagDeleteUnsupported bool

	// ImmutableTags declares a registry whose tags, once pushed, never
	// move: pushing another manifest under a tag must be refused with a
	// 4xx error and leave the tag as it was, and deleting a tagged
	// manifest must be refused with 400 UNSUPPORTED or 405 and leave it
	// in place (as the spec asks of a registry that does not delete).
	ImmutableTags bool

	// SkipTagParam leaves out pushing a manifest by digest with tag query
	// parameters (PUT /v2/<name>/manifests/<digest>?tag=a&tag=b), which
	// the specification makes optional.
	SkipTagParam bool

	// AllowSinglePostFallback accepts 202 to a POST that carries a whole
	// blob, as the specification allows registries that do not support
	// single-request uploads; the blob is then sent with a PUT.
	AllowSinglePostFallback bool

	// LaxChildReferences expects manifests whose blobs or child
	// manifests are missing to be accepted; otherwise they must be
	// rejected with MANIFEST_BLOB_UNKNOWN.
	LaxChildReferences bool

	// MaxManifestSize is the registry's manifest size limit. When it is
	// not zero, a manifest of exactly that size must be accepted and one
	// a byte bigger rejected with 413. When it is zero the limit is not
	// probed. Either way a manifest of 4,000,000 bytes must be accepted
	// when the limit allows it.
	MaxManifestSize int64
}

// suite holds what the tests share.
type suite struct {
	opts Options
	c    *client
	// run is a random identifier that makes repository names unique to
	// this run.
	run string
	// seeder puts content in place for tests that read it.
	seeder seeder
}

// Run runs the conformance tests against the registry at baseURL, of the
// form "http://host:port", as subtests of t.
func Run(t *testing.T, baseURL string, opts Options) {
	t.Helper()
	if opts.Namespace == "" {
		opts.Namespace = "conformance/test"
	}
	if opts.CrossMountNamespace == "" {
		opts.CrossMountNamespace = "conformance/crossmount"
	}
	for _, ns := range []string{opts.Namespace, opts.CrossMountNamespace} {
		if err := ociregistry.CheckRepository(ns); err != nil {
			t.Fatalf("invalid namespace: %v", err)
		}
	}
	if opts.PullOnly {
		if opts.Seed == nil {
			t.Fatal("Options.PullOnly needs Options.Seed to put content in place")
		}
		opts.SkipPush = true
		opts.SkipContentManagement = true
	}
	c, err := newClient(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{opts: opts, c: c, run: randomID()}
	if opts.Seed != nil {
		s.seeder = &interfaceSeeder{r: opts.Seed}
	} else {
		s.seeder = &httpSeeder{c: c}
	}

	t.Run("Ping", s.testPing)
	for _, algo := range s.algorithms() {
		t.Run(string(algo), func(t *testing.T) {
			if !opts.SkipPull {
				t.Run("Pull", func(t *testing.T) { s.testPull(t, algo) })
			}
			if !opts.SkipPush {
				t.Run("PushBlobs", func(t *testing.T) { s.testPushBlobs(t, algo) })
				t.Run("PushManifests", func(t *testing.T) { s.testPushManifests(t, algo) })
			}
			if !opts.SkipContentDiscovery && !opts.SkipReferrers {
				t.Run("Referrers", func(t *testing.T) { s.testReferrers(t, algo) })
			}
			if !opts.SkipContentManagement {
				t.Run("ContentManagement", func(t *testing.T) { s.testContentManagement(t, algo) })
			}
		})
	}
	if !opts.SkipContentDiscovery {
		t.Run("TagList", s.testTagList)
		if !opts.SkipCatalog {
			t.Run("Catalog", s.testCatalog)
		}
	}
	t.Run("Errors", s.testErrors)
}

// algorithms returns the digest algorithms to test content with.
func (s *suite) algorithms() []digest.Algorithm {
	if s.opts.SkipSHA512 {
		return []digest.Algorithm{digest.SHA256}
	}
	return []digest.Algorithm{digest.SHA256, digest.SHA512}
}

// repo returns the name of a repository for the tests called name.
func (s *suite) repo(name string) string {
	return s.opts.Namespace + "/" + name + "-" + s.run
}

// crossRepo returns the name of a repository to mount blobs from.
func (s *suite) crossRepo(name string) string {
	return s.opts.CrossMountNamespace + "/" + name + "-" + s.run
}

// ctx returns the context for calls to Options.Seed.
func ctx(t testing.TB) context.Context {
	if tt, ok := t.(interface{ Context() context.Context }); ok {
		return tt.Context()
	}
	return context.Background()
}
