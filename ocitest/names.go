package ocitest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ocireg/ociregistry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var nameTests = []test{
	{"BadRepository", testNamesBadRepository},
	{"BadDigest", testNamesBadDigest},
	{"BadTag", testNamesBadTag},
}

// call is one call of an Interface method whose error is checked.
type call struct {
	name string
	// skip says whether the method is switched off by a capability
	// flag, in which case its error may be another one.
	skip func(s Suite) bool
	call func(ctx context.Context, r ociregistry.Interface, arg string) error
}

func noDelete(s Suite) bool    { return s.NoDelete }
func noMount(s Suite) bool     { return s.NoMount }
func noReferrers(s Suite) bool { return s.NoReferrers }
func noResume(s Suite) bool    { return s.NoChunkedResume }

// closing closes a reader or writer that a call unexpectedly returned, so
// that checking its error leaks nothing.
func closing[T interface{ Close() error }](x T, err error) error {
	if err == nil {
		x.Close()
	}
	return err
}

var goodData = []byte("good content")

var goodDesc = ociregistry.Descriptor{
	MediaType: "application/octet-stream",
	Digest:    Digest(goodData),
	Size:      int64(len(goodData)),
}

// repoCalls call each method that takes a repository with the name arg
// and otherwise valid arguments.
var repoCalls = []call{
	{"GetBlob", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		return closing(r.GetBlob(ctx, repo, goodDesc.Digest))
	}},
	{"GetBlobRange", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		return closing(r.GetBlobRange(ctx, repo, goodDesc.Digest, 0, 1))
	}},
	{"GetManifest", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		return closing(r.GetManifest(ctx, repo, goodDesc.Digest))
	}},
	{"GetTag", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		return closing(r.GetTag(ctx, repo, "v1"))
	}},
	{"ResolveBlob", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		_, err := r.ResolveBlob(ctx, repo, goodDesc.Digest)
		return err
	}},
	{"ResolveManifest", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		_, err := r.ResolveManifest(ctx, repo, goodDesc.Digest)
		return err
	}},
	{"ResolveTag", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		_, err := r.ResolveTag(ctx, repo, "v1")
		return err
	}},
	{"PushBlob", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		_, err := r.PushBlob(ctx, repo, goodDesc, bytes.NewReader(goodData))
		return err
	}},
	{"PushBlobChunked", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		w, err := r.PushBlobChunked(ctx, repo, 0)
		if err != nil {
			return err
		}
		// An implementation may find out only when the upload
		// reaches the server.
		defer w.Cancel()
		if _, err := w.Write(goodData); err != nil {
			return err
		}
		_, err = w.Commit(goodDesc.Digest)
		return err
	}},
	{"PushBlobChunkedResume", noResume, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		return closing(r.PushBlobChunkedResume(ctx, repo, "no-such-upload", -1, 0))
	}},
	{"MountBlobFrom", noMount, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		_, err := r.MountBlob(ctx, repo, "test/ok", goodDesc.Digest)
		return err
	}},
	{"MountBlobTo", noMount, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		_, err := r.MountBlob(ctx, "test/ok", repo, goodDesc.Digest)
		return err
	}},
	{"PushManifest", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		config := ocispec.DescriptorEmptyJSON
		config.Data = nil
		m := newManifest(config, nil)
		m.ArtifactType = "application/vnd.example"
		content, _ := json.Marshal(m)
		_, err := r.PushManifest(ctx, repo, "v1", content, ocispec.MediaTypeImageManifest)
		return err
	}},
	{"DeleteBlob", noDelete, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		return r.DeleteBlob(ctx, repo, goodDesc.Digest)
	}},
	{"DeleteManifest", noDelete, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		return r.DeleteManifest(ctx, repo, goodDesc.Digest)
	}},
	{"DeleteTag", noDelete, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		return r.DeleteTag(ctx, repo, "v1")
	}},
	{"Tags", nil, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		_, err := ociregistry.All(r.Tags(ctx, repo, ""))
		return err
	}},
	{"Referrers", noReferrers, func(ctx context.Context, r ociregistry.Interface, repo string) error {
		_, err := ociregistry.All(r.Referrers(ctx, repo, goodDesc.Digest, ""))
		return err
	}},
}

func testNamesBadRepository(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushBlob(t, r, "test/ok", goodData)
	badNames := []string{
		"Upper/Case",
		"double//slash",
		"trailing/",
		"-leading-dash",
		"dot./dot",
		strings.Repeat("a", ociregistry.MaxRepositoryLength+1),
	}
	for _, c := range repoCalls {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != nil && c.skip(s) {
				t.Skip("switched off by a Suite flag")
			}
			for _, name := range badNames {
				err := c.call(t.Context(), r, name)
				assertErrorIs(t, err, ociregistry.ErrNameInvalid)
			}
		})
	}
	// Nothing was stored under the names that were refused.
	if !s.noRepositories() {
		repos := collect(t, r.Repositories(t.Context(), ""))
		if len(repos) != 1 || repos[0] != "test/ok" {
			t.Fatalf("repositories after bad names: %q, want only test/ok", repos)
		}
	}
}

func testNamesBadDigest(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushBlob(t, r, "test/ok", goodData)
	PushBlob(t, r, "test/to", []byte("keeps to in existence"))
	badDigests := []ociregistry.Digest{
		"sha256:abc",
		"sha256:" + ociregistry.Digest(strings.Repeat("g", 64)),
		"md5:d41d8cd98f00b204e9800998ecf8427e",
	}
	calls := []struct {
		name string
		skip func(Suite) bool
		call func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error
	}{
		{"GetBlob", nil, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			return closing(r.GetBlob(ctx, "test/ok", dig))
		}},
		{"GetBlobRange", nil, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			return closing(r.GetBlobRange(ctx, "test/ok", dig, 0, 1))
		}},
		{"ResolveBlob", nil, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			_, err := r.ResolveBlob(ctx, "test/ok", dig)
			return err
		}},
		{"GetManifest", nil, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			return closing(r.GetManifest(ctx, "test/ok", dig))
		}},
		{"ResolveManifest", nil, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			_, err := r.ResolveManifest(ctx, "test/ok", dig)
			return err
		}},
		{"PushBlob", nil, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			desc := goodDesc
			desc.Digest = dig
			_, err := r.PushBlob(ctx, "test/ok", desc, bytes.NewReader(goodData))
			return err
		}},
		{"Commit", nil, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			w, err := r.PushBlobChunked(ctx, "test/ok", 0)
			if err != nil {
				return err
			}
			defer w.Cancel()
			if _, err := w.Write(goodData); err != nil {
				return err
			}
			_, err = w.Commit(dig)
			return err
		}},
		{"MountBlob", noMount, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			_, err := r.MountBlob(ctx, "test/ok", "test/to", dig)
			return err
		}},
		{"DeleteBlob", noDelete, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			return r.DeleteBlob(ctx, "test/ok", dig)
		}},
		{"DeleteManifest", noDelete, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			return r.DeleteManifest(ctx, "test/ok", dig)
		}},
		{"Referrers", noReferrers, func(ctx context.Context, r ociregistry.Interface, dig ociregistry.Digest) error {
			_, err := ociregistry.All(r.Referrers(ctx, "test/ok", dig, ""))
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != nil && c.skip(s) {
				t.Skip("switched off by a Suite flag")
			}
			for _, dig := range badDigests {
				err := c.call(t.Context(), r, dig)
				assertErrorIs(t, err, ociregistry.ErrDigestInvalid)
			}
		})
	}
	assertBlob(t, r, "test/ok", goodDesc.Digest, goodData)
}

func testNamesBadTag(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	p := PushRandomImage(t, r, "test/ok", "v1")
	badTags := []string{"-dash", ".dot", strings.Repeat("t", ociregistry.MaxTagLength+1)}
	for _, tag := range badTags {
		_, err := r.PushManifest(t.Context(), "test/ok", tag, p.Content, p.Manifest.MediaType)
		assertErrorIs(t, err, ociregistry.ErrManifestInvalid)
		_, err = r.ResolveTag(t.Context(), "test/ok", tag)
		assertErrorIs(t, err, ociregistry.ErrManifestInvalid)
		err = closing(r.GetTag(t.Context(), "test/ok", tag))
		assertErrorIs(t, err, ociregistry.ErrManifestInvalid)
		if !s.NoDelete {
			assertErrorIs(t, r.DeleteTag(t.Context(), "test/ok", tag), ociregistry.ErrManifestInvalid)
		}
	}
	if got := collect(t, r.Tags(t.Context(), "test/ok", "")); len(got) != 1 || got[0] != "v1" {
		t.Fatalf("tags after bad tags: %q, want only v1", got)
	}
}
