package ocifilter

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
)

// Immutable returns a registry over r in which a tag, once pushed,
// cannot be moved to another manifest or deleted: PushManifest with a
// tag that points elsewhere answers an error that Is
// [ociregistry.ErrDenied]; DeleteTag, and DeleteManifest of a tagged
// manifest, answer one that Is [ociregistry.ErrUnsupported] (405, as the
// distribution spec asks of a registry that does not do the delete).
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
	locks repoLocks
}

func (r *immutable) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if tag == "" {
		return r.r.PushManifest(ctx, repo, tag, contents, mediaType)
	}
	unlock, err := r.locks.lock(ctx, repo)
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
	unlock, err := r.locks.lock(ctx, repo)
	if err != nil {
		return err
	}
	defer unlock()
	for tag, err := range r.r.Tags(ctx, repo, "") {
		if err != nil {
			if ociregistry.IsNotFound(err) {
				break
			}
			return err
		}
		desc, err := r.r.ResolveTag(ctx, repo, tag)
		if err != nil {
			if ociregistry.IsNotFound(err) {
				continue
			}
			return err
		}
		if desc.Digest == dg {
			return deleteRefused("delete manifest in", repo, "it is tagged "+tag+" and tags are immutable")
		}
	}
	return r.r.DeleteManifest(ctx, repo, dg)
}
