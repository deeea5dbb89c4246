package ociproxy

import (
	"context"
	"strings"

	"github.com/ocireg/ociregistry"
)

// DeleteBlob deletes the blob from the cache when Options.WritesToCache
// is set, answering the cache's errors, and otherwise answers an error
// that Is ociregistry.ErrUnsupported (405, as the distribution spec asks
// of a registry that does not delete). Upstream is never changed, so content
// deleted from the cache comes back when it is pulled again.
func (p *proxy) DeleteBlob(ctx context.Context, repo string, dg ociregistry.Digest) error {
	if !p.opts.WritesToCache {
		return deleteRefused("DeleteBlob", repo)
	}
	return p.cache.DeleteBlob(ctx, repo, dg)
}

// DeleteManifest deletes the manifest, and the tags that point to it,
// from the cache, or is refused, as DeleteBlob is.
func (p *proxy) DeleteManifest(ctx context.Context, repo string, dg ociregistry.Digest) error {
	if !p.opts.WritesToCache {
		return deleteRefused("DeleteManifest", repo)
	}
	err := p.cache.DeleteManifest(ctx, repo, dg)
	p.tagMu.Lock()
	for key, e := range p.tags {
		if strings.HasPrefix(key, repo+":") && e.desc.Digest == dg {
			delete(p.tags, key)
		}
	}
	p.tagMu.Unlock()
	return err
}

// DeleteTag deletes the tag from the cache, or is refused, as
// DeleteBlob is.
func (p *proxy) DeleteTag(ctx context.Context, repo string, name string) error {
	if !p.opts.WritesToCache {
		return deleteRefused("DeleteTag", repo)
	}
	err := p.cache.DeleteTag(ctx, repo, name)
	p.forgetTag(repo + ":" + name)
	return err
}
