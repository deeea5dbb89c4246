package ocifilter

import (
	"context"
	"io"
	"iter"

	"github.com/ocireg/ociregistry"
)

// Access is the kind of access an operation needs to a repository.
type Access int

const (
	// AccessRead is needed to get, resolve or list content.
	AccessRead Access = iota + 1
	// AccessWrite is needed to push blobs and manifests and to mount.
	AccessWrite
	// AccessDelete is needed to delete blobs, manifests and tags.
	AccessDelete
)

// String returns "read", "write" or "delete".
func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessDelete:
		return "delete"
	}
	return "unknown"
}

// AccessChecker returns a registry that calls check before every
// operation on r with the repository and the access the operation needs,
// and returns check's error as is when it is not nil. MountBlob needs
// AccessRead to the source and AccessWrite to the target. Repositories
// leaves out the repositories for which check(repo, AccessRead) fails.
func AccessChecker(r ociregistry.Interface, check func(repo string, access Access) error) ociregistry.Interface {
	return AccessCheckerContext(r, func(_ context.Context, repo string, access Access) error {
		return check(repo, access)
	})
}

// AccessCheckerContext is AccessChecker with a check that is also given
// the operation's context, so that what it allows can depend on the
// request the operation serves, such as the access its credentials
// grant.
func AccessCheckerContext(r ociregistry.Interface, check func(ctx context.Context, repo string, access Access) error) ociregistry.Interface {
	return &accessChecker{forward: forward{r: r}, check: check}
}

type accessChecker struct {
	forward
	check func(ctx context.Context, repo string, access Access) error
}

func (r *accessChecker) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return nil, err
	}
	return r.r.GetBlob(ctx, repo, dg)
}

func (r *accessChecker) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return nil, err
	}
	return r.r.GetBlobRange(ctx, repo, dg, o0, o1)
}

func (r *accessChecker) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return nil, err
	}
	return r.r.GetManifest(ctx, repo, dg)
}

func (r *accessChecker) GetTag(ctx context.Context, repo string, tag string) (ociregistry.BlobReader, error) {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return nil, err
	}
	return r.r.GetTag(ctx, repo, tag)
}

func (r *accessChecker) ResolveBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.r.ResolveBlob(ctx, repo, dg)
}

func (r *accessChecker) ResolveManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.r.ResolveManifest(ctx, repo, dg)
}

func (r *accessChecker) ResolveTag(ctx context.Context, repo string, tag string) (ociregistry.Descriptor, error) {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.r.ResolveTag(ctx, repo, tag)
}

func (r *accessChecker) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	if err := r.check(ctx, repo, AccessWrite); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.r.PushBlob(ctx, repo, desc, rd)
}

func (r *accessChecker) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := r.check(ctx, repo, AccessWrite); err != nil {
		return nil, err
	}
	return r.r.PushBlobChunked(ctx, repo, chunkSize)
}

func (r *accessChecker) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := r.check(ctx, repo, AccessWrite); err != nil {
		return nil, err
	}
	return r.r.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
}

func (r *accessChecker) MountBlob(ctx context.Context, fromRepo, toRepo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := r.check(ctx, fromRepo, AccessRead); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := r.check(ctx, toRepo, AccessWrite); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.r.MountBlob(ctx, fromRepo, toRepo, dg)
}

func (r *accessChecker) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if err := r.check(ctx, repo, AccessWrite); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.r.PushManifest(ctx, repo, tag, contents, mediaType)
}

func (r *accessChecker) DeleteBlob(ctx context.Context, repo string, dg ociregistry.Digest) error {
	if err := r.check(ctx, repo, AccessDelete); err != nil {
		return err
	}
	return r.r.DeleteBlob(ctx, repo, dg)
}

func (r *accessChecker) DeleteManifest(ctx context.Context, repo string, dg ociregistry.Digest) error {
	if err := r.check(ctx, repo, AccessDelete); err != nil {
		return err
	}
	return r.r.DeleteManifest(ctx, repo, dg)
}

func (r *accessChecker) DeleteTag(ctx context.Context, repo string, name string) error {
	if err := r.check(ctx, repo, AccessDelete); err != nil {
		return err
	}
	return r.r.DeleteTag(ctx, repo, name)
}

func (r *accessChecker) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for repo, err := range r.r.Repositories(ctx, startAfter) {
			if err == nil && r.check(ctx, repo, AccessRead) != nil {
				continue
			}
			if !yield(repo, err) || err != nil {
				return
			}
		}
	}
}

func (r *accessChecker) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return ociregistry.ErrorSeq[string](err)
	}
	return r.r.Tags(ctx, repo, startAfter)
}

func (r *accessChecker) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	if err := r.check(ctx, repo, AccessRead); err != nil {
		return ociregistry.ErrorSeq[ociregistry.Descriptor](err)
	}
	return r.r.Referrers(ctx, repo, dg, artifactType)
}
