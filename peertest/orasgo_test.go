package peertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/ocireg/ociregistry"
)

func orasRepo(t *testing.T, host, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(host + "/" + name)
	qt.Assert(t, qt.IsNil(err))
	repo.PlainHTTP = true
	return repo
}

func orasPushImage(t *testing.T, repo *remote.Repository, img image, tag string) {
	t.Helper()
	ctx := t.Context()
	for _, b := range img.blobs() {
		qt.Assert(t, qt.IsNil(repo.Push(ctx, b.Desc, bytes.NewReader(b.Data))))
	}
	qt.Assert(t, qt.IsNil(repo.PushReference(ctx, img.Manifest.Desc, bytes.NewReader(img.Manifest.Data), tag)))
}

func orasFetch(t *testing.T, fetch func(context.Context, ocispec.Descriptor) (io.ReadCloser, error), desc ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := fetch(t.Context(), desc)
	qt.Assert(t, qt.IsNil(err))
	defer rc.Close()
	data, err := content.ReadAll(rc, desc)
	qt.Assert(t, qt.IsNil(err))
	return data
}

func TestOrasPushPull(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		repo := orasRepo(t, host, "foo/bar")
		img1 := newImage("oras1", 2, 1000)
		img2 := newImage("oras2", 1, 3000)
		orasPushImage(t, repo, img1, "v1")
		orasPushImage(t, repo, img2, "v2")
		idx := newIndex(img1.Manifest, img2.Manifest)
		qt.Assert(t, qt.IsNil(repo.PushReference(ctx, idx.Desc, bytes.NewReader(idx.Data), "multi")))

		for _, m := range []struct {
			tag string
			c   object
		}{{"v1", img1.Manifest}, {"v2", img2.Manifest}, {"multi", idx}} {
			desc, err := repo.Resolve(ctx, m.tag)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(desc.Digest, m.c.Desc.Digest))
			qt.Assert(t, qt.Equals(desc.Size, m.c.Desc.Size))
			qt.Assert(t, qt.Equals(desc.MediaType, m.c.Desc.MediaType))

			desc, rc, err := repo.FetchReference(ctx, m.tag)
			qt.Assert(t, qt.IsNil(err))
			data, err := content.ReadAll(rc, desc)
			rc.Close()
			qt.Assert(t, qt.IsNil(err))
			assertSameBytes(t, data, m.c.Data)

			// By digest too, through the manifest store.
			assertSameBytes(t, orasFetch(t, repo.Manifests().Fetch, m.c.Desc), m.c.Data)
			assertSameBytes(t, backendManifest(t, backend, "foo/bar", m.c.Desc.Digest), m.c.Data)
		}
		for _, b := range append(img1.blobs(), img2.blobs()...) {
			assertSameBytes(t, orasFetch(t, repo.Blobs().Fetch, b.Desc), b.Data)
			ok, err := repo.Blobs().Exists(ctx, b.Desc)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsTrue(ok))
			desc, err := repo.Blobs().Resolve(ctx, b.Desc.Digest.String())
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(desc.Size, b.Desc.Size))
		}

		// oras.Copy walks the index down to every blob.
		dst := orasRepo(t, host, "copy/dst")
		desc, err := oras.Copy(ctx, repo, "multi", dst, "copied", oras.DefaultCopyOptions)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(desc.Digest, idx.Desc.Digest))
		for _, b := range img2.blobs() {
			assertSameBytes(t, backendBlob(t, backend, "copy/dst", b.Desc.Digest), b.Data)
		}
	})
}

func TestOrasTagsAndCatalog(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		repo := orasRepo(t, host, "tags/repo")
		img := newImage("orastags", 1, 10)
		orasPushImage(t, repo, img, "t0")
		want := []string{"t0", "t1", "t2", "t3", "t4"}
		for _, tag := range want[1:] {
			qt.Assert(t, qt.IsNil(repo.Tag(ctx, img.Manifest.Desc, tag)))
		}

		repo.TagListPageSize = 2
		var pages [][]string
		err := repo.Tags(ctx, "", func(tags []string) error {
			pages = append(pages, tags)
			return nil
		})
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(pages, [][]string{{"t0", "t1"}, {"t2", "t3"}, {"t4"}}))

		var got []string
		err = repo.Tags(ctx, "t2", func(tags []string) error {
			got = append(got, tags...)
			return nil
		})
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, []string{"t3", "t4"}))

		orasPushImage(t, orasRepo(t, host, "a"), img, "x")
		orasPushImage(t, orasRepo(t, host, "z/y"), img, "x")
		reg, err := remote.NewRegistry(host)
		qt.Assert(t, qt.IsNil(err))
		reg.PlainHTTP = true
		reg.RepositoryListPageSize = 1
		var repos []string
		npages := 0
		err = reg.Repositories(ctx, "", func(names []string) error {
			npages++
			repos = append(repos, names...)
			return nil
		})
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(repos, []string{"a", "tags/repo", "z/y"}))
		qt.Assert(t, qt.Equals(npages, 3))
	})
}

func TestOrasReferrers(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		repo := orasRepo(t, host, "refs")
		img := newImage("orasrefs", 1, 100)
		orasPushImage(t, repo, img, "latest")

		subject := img.Manifest.Desc
		var pushed []ocispec.Descriptor
		for _, at := range []string{"application/vnd.example.sbom", "application/vnd.example.sig"} {
			layer := newObject("application/octet-stream", []byte("payload of "+at))
			qt.Assert(t, qt.IsNil(repo.Push(ctx, layer.Desc, bytes.NewReader(layer.Data))))
			desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, at, oras.PackManifestOptions{
				Subject: &subject,
				Layers:  []ocispec.Descriptor{layer.Desc},
			})
			qt.Assert(t, qt.IsNil(err))
			pushed = append(pushed, desc)
		}
		// The server answered OCI-Subject, so oras-go knows the
		// referrers API is there and has not fallen back to the tag
		// schema; setting the capability to false now must fail.
		qt.Assert(t, qt.ErrorIs(repo.SetReferrersCapability(false), remote.ErrReferrersCapabilityAlreadySet))

		list := func(artifactType string) []ocispec.Descriptor {
			var got []ocispec.Descriptor
			err := repo.Referrers(ctx, subject, artifactType, func(refs []ocispec.Descriptor) error {
				got = append(got, refs...)
				return nil
			})
			qt.Assert(t, qt.IsNil(err))
			return got
		}
		all := list("")
		qt.Assert(t, qt.HasLen(all, 2))
		slices.SortFunc(pushed, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
		for i, d := range all {
			qt.Assert(t, qt.Equals(d.Digest, pushed[i].Digest))
			qt.Assert(t, qt.Equals(d.Size, pushed[i].Size))
			qt.Assert(t, qt.Equals(d.MediaType, ocispec.MediaTypeImageManifest))
			qt.Assert(t, qt.Equals(d.ArtifactType, pushed[i].ArtifactType))
		}
		sigs := list("application/vnd.example.sig")
		qt.Assert(t, qt.HasLen(sigs, 1))
		qt.Assert(t, qt.Equals(sigs[0].ArtifactType, "application/vnd.example.sig"))
		qt.Assert(t, qt.HasLen(list("application/vnd.example.none"), 0))

		// No referrers tag was made.
		var tags []string
		qt.Assert(t, qt.IsNil(repo.Tags(ctx, "", func(t []string) error { tags = append(tags, t...); return nil })))
		qt.Assert(t, qt.DeepEquals(tags, []string{"latest"}))
	})
}

func TestOrasMount(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		from := orasRepo(t, host, "mount/from")
		to := orasRepo(t, host, "mount/to")
		b := newObject("application/octet-stream", pseudoRandom("orasmount", 5000))
		qt.Assert(t, qt.IsNil(from.Push(ctx, b.Desc, bytes.NewReader(b.Data))))

		ok, err := to.Blobs().Exists(ctx, b.Desc)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsFalse(ok))

		err = to.Mount(ctx, b.Desc, "mount/from", func() (io.ReadCloser, error) {
			t.Errorf("server did not mount; client fell back to uploading")
			return io.NopCloser(bytes.NewReader(b.Data)), nil
		})
		qt.Assert(t, qt.IsNil(err))
		assertSameBytes(t, orasFetch(t, to.Blobs().Fetch, b.Desc), b.Data)
	})
}

func TestOrasDelete(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		repo := orasRepo(t, host, "del")
		img := newImage("orasdel", 1, 100)
		orasPushImage(t, repo, img, "latest")

		qt.Assert(t, qt.IsNil(repo.Delete(ctx, img.Manifest.Desc)))
		_, err := repo.Resolve(ctx, "latest")
		qt.Assert(t, qt.ErrorIs(err, errdef.ErrNotFound))
		ok, err := repo.Exists(ctx, img.Manifest.Desc)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsFalse(ok))
		_, err = backend.ResolveManifest(ctx, "del", img.Manifest.Desc.Digest)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))

		layer := img.Layers[0].Desc
		qt.Assert(t, qt.IsNil(repo.Blobs().Delete(ctx, layer)))
		ok, err = repo.Blobs().Exists(ctx, layer)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsFalse(ok))

		// Deleting again is a not-found error.
		qt.Assert(t, qt.ErrorIs(repo.Blobs().Delete(ctx, layer), errdef.ErrNotFound))
		qt.Assert(t, qt.ErrorIs(repo.Delete(ctx, img.Manifest.Desc), errdef.ErrNotFound))
	})
}

func TestOrasErrors(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		repo := orasRepo(t, host, "errs")
		img := newImage("oraserrs", 1, 100)

		// Nothing pushed yet.
		_, err := repo.Resolve(ctx, "nosuchtag")
		qt.Assert(t, qt.ErrorIs(err, errdef.ErrNotFound))
		_, err = repo.Manifests().Fetch(ctx, img.Manifest.Desc)
		qt.Assert(t, qt.ErrorIs(err, errdef.ErrNotFound))
		_, err = repo.Blobs().Fetch(ctx, img.Config.Desc)
		qt.Assert(t, qt.ErrorIs(err, errdef.ErrNotFound))

		// A manifest whose blobs are missing is refused with
		// MANIFEST_BLOB_UNKNOWN.
		err = repo.PushReference(ctx, img.Manifest.Desc, bytes.NewReader(img.Manifest.Data), "x")
		assertOrasCode(t, err, errcode.ErrorCodeManifestBlobUnknown)

		// Content that does not match its digest is refused.
		bad := img.Config.Desc
		err = repo.Push(ctx, bad, strings.NewReader(strings.Repeat("x", int(bad.Size))))
		assertOrasCode(t, err, errcode.ErrorCodeDigestInvalid)

		// In a repository that exists, a missing tag is still not
		// found (oras-go maps any 404 to ErrNotFound, without reading
		// the code; ggcr's test checks the code).
		orasPushImage(t, repo, img, "x")
		_, _, err = repo.FetchReference(ctx, "nosuchtag")
		qt.Assert(t, qt.ErrorIs(err, errdef.ErrNotFound))
		_, err = repo.Resolve(ctx, "nosuchtag")
		qt.Assert(t, qt.ErrorIs(err, errdef.ErrNotFound))
	})
}

func assertOrasCode(t *testing.T, err error, code string) {
	t.Helper()
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) {
		t.Fatalf("got error %v (%T), want *errcode.ErrorResponse with code %s", err, err, code)
	}
	codes := make([]string, len(resp.Errors))
	for i, e := range resp.Errors {
		codes[i] = e.Code
	}
	qt.Assert(t, qt.SliceContains(codes, code), qt.Commentf("status %d", resp.StatusCode))
}
