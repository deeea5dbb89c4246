package ociproxy

import (
	"context"
	"fmt"
	"io"

	"github.com/ocireg/ociregistry"
)

// denied returns the error for a write when Options.WritesToCache is not
// set.
func denied(op, repo string) error {
	return fmt.Errorf("ociproxy: %s in %s: the proxy does not accept writes: %w", op, repo, ociregistry.ErrDenied)
}

// deleteRefused returns the error of a delete the proxy does not do: it
// Is ociregistry.ErrUnsupported, which servers answer with 405.
func deleteRefused(op, repo string) error {
	return fmt.Errorf("ociproxy: %s in %s: the proxy does not delete: %w", op, repo, ociregistry.ErrUnsupported)
}

// PushBlob pushes the blob to the cache when Options.WritesToCache is
// set, answering the cache's errors, and otherwise answers an error
// that Is ociregistry.ErrDenied.
func (p *proxy) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	if !p.opts.WritesToCache {
		return ociregistry.Descriptor{}, denied("PushBlob", repo)
	}
	return p.cache.PushBlob(ctx, repo, desc, rd)
}

// PushBlobChunked starts an upload to the cache, or is denied, as
// PushBlob is.
func (p *proxy) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	if !p.opts.WritesToCache {
		return nil, denied("PushBlobChunked", repo)
	}
	return p.cache.PushBlobChunked(ctx, repo, chunkSize)
}

// PushBlobChunkedResume resumes an upload to the cache, or is denied, as
// PushBlob is.
func (p *proxy) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if !p.opts.WritesToCache {
		return nil, denied("PushBlobChunkedResume", repo)
	}
	return p.cache.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
}

// MountBlob mounts a blob within the cache, or is denied, as PushBlob
// is.
func (p *proxy) MountBlob(ctx context.Context, fromRepo, toRepo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if !p.opts.WritesToCache {
		return ociregistry.Descriptor{}, denied("MountBlob", toRepo)
	}
	return p.cache.MountBlob(ctx, fromRepo, toRepo, dg)
}

// PushManifest pushes the manifest to the cache, or is denied, as
// PushBlob is.
func (p *proxy) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if !p.opts.WritesToCache {
		return ociregistry.Descriptor{}, denied("PushManifest", repo)
	}
	desc, err := p.cache.PushManifest(ctx, repo, tag, contents, mediaType)
	if tag != "" {
		p.forgetTag(repo + ":" + tag)
	}
	return desc, err
}
