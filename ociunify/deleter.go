package ociunify

import (
	"context"

	"github.com/ocireg/ociregistry"
)

// DeleteBlob deletes the blob from both registries at once. It succeeds
// when both deleted it, or one deleted it and the other did not have it;
// it answers the first registry's error when neither had it, and
// otherwise the errors of the registries that failed for another
// reason.
func (u *unifier) DeleteBlob(ctx context.Context, repo string, dg ociregistry.Digest) error {
	return u.delete(func(r ociregistry.Interface) error { return r.DeleteBlob(ctx, repo, dg) })
}

// DeleteManifest deletes the manifest from both registries, as
// DeleteBlob does.
func (u *unifier) DeleteManifest(ctx context.Context, repo string, dg ociregistry.Digest) error {
	return u.delete(func(r ociregistry.Interface) error { return r.DeleteManifest(ctx, repo, dg) })
}

// DeleteTag deletes the tag from both registries, as DeleteBlob does.
func (u *unifier) DeleteTag(ctx context.Context, repo string, name string) error {
	return u.delete(func(r ociregistry.Interface) error { return r.DeleteTag(ctx, repo, name) })
}

// delete calls del for both registries at once and combines their
// errors as DeleteBlob describes.
func (u *unifier) delete(del func(r ociregistry.Interface) error) error {
	_, _, err0, err1 := both(u, func(r ociregistry.Interface) (struct{}, error) {
		return struct{}{}, del(r)
	})
	switch {
	case err0 == nil && (err1 == nil || ociregistry.IsNotFound(err1)):
		return nil
	case err1 == nil && ociregistry.IsNotFound(err0):
		return nil
	case ociregistry.IsNotFound(err0) && ociregistry.IsNotFound(err1):
		return err0
	}
	// At least one registry failed for a reason other than the content
	// being absent, which is what is worth reporting.
	if ociregistry.IsNotFound(err0) {
		err0 = nil
	}
	if ociregistry.IsNotFound(err1) {
		err1 = nil
	}
	_, err := joinWrite(0, err0, err1)
	return err
}
