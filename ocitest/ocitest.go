// Package ocitest holds the behavioural test suite that every
// ociregistry.Interface implementation runs, and helpers for tests that
// need a registry with content in it or served over HTTP.
//
// An implementation runs the suite from one of its tests:
//
//	func TestSuite(t *testing.T) {
//		ocitest.Run(t, ocitest.Suite{
//			New: func(t *testing.T) ociregistry.Interface { return mypkg.New() },
//		})
//	}
//
// The suite checks what the Interface's doc comments promise: content
// comes back byte for byte with the right descriptors, every documented
// error is answered where it is due and nothing is stored when a push
// fails. Behaviour that legitimately differs between implementations is
// switched by the capability flags of Suite; anything else that differs
// is a bug in the implementation or in the suite. Where the Interface
// leaves the choice to the implementation, the suite accepts every
// answer the distribution specification allows: PushManifest, ResolveTag
// and Referrers may describe a manifest of sha512 content by its sha256
// or its sha512 digest, since the Interface does not carry the digest a
// client pushed it by, but a lookup by either digest must find it and
// answer with the digest it was given.
//
// Tools that talk to a registry can be tested with NewServer, which
// serves an Interface over HTTP on the loopback interface, and
// PushRandomImage, PushRandomIndex and PushRandomArtifact, which fill it.
package ocitest

import (
	"testing"

	"github.com/ocireg/ociregistry"
)

// Suite describes the implementation under test and what it can do.
// The zero value of every flag asks for the full behaviour of the
// Interface; set a flag only when the implementation documents the
// difference.
type Suite struct {
	// New returns a new, empty registry. It is called once per
	// subtest, from subtests that run in parallel, so registries must
	// not share state. Use t.Cleanup to release what it holds.
	New func(t *testing.T) ociregistry.Interface

	// NoDelete says that DeleteBlob, DeleteManifest and DeleteTag
	// always fail (read-only or immutable wrappers). The suite then
	// checks that they fail and leave the content in place.
	NoDelete bool

	// ImmutableTags says that a tag cannot be moved once it is set:
	// pushing another manifest with the same tag fails and the tag
	// keeps pointing at the first manifest.
	ImmutableTags bool

	// NoChunkedResume says that an upload cannot be resumed by ID
	// after its BlobWriter is closed or cancelled. Chunked uploads in
	// one BlobWriter are still tested.
	NoChunkedResume bool

	// NoMount says that MountBlob is not supported; its tests are
	// skipped.
	NoMount bool

	// NoRepositories says that Repositories (the catalog) is not
	// supported; its tests are skipped.
	NoRepositories bool

	// NoReferrers says that Referrers is not supported; its tests are
	// skipped. Manifests with a subject must still be accepted.
	NoReferrers bool

	// SingleRepository says that the registry holds one repository
	// whatever name it is given, as an OCI image layout does: every
	// valid repository name reaches the same content. The checks that
	// repositories are kept apart are skipped, and so are the tests of
	// Repositories, as with NoRepositories.
	SingleRepository bool

	// LaxReferences says that PushManifest does not check that the
	// blobs and child manifests a manifest refers to are present, so
	// the tests that expect ErrManifestBlobUnknown are skipped.
	LaxReferences bool
}

// test is one subtest of the suite.
type test struct {
	name string
	run  func(t *testing.T, s Suite)
}

// Run runs the suite against the implementation that s describes, as
// subtests of t grouped by the part of the Interface they exercise.
// The subtests of a group run in parallel, each with its own registry
// from s.New. Run returns when every subtest has finished. It calls
// t.Fatal when s.New is nil.
func Run(t *testing.T, s Suite) {
	if s.New == nil {
		t.Fatal("ocitest.Suite.New is nil")
	}
	groups := []struct {
		name  string
		tests []test
	}{
		{"Blob", blobTests},
		{"Upload", uploadTests},
		{"Mount", mountTests},
		{"Manifest", manifestTests},
		{"Referrers", referrersTests},
		{"Lister", listerTests},
		{"Delete", deleteTests},
		{"Names", nameTests},
	}
	for _, g := range groups {
		// The group's t.Run returns only when its parallel subtests
		// are done, so that Run does too.
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, s)
				})
			}
		})
	}
}

// noRepositories says whether Repositories is left untested.
func (s Suite) noRepositories() bool { return s.NoRepositories || s.SingleRepository }

// newRegistry marks t parallel and returns a fresh registry for it.
func (s Suite) newRegistry(t *testing.T) ociregistry.Interface {
	t.Parallel()
	r := s.New(t)
	if r == nil {
		t.Fatal("Suite.New returned nil")
	}
	return r
}
