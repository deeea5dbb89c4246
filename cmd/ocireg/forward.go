package main

import (
	"context"
	"io"
	"iter"

	"github.com/ocireg/ociregistry"
)

// forward passes each method of the Interface, one by one, to r; the
// wrappers of this command embed it and override the methods they
// watch. Embedding the wrapped Interface instead would pass a method
// added to the Interface later straight through, unwatched: with a nil
// *ociregistry.Funcs in its place, such a method answers
// ErrUnsupported until it is forwarded here, and TestWrappersForward
// fails until it is.
type forward struct {
	*ociregistry.Funcs
	r ociregistry.Interface
}

func (f forward) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	return f.r.GetBlob(ctx, repo, dg)
}

func (f forward) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	return f.r.GetBlobRange(ctx, repo, dg, o0, o1)
}

func (f forward) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	return f.r.GetManifest(ctx, repo, dg)
}

func (f forward) GetTag(ctx context.Context, repo, tag string) (ociregistry.BlobReader, error) {
	return f.r.GetTag(ctx, repo, tag)
}

func (f forward) ResolveBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	return f.r.ResolveBlob(ctx, repo, dg)
}

func (f forward) ResolveManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	return f.r.ResolveManifest(ctx, repo, dg)
}

func (f forward) ResolveTag(ctx context.Context, repo, tag string) (ociregistry.Descriptor, error) {
	return f.r.ResolveTag(ctx, repo, tag)
}

func (f forward) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	return f.r.PushBlob(ctx, repo, desc, rd)
}

func (f forward) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	return f.r.PushBlobChunked(ctx, repo, chunkSize)
}

func (f forward) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	return f.r.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
}

func (f forward) MountBlob(ctx context.Context, fromRepo, toRepo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	return f.r.MountBlob(ctx, fromRepo, toRepo, dg)
}

func (f forward) PushManifest(ctx context.Context, repo, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	return f.r.PushManifest(ctx, repo, tag, contents, mediaType)
}

func (f forward) DeleteBlob(ctx context.Context, repo string, dg ociregistry.Digest) error {
	return f.r.DeleteBlob(ctx, repo, dg)
}

func (f forward) DeleteManifest(ctx context.Context, repo string, dg ociregistry.Digest) error {
	return f.r.DeleteManifest(ctx, repo, dg)
}

func (f forward) DeleteTag(ctx context.Context, repo, tag string) error {
	return f.r.DeleteTag(ctx, repo, tag)
}

func (f forward) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return f.r.Repositories(ctx, startAfter)
}

func (f forward) Tags(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
	return f.r.Tags(ctx, repo, startAfter)
}

func (f forward) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	return f.r.Referrers(ctx, repo, dg, artifactType)
}
