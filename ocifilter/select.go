package ocifilter

import (
	"context"
	"fmt"
	"io"
	"iter"

	"github.com/ocireg/ociregistry"
)

// Select returns a registry that shows only the repositories of r for
// which allow returns true. Other repositories appear not to exist: reads
// answer ErrBlobUnknown, ErrManifestUnknown or ErrNameUnknown as they
// would for an empty repository, listings leave them out, and writes to
// them answer an error that Is [ociregistry.ErrDenied], since they cannot
// be created through this view.
func Select(r ociregistry.Interface, allow func(repo string) bool) ociregistry.Interface {
	return &selector{forward: forward{r: r}, allow: allow}
}

type selector struct {
	forward
	allow func(repo string) bool
}

func hidden(repo string, err error) error {
	return fmt.Errorf("repository %s: %w", repo, err)
}

func (r *selector) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if !r.allow(repo) {
		return nil, hidden(repo, ociregistry.ErrBlobUnknown)
	}
	return r.r.GetBlob(ctx, repo, dg)
}

func (r *selector) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	if !r.allow(repo) {
		return nil, hidden(repo, ociregistry.ErrBlobUnknown)
	}
	return r.r.GetBlobRange(ctx, repo, dg, o0, o1)
}

func (r *selector) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if !r.allow(repo) {
		return nil, hidden(repo, ociregistry.ErrManifestUnknown)
	}
	return r.r.GetManifest(ctx, repo, dg)
}

func (r *selector) GetTag(ctx context.Context, repo string, tag string) (ociregistry.BlobReader, error) {
	if !r.allow(repo) {
		return nil, hidden(repo, ociregistry.ErrManifestUnknown)
	}
	return r.r.GetTag(ctx, repo, tag)
}

func (r *selector) ResolveBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if !r.allow(repo) {
		return ociregistry.Descriptor{}, hidden(repo, ociregistry.ErrBlobUnknown)
	}
	return r.r.ResolveBlob(ctx, repo, dg)
}

func (r *selector) ResolveManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if !r.allow(repo) {
		return ociregistry.Descriptor{}, hidden(repo, ociregistry.ErrManifestUnknown)
	}
	return r.r.ResolveManifest(ctx, repo, dg)
}

func (r *selector) ResolveTag(ctx context.Context, repo string, tag string) (ociregistry.Descriptor, error) {
	if !r.allow(repo) {
		return ociregistry.Descriptor{}, hidden(repo, ociregistry.ErrManifestUnknown)
	}
	return r.r.ResolveTag(ctx, repo, tag)
}

func (r *selector) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	if !r.allow(repo) {
		return ociregistry.Descriptor{}, denied("push blob to", repo, "repository not allowed")
	}
	return r.r.PushBlob(ctx, repo, desc, rd)
}

func (r *selector) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	if !r.allow(repo) {
		return nil, denied("push blob to", repo, "repository not allowed")
	}
	return r.r.PushBlobChunked(ctx, repo, chunkSize)
}

func (r *selector) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if !r.allow(repo) {
		return nil, denied("push blob to", repo, "repository not allowed")
	}
	return r.r.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
}

func (r *selector) MountBlob(ctx context.Context, fromRepo, toRepo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if !r.allow(toRepo) {
		return ociregistry.Descriptor{}, denied("mount blob in", toRepo, "repository not allowed")
	}
	if !r.allow(fromRepo) {
		return ociregistry.Descriptor{}, hidden(fromRepo, ociregistry.ErrBlobUnknown)
	}
	return r.r.MountBlob(ctx, fromRepo, toRepo, dg)
}

func (r *selector) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if !r.allow(repo) {
		return ociregistry.Descriptor{}, denied("push manifest to", repo, "repository not allowed")
	}
	return r.r.PushManifest(ctx, repo, tag, contents, mediaType)
}

func (r *selector) DeleteBlob(ctx context.Context, repo string, dg ociregistry.Digest) error {
	if !r.allow(repo) {
		return hidden(repo, ociregistry.ErrBlobUnknown)
	}
	return r.r.DeleteBlob(ctx, repo, dg)
}

func (r *selector) DeleteManifest(ctx context.Context, repo string, dg ociregistry.Digest) error {
	if !r.allow(repo) {
		return hidden(repo, ociregistry.ErrManifestUnknown)
	}
	return r.r.DeleteManifest(ctx, repo, dg)
}

func (r *selector) DeleteTag(ctx context.Context, repo string, name string) error {
	if !r.allow(repo) {
		return hidden(repo, ociregistry.ErrManifestUnknown)
	}
	return r.r.DeleteTag(ctx, repo, name)
}

func (r *selector) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for repo, err := range r.r.Repositories(ctx, startAfter) {
			if err == nil && !r.allow(repo) {
				continue
			}
			if !yield(repo, err) || err != nil {
				return
			}
		}
	}
}

func (r *selector) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	if !r.allow(repo) {
		return ociregistry.ErrorSeq[string](hidden(repo, ociregistry.ErrNameUnknown))
	}
	return r.r.Tags(ctx, repo, startAfter)
}

func (r *selector) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	if !r.allow(repo) {
		return func(func(ociregistry.Descriptor, error) bool) {}
	}
	return r.r.Referrers(ctx, repo, dg, artifactType)
}
