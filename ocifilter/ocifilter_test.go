package ocifilter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

func allowAll(string, ocifilter.Access) error { return nil }

func noDeletes(repo string, a ocifilter.Access) error {
	if a == ocifilter.AccessDelete {
		return fmt.Errorf("no deletes: %w", ociregistry.ErrDenied)
	}
	return nil
}

// TestSuite runs the behavioural suite against every wrapper that can
// hold content written through it.
func TestSuite(t *testing.T) {
	tests := []struct {
		name  string
		suite ocitest.Suite
	}{{
		name: "Select",
		suite: ocitest.Suite{New: func(t *testing.T) ociregistry.Interface {
			return ocifilter.Select(ocimem.New(), func(string) bool { return true })
		}},
	}, {
		name: "Sub",
		suite: ocitest.Suite{New: func(t *testing.T) ociregistry.Interface {
			return ocifilter.Sub(ocimem.New(), "some/prefix")
		}},
	}, {
		name: "AccessChecker",
		suite: ocitest.Suite{New: func(t *testing.T) ociregistry.Interface {
			return ocifilter.AccessChecker(ocimem.New(), allowAll)
		}},
	}, {
		// Immutable allows deleting untagged content, which the suite
		// cannot express, so deletes are refused beneath it and
		// Immutable's own deletes are tested in TestImmutable.
		name: "Immutable",
		suite: ocitest.Suite{
			New: func(t *testing.T) ociregistry.Interface {
				return ocifilter.Immutable(ocifilter.AccessChecker(ocimem.New(), noDeletes))
			},
			ImmutableTags: true,
			NoDelete:      true,
		},
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			t.Parallel()
			ocitest.Run(t, test.suite)
		})
	}
}

// TestReadOnlyConformance runs the pull and content discovery parts of
// the conformance tests over HTTP against a server over a read-only view
// of a registry seeded directly, which is how a read-only mirror is
// served: the view must let every read through unchanged.
func TestReadOnlyConformance(t *testing.T) {
	seed := ocimem.New()
	srv := httptest.NewServer(ociserver.New(ocifilter.ReadOnly(seed), nil))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{PullOnly: true, Seed: seed})
}

// TestImmutableConformance runs every part of the conformance tests over
// HTTP against a server over an immutable registry, declaring that it
// does not delete tags: the refusals must be the 405 the spec asks of a
// registry that does not delete, and everything else must pass.
func TestImmutableConformance(t *testing.T) {
	srv := httptest.NewServer(ociserver.New(ocifilter.Immutable(ocimem.New()), nil))
	t.Cleanup(srv.Close)
	conformance.Run(t, srv.URL, conformance.Options{TagDeleteUnsupported: true, ImmutableTags: true})
}

func TestReadOnly(t *testing.T) {
	mem := ocimem.New()
	p := ocitest.PushRandomImage(t, mem, "a/b", "v1")
	r := ocifilter.ReadOnly(mem)
	ctx := t.Context()

	rd, err := r.GetTag(ctx, "a/b", "v1")
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(rd)
	rd.Close()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, p.Content))
	tags, err := ociregistry.All(r.Tags(ctx, "a/b", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"v1"}))

	blob := []byte("hello")
	desc := ociregistry.Descriptor{Digest: ocitest.Digest(blob), Size: int64(len(blob))}
	writes := map[string]func() error{
		"PushBlob": func() error {
			_, err := r.PushBlob(ctx, "a/b", desc, bytes.NewReader(blob))
			return err
		},
		"PushBlobChunked": func() error {
			_, err := r.PushBlobChunked(ctx, "a/b", 0)
			return err
		},
		"PushBlobChunkedResume": func() error {
			_, err := r.PushBlobChunkedResume(ctx, "a/b", "x", -1, 0)
			return err
		},
		"MountBlob": func() error {
			_, err := r.MountBlob(ctx, "a/b", "c/d", p.Blobs[0].Digest)
			return err
		},
		"PushManifest": func() error {
			_, err := r.PushManifest(ctx, "a/b", "v2", p.Content, p.Manifest.MediaType)
			return err
		},
		"DeleteBlob":     func() error { return r.DeleteBlob(ctx, "a/b", p.Blobs[0].Digest) },
		"DeleteManifest": func() error { return r.DeleteManifest(ctx, "a/b", p.Manifest.Digest) },
		"DeleteTag":      func() error { return r.DeleteTag(ctx, "a/b", "v1") },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			// Deletes are refused as the spec asks of a registry that
			// does not delete (405); other writes are denied (403).
			want := ociregistry.ErrDenied
			if strings.HasPrefix(name, "Delete") {
				want = ociregistry.ErrUnsupported
			}
			qt.Assert(t, qt.ErrorIs(write(), want))
		})
	}
	// Nothing changed underneath.
	_, err = mem.ResolveTag(ctx, "a/b", "v1")
	qt.Assert(t, qt.IsNil(err))
	_, err = mem.ResolveTag(ctx, "a/b", "v2")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = mem.ResolveBlob(ctx, "c/d", p.Blobs[0].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = mem.ResolveBlob(ctx, "a/b", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
}

func TestImmutable(t *testing.T) {
	ctx := t.Context()
	mem := ocimem.New()
	r := ocifilter.Immutable(mem)
	p1 := ocitest.PushRandomImage(t, r, "a/b", "v1")
	p2 := ocitest.PushRandomImage(t, r, "a/b", "")

	// Pushing the same manifest under its tag again is fine.
	_, err := r.PushManifest(ctx, "a/b", "v1", p1.Content, p1.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))

	// Moving the tag is not.
	_, err = r.PushManifest(ctx, "a/b", "v1", p2.Content, p2.Manifest.MediaType)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	desc, err := r.ResolveTag(ctx, "a/b", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, p1.Manifest.Digest))

	// Nor deleting it, directly or through its manifest.
	qt.Assert(t, qt.ErrorIs(r.DeleteTag(ctx, "a/b", "v1"), ociregistry.ErrUnsupported))
	qt.Assert(t, qt.ErrorIs(r.DeleteManifest(ctx, "a/b", p1.Manifest.Digest), ociregistry.ErrUnsupported))
	_, err = r.ResolveManifest(ctx, "a/b", p1.Manifest.Digest)
	qt.Assert(t, qt.IsNil(err))

	// Untagged content can go, and new tags can be made.
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "a/b", p2.Manifest.Digest)))
	_, err = r.ResolveManifest(ctx, "a/b", p2.Manifest.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "a/b", p2.Blobs[1].Digest)))
	_, err = r.PushManifest(ctx, "a/b", "v2", p1.Content, p1.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))

	// What a tag pulls cannot go: its blobs, nor the manifests its
	// index lists, nor theirs.
	for _, b := range p1.Blobs {
		qt.Assert(t, qt.ErrorIs(r.DeleteBlob(ctx, "a/b", b.Digest), ociregistry.ErrUnsupported))
	}
	idx := ocitest.PushRandomIndex(t, r, "a/b", "i1")
	for _, child := range idx.Children {
		qt.Assert(t, qt.ErrorIs(r.DeleteManifest(ctx, "a/b", child.Manifest.Digest), ociregistry.ErrUnsupported))
		for _, b := range child.Blobs {
			qt.Assert(t, qt.ErrorIs(r.DeleteBlob(ctx, "a/b", b.Digest), ociregistry.ErrUnsupported))
		}
	}
	rd, err := r.GetTag(ctx, "a/b", "i1")
	qt.Assert(t, qt.IsNil(err))
	rd.Close()

	// A manifest is the same whichever digest names it, and an index
	// may list it under a media type that is not the one it has.
	p3 := ocitest.PushRandomImage(t, r, "a/b", "")
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
			"digest":    digest.SHA512.FromBytes(p3.Content),
			"size":      len(p3.Content),
		}},
	})
	qt.Assert(t, qt.IsNil(err))
	_, err = r.PushManifest(ctx, "a/b", "s512", index, "application/vnd.oci.image.index.v1+json")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.ErrorIs(r.DeleteManifest(ctx, "a/b", p3.Manifest.Digest), ociregistry.ErrUnsupported))
	for _, b := range p3.Blobs {
		qt.Assert(t, qt.ErrorIs(r.DeleteBlob(ctx, "a/b", b.Digest), ociregistry.ErrUnsupported))
	}
}

// TestImmutableLocksPerRepository checks that a tagged push that waits
// on its backend holds up only pushes to the same repository, and that
// those give up when their context ends.
func TestImmutableLocksPerRepository(t *testing.T) {
	mem := ocimem.New()
	entered := make(chan struct{})
	release := make(chan struct{})
	backend := &ociregistry.Funcs{
		ResolveTag_: func(ctx context.Context, repo, tag string) (ociregistry.Descriptor, error) {
			if repo == "slow" {
				entered <- struct{}{}
				<-release
			}
			return mem.ResolveTag(ctx, repo, tag)
		},
		PushManifest_: mem.PushManifest,
		PushBlob_:     mem.PushBlob,
	}
	r := ocifilter.Immutable(backend)
	p := ocitest.PushRandomImage(t, mem, "slow", "")
	fp := ocitest.PushRandomImage(t, mem, "fast", "")

	slowDone := make(chan error, 1)
	go func() {
		_, err := r.PushManifest(context.Background(), "slow", "v1", p.Content, p.Manifest.MediaType)
		slowDone <- err
	}()
	<-entered

	// A push to another repository does not wait for the slow one.
	fastDone := make(chan error, 1)
	go func() {
		_, err := r.PushManifest(t.Context(), "fast", "v1", fp.Content, fp.Manifest.MediaType)
		fastDone <- err
	}()
	select {
	case err := <-fastDone:
		qt.Assert(t, qt.IsNil(err))
	case <-time.After(10 * time.Second):
		t.Fatal("a push to another repository waits for the slow push")
	}

	// A push to the same repository waits, until its context ends.
	ctx, cancel := context.WithCancel(t.Context())
	waitDone := make(chan error, 1)
	go func() {
		_, err := r.PushManifest(ctx, "slow", "v2", p.Content, p.Manifest.MediaType)
		waitDone <- err
	}()
	cancel()
	select {
	case err := <-waitDone:
		qt.Assert(t, qt.ErrorIs(err, context.Canceled))
	case <-time.After(10 * time.Second):
		t.Fatal("a push waiting for the repository's lock ignores its context")
	}
	// So does a manifest delete.
	qt.Assert(t, qt.ErrorIs(r.DeleteManifest(ctx, "slow", p.Manifest.Digest), context.Canceled))

	close(release)
	qt.Assert(t, qt.IsNil(<-slowDone))
	desc, err := mem.ResolveTag(t.Context(), "slow", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, p.Manifest.Digest))
	// No lock is kept for a repository nobody writes to.
	qt.Assert(t, qt.Equals(ocifilter.LockedRepos(r), 0))
}

func TestSelect(t *testing.T) {
	ctx := t.Context()
	mem := ocimem.New()
	pub := ocitest.PushRandomImage(t, mem, "public/x", "v1")
	priv := ocitest.PushRandomImage(t, mem, "private/y", "v1")
	r := ocifilter.Select(mem, func(repo string) bool { return strings.HasPrefix(repo, "public/") })

	repos, err := ociregistry.All(r.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"public/x"}))

	_, err = r.ResolveTag(ctx, "public/x", "v1")
	qt.Assert(t, qt.IsNil(err))
	_, err = r.ResolveTag(ctx, "private/y", "v1")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = r.GetBlob(ctx, "private/y", priv.Blobs[0].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = ociregistry.All(r.Tags(ctx, "private/y", ""))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameUnknown))
	refs, err := ociregistry.All(r.Referrers(ctx, "private/y", priv.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 0))

	// A hidden repository can't be mounted from, written or deleted.
	_, err = r.MountBlob(ctx, "private/y", "public/x", priv.Blobs[0].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = r.MountBlob(ctx, "public/x", "private/y", pub.Blobs[0].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	_, err = r.PushManifest(ctx, "private/y", "v2", priv.Content, priv.Manifest.MediaType)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	qt.Assert(t, qt.ErrorIs(r.DeleteTag(ctx, "private/y", "v1"), ociregistry.ErrManifestUnknown))
	_, err = mem.ResolveTag(ctx, "private/y", "v1")
	qt.Assert(t, qt.IsNil(err))
}

func TestSub(t *testing.T) {
	ctx := t.Context()
	mem := ocimem.New()
	for _, repo := range []string{"a", "p", "p/x", "p/y/z", "pa/b", "q/r"} {
		ocitest.PushRandomImage(t, mem, repo, "v1")
	}
	r := ocifilter.Sub(mem, "p")
	tests := []struct {
		startAfter string
		want       []string
	}{
		{"", []string{"x", "y/z"}},
		{"x", []string{"y/z"}},
		{"y/z", nil},
	}
	for _, test := range tests {
		got, err := ociregistry.All(r.Repositories(ctx, test.startAfter))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, test.want), qt.Commentf("startAfter %q", test.startAfter))
	}
	_, err := r.ResolveTag(ctx, "x", "v1")
	qt.Assert(t, qt.IsNil(err))
	_, err = r.ResolveTag(ctx, "a", "v1")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))

	// What is pushed through the view lands under the prefix.
	ocitest.PushRandomImage(t, r, "new", "v1")
	_, err = mem.ResolveTag(ctx, "p/new", "v1")
	qt.Assert(t, qt.IsNil(err))
}

func TestAccessChecker(t *testing.T) {
	ctx := t.Context()
	mem := ocimem.New()
	p := ocitest.PushRandomImage(t, mem, "team/app", "v1")
	ocitest.PushRandomImage(t, mem, "other/app", "v1")
	errNope := errors.New("nope")
	type call struct {
		Repo   string
		Access ocifilter.Access
	}
	var calls []call
	r := ocifilter.AccessChecker(mem, func(repo string, a ocifilter.Access) error {
		calls = append(calls, call{repo, a})
		if repo == "team/app" && a != ocifilter.AccessDelete {
			return nil
		}
		return errNope
	})

	_, err := r.ResolveTag(ctx, "team/app", "v1")
	qt.Assert(t, qt.IsNil(err))
	_, err = r.ResolveTag(ctx, "other/app", "v1")
	qt.Assert(t, qt.Equals(err, errNope))
	qt.Assert(t, qt.Equals(r.DeleteTag(ctx, "team/app", "v1"), errNope))
	_, err = r.MountBlob(ctx, "team/app", "other/app", p.Blobs[0].Digest)
	qt.Assert(t, qt.Equals(err, errNope))
	repos, err := ociregistry.All(r.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"team/app"}))

	qt.Assert(t, qt.DeepEquals(calls[:5], []call{
		{"team/app", ocifilter.AccessRead},
		{"other/app", ocifilter.AccessRead},
		{"team/app", ocifilter.AccessDelete},
		{"team/app", ocifilter.AccessRead},
		{"other/app", ocifilter.AccessWrite},
	}))
	_, err = mem.ResolveTag(ctx, "team/app", "v1")
	qt.Assert(t, qt.IsNil(err))
}

// TestAccessCheckerContext checks that the check is given the context
// of the operation it guards, so that what a request may do can come
// from the request.
func TestAccessCheckerContext(t *testing.T) {
	type grantKey struct{}
	mem := ocimem.New()
	ocitest.PushRandomImage(t, mem, "team/app", "v1")
	r := ocifilter.AccessCheckerContext(mem, func(ctx context.Context, repo string, a ocifilter.Access) error {
		if ctx.Value(grantKey{}) == repo {
			return nil
		}
		return ociregistry.ErrDenied
	})
	granted := context.WithValue(t.Context(), grantKey{}, "team/app")
	_, err := r.ResolveTag(granted, "team/app", "v1")
	qt.Assert(t, qt.IsNil(err))
	_, err = r.ResolveTag(t.Context(), "team/app", "v1")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	repos, err := ociregistry.All(r.Repositories(granted, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"team/app"}))
	repos, err = ociregistry.All(r.Repositories(t.Context(), ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(repos, 0))
}

// TestSubErrorsHidePrefix checks that the errors of a Sub view name its
// repositories as the view does, without the prefix it hides, over HTTP
// too, and keep what they are.
func TestSubErrorsHidePrefix(t *testing.T) {
	mem := ocimem.New()
	ocitest.PushRandomImage(t, mem, "tenant/app", "v1")
	r := ocifilter.Sub(mem, "tenant")
	_, err := r.ResolveTag(t.Context(), "app", "nope")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	qt.Assert(t, qt.Not(qt.StringContains(err.Error(), "tenant")))
	_, err = ociregistry.All(r.Tags(t.Context(), "other", ""))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameUnknown))
	qt.Assert(t, qt.Not(qt.StringContains(err.Error(), "tenant")))

	// Names that hold the prefix other than at their start keep it.
	_, err = ociregistry.All(r.Tags(t.Context(), "mytenant/x", ""))
	qt.Assert(t, qt.StringContains(err.Error(), "mytenant/x"))
	_, err = ociregistry.All(r.Tags(t.Context(), "a/tenant/b", ""))
	qt.Assert(t, qt.StringContains(err.Error(), "a/tenant/b"))

	srv := httptest.NewServer(ociserver.New(r, nil))
	defer srv.Close()
	for _, path := range []string{"/v2/app/manifests/nope", "/v2/other/tags/list", "/v2/app/blobs/" + string(ocitest.Digest([]byte("x")))} {
		resp, err := http.Get(srv.URL + path)
		qt.Assert(t, qt.IsNil(err))
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.Equals(resp.StatusCode, http.StatusNotFound))
		qt.Check(t, qt.Not(qt.StringContains(string(body), "tenant")), qt.Commentf("%s: %s", path, body))
	}
}

// TestImmutableDeleteBounded checks that a delete in a repository with
// more tags than a delete may read is refused, not made to read them
// all.
func TestImmutableDeleteBounded(t *testing.T) {
	mem := ocimem.New()
	p := ocitest.PushRandomImage(t, mem, "a/b", "")
	for i := range 10001 {
		_, err := mem.PushManifest(t.Context(), "a/b", fmt.Sprintf("t%d", i), p.Content, p.Manifest.MediaType)
		qt.Assert(t, qt.IsNil(err))
	}
	orphan := ocitest.PushBlob(t, mem, "a/b", []byte("nobody's"))
	r := ocifilter.Immutable(mem)
	err := r.DeleteBlob(t.Context(), "a/b", orphan.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrUnsupported))
	qt.Assert(t, qt.ErrorMatches(err, ".*more than 10000 tags.*"))
}
