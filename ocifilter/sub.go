package ocifilter

import (
	"context"
	"io"
	"iter"
	"strings"

	"github.com/ocireg/ociregistry"
)

// Sub returns a view of the repositories of r whose names start with
// prefix followed by a slash, with that part removed: repository "x" of
// the view is repository prefix+"/x" of r. Repositories of r outside the
// prefix are not visible. A name that, joined with prefix, is longer than
// a repository name may be is rejected by r as usual.
func Sub(r ociregistry.Interface, prefix string) ociregistry.Interface {
	return &sub{forward: forward{r: r}, prefix: strings.TrimSuffix(prefix, "/") + "/"}
}

type sub struct {
	forward
	prefix string // with a trailing slash
}

func (r *sub) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	return r.r.GetBlob(ctx, r.prefix+repo, dg)
}

func (r *sub) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	return r.r.GetBlobRange(ctx, r.prefix+repo, dg, o0, o1)
}

func (r *sub) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	return r.r.GetManifest(ctx, r.prefix+repo, dg)
}

func (r *sub) GetTag(ctx context.Context, repo string, tag string) (ociregistry.BlobReader, error) {
	return r.r.GetTag(ctx, r.prefix+repo, tag)
}

func (r *sub) ResolveBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	return r.r.ResolveBlob(ctx, r.prefix+repo, dg)
}

func (r *sub) ResolveManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	return r.r.ResolveManifest(ctx, r.prefix+repo, dg)
}

func (r *sub) ResolveTag(ctx context.Context, repo string, tag string) (ociregistry.Descriptor, error) {
	return r.r.ResolveTag(ctx, r.prefix+repo, tag)
}

func (r *sub) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	return r.r.PushBlob(ctx, r.prefix+repo, desc, rd)
}

func (r *sub) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	return r.r.PushBlobChunked(ctx, r.prefix+repo, chunkSize)
}

func (r *sub) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	return r.r.PushBlobChunkedResume(ctx, r.prefix+repo, id, offset, chunkSize)
}

func (r *sub) MountBlob(ctx context.Context, fromRepo, toRepo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	return r.r.MountBlob(ctx, r.prefix+fromRepo, r.prefix+toRepo, dg)
}

func (r *sub) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	return r.r.PushManifest(ctx, r.prefix+repo, tag, contents, mediaType)
}

func (r *sub) DeleteBlob(ctx context.Context, repo string, dg ociregistry.Digest) error {
	return r.r.DeleteBlob(ctx, r.prefix+repo, dg)
}

func (r *sub) DeleteManifest(ctx context.Context, repo string, dg ociregistry.Digest) error {
	return r.r.DeleteManifest(ctx, r.prefix+repo, dg)
}

func (r *sub) DeleteTag(ctx context.Context, repo string, name string) error {
	return r.r.DeleteTag(ctx, r.prefix+repo, name)
}

// Repositories relies on the names under the prefix being contiguous in
// lexical order, so it can start at the prefix and stop at the first
// name outside it.
func (r *sub) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for repo, err := range r.r.Repositories(ctx, r.prefix+startAfter) {
			if err != nil {
				yield("", err)
				return
			}
			name, ok := strings.CutPrefix(repo, r.prefix)
			if !ok {
				return
			}
			if !yield(name, nil) {
				return
			}
		}
	}
}

func (r *sub) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	return r.r.Tags(ctx, r.prefix+repo, startAfter)
}

func (r *sub) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	return r.r.Referrers(ctx, r.prefix+repo, dg, artifactType)
}
