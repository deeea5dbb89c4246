package ocifilter

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/ocireg/ociregistry/internal/repolock"
)

// Immutable returns a registry over r in which a tag, once pushed,
// cannot be moved to another manifest or deleted: PushManifest with a
// tag that points elsewhere answers an error that Is
// [ociregistry.ErrDenied]; DeleteTag, and DeleteManifest or DeleteBlob
// of what a tag relies on (its manifest, the manifests an index lists,
// their config and layers), answer one that Is
// [ociregistry.ErrUnsupported] (405, as the distribution spec asks of a
// registry that does not do the delete): what a tag pulls never changes.
// Such a delete reads the repository's tags and tagged manifests to
// know, up to 10000 of each (beyond that it is refused too).
// Pushing the same manifest again under its tag succeeds. Everything
// else passes through.
//
// The check and the change are made under a lock of the repository, so
// they are atomic for every user of the returned value; writers that
// reach r by another path are not seen. Writes to other repositories do
// not wait for that lock, and a write that waits for it gives up with
// its context's error when its context ends.
func Immutable(r ociregistry.Interface) ociregistry.Interface {
	return &immutable{forward: forward{r: r}}
}

type immutable struct {
	forward

	// locks serialize the tag checks of a repository with the
	// writes they guard.
	locks repolock.Locks
}

func (r *immutable) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if tag == "" {
		return r.r.PushManifest(ctx, repo, tag, contents, mediaType)
	}
	unlock, err := r.locks.Lock(ctx, repo)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	defer unlock()
	desc, err := r.r.ResolveTag(ctx, repo, tag)
	switch {
	case err == nil:
		if desc.Digest != digest.Canonical.FromBytes(contents) && desc.Digest != digest.SHA512.FromBytes(contents) {
			return ociregistry.Descriptor{}, denied("push manifest to", repo, "tag "+tag+" is immutable")
		}
	case !ociregistry.IsNotFound(err):
		return ociregistry.Descriptor{}, err
	}
	return r.r.PushManifest(ctx, repo, tag, contents, mediaType)
}

func (r *immutable) DeleteTag(ctx context.Context, repo string, name string) error {
	return deleteRefused("delete tag in", repo, "tag "+name+" is immutable")
}

func (r *immutable) DeleteManifest(ctx context.Context, repo string, dg ociregistry.Digest) error {
	unlock, err := r.locks.Lock(ctx, repo)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.checkUnused(ctx, repo, dg, "manifest"); err != nil {
		return err
	}
	return r.r.DeleteManifest(ctx, repo, dg)
}

func (r *immutable) DeleteBlob(ctx context.Context, repo string, dg ociregistry.Digest) error {
	unlock, err := r.locks.Lock(ctx, repo)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.checkUnused(ctx, repo, dg, "blob"); err != nil {
		return err
	}
	return r.r.DeleteBlob(ctx, repo, dg)
}

// maxImmutableScan bounds the tags, and the manifests, that a delete
// reads to know whether a tag relies on what it deletes.
const maxImmutableScan = 10000

// checkUnused returns an error that Is ociregistry.ErrUnsupported when
// a tag of repo names dg, or a manifest that refers to it, directly
// or through the manifests of an index: deleting it would change what
// the tag pulls.
func (r *immutable) checkUnused(ctx context.Context, repo string, dg ociregistry.Digest, what string) error {
	// A manifest is known by the digest of each algorithm of its
	// content: a tag or index may name it by another than dg.
	targets := map[ociregistry.Digest]bool{dg: true}
	if what == "manifest" {
		if rd, err := r.r.GetManifest(ctx, repo, dg); err == nil {
			data, err := io.ReadAll(io.LimitReader(rd, maxManifestRead))
			rd.Close()
			if err != nil {
				return err
			}
			targets[digest.SHA256.FromBytes(data)] = true
			targets[digest.SHA512.FromBytes(data)] = true
		}
	}
	seen := map[ociregistry.Digest]bool{}
	var uses func(desc ociregistry.Descriptor) (bool, error)
	uses = func(desc ociregistry.Descriptor) (bool, error) {
		if targets[desc.Digest] {
			return true, nil
		}
		if seen[desc.Digest] {
			return false, nil
		}
		seen[desc.Digest] = true
		if len(seen) > maxImmutableScan {
			return false, deleteRefused("delete "+what+" in", repo, fmt.Sprintf("more than %d manifests to check for tags that rely on it", maxImmutableScan))
		}
		rd, err := r.r.GetManifest(ctx, repo, desc.Digest)
		if err != nil {
			if ociregistry.IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		data, err := io.ReadAll(io.LimitReader(rd, maxManifestRead))
		stored := rd.Descriptor().MediaType
		rd.Close()
		if err != nil {
			return false, err
		}
		// The type it is stored as, not the one that the index
		// that lists it says.
		pm, err := ocimanifest.Parse(data, stored)
		if err != nil {
			// What it refers to cannot be known: it may be dg.
			return false, deleteRefused("delete "+what+" in", repo, fmt.Sprintf("manifest %s, which a tag relies on, does not parse as %s", desc.Digest, stored))
		}
		for _, b := range pm.Blobs {
			if targets[b.Digest] {
				return true, nil
			}
		}
		for _, c := range pm.Children {
			if u, err := uses(c); u || err != nil {
				return u, err
			}
		}
		return false, nil
	}
	tags := 0
	for tag, err := range r.r.Tags(ctx, repo, "") {
		if err != nil {
			if ociregistry.IsNotFound(err) {
				break
			}
			return err
		}
		if tags++; tags > maxImmutableScan {
			return deleteRefused("delete "+what+" in", repo, fmt.Sprintf("more than %d tags to check for one that relies on it", maxImmutableScan))
		}
		desc, err := r.r.ResolveTag(ctx, repo, tag)
		if err != nil {
			if ociregistry.IsNotFound(err) {
				continue
			}
			return err
		}
		u, err := uses(desc)
		if err != nil {
			return err
		}
		if u {
			return deleteRefused("delete "+what+" in", repo, "tag "+tag+" relies on it and tags are immutable")
		}
	}
	return nil
}

// maxManifestRead bounds what is read of a manifest.
const maxManifestRead = 4 << 20
