package ociproxy

import (
	"context"
	"time"

	"github.com/ocireg/ociregistry"
)

// GetTag returns the manifest that the tag points to, resolved as
// ResolveTag does, from the cache or else from upstream.
func (p *proxy) GetTag(ctx context.Context, repo string, tag string) (ociregistry.BlobReader, error) {
	desc, err := p.ResolveTag(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	m, err := p.manifest(ctx, repo, desc.Digest)
	if err != nil {
		return nil, err
	}
	return ociregistry.NewBytesReader(m.data, m.desc), nil
}

// tagEntry is what a tag resolved to upstream, and when.
type tagEntry struct {
	desc ociregistry.Descriptor
	at   time.Time
}

// ResolveTag returns the descriptor that the tag points to upstream,
// remembered for Options.TagTTL. Resolving a tag fetches its manifest
// into the cache and points the cache's tag at it. When upstream fails
// to resolve it with anything but "not found", or names a manifest it
// then fails to send, the cache's tag is answered and a warning logged;
// otherwise upstream's error is returned. With
// Options.WritesToCache, a tag that upstream does not know is looked up
// in the cache.
func (p *proxy) ResolveTag(ctx context.Context, repo string, tag string) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := ociregistry.CheckTag(tag); err != nil {
		return ociregistry.Descriptor{}, err
	}
	key := repo + ":" + tag
	p.tagMu.Lock()
	e, ok := p.tags[key]
	p.tagMu.Unlock()
	if ok && p.now().Sub(e.at) < p.opts.TagTTL {
		return e.desc, nil
	}
	return p.tagLookups.do(ctx, key, func() (ociregistry.Descriptor, error) {
		return p.lookupTag(ctx, repo, tag, key)
	})
}

// lookupTag resolves the tag upstream, as ResolveTag describes.
func (p *proxy) lookupTag(ctx context.Context, repo, tag, key string) (ociregistry.Descriptor, error) {
	at := p.now()
	upctx, cancel := p.upstreamContext(ctx)
	desc, err := p.up.ResolveTag(upctx, repo, tag)
	cancel()
	if err != nil {
		err = upstreamAnswer(ctx, upctx, err)
	}
	switch {
	case err == nil:
		m, err := p.manifest(ctx, repo, desc.Digest)
		if err != nil {
			// Upstream named the manifest but failed to send it.
			if cd, cerr := p.cache.ResolveTag(ctx, repo, tag); cerr == nil && isUpstreamFailure(err) {
				p.logger.Warn("ociproxy: upstream failed; serving cached tag", "repo", repo, "tag", tag, "digest", cd.Digest, "err", err)
				return cd, nil
			}
			return ociregistry.Descriptor{}, err
		}
		// Point the cache's tag at the manifest, for when upstream
		// cannot be reached.
		if cd, err := p.cache.ResolveTag(ctx, repo, tag); err != nil || cd.Digest != desc.Digest {
			if _, err := p.cache.PushManifest(ctx, repo, tag, m.data, m.desc.MediaType); err != nil {
				p.logger.Warn("ociproxy: cannot tag manifest in cache", "repo", repo, "tag", tag, "digest", desc.Digest, "err", err)
			}
		}
		if p.opts.TagTTL > 0 {
			p.rememberTag(key, tagEntry{desc: m.desc, at: at})
		}
		return m.desc, nil
	case ociregistry.IsNotFound(err):
		p.forgetTag(key)
		if p.opts.WritesToCache {
			if cd, cerr := p.cache.ResolveTag(ctx, repo, tag); cerr == nil {
				return cd, nil
			}
		}
		return ociregistry.Descriptor{}, err
	case isContextErr(err) && ctx.Err() != nil:
		return ociregistry.Descriptor{}, err
	}
	cd, cerr := p.cache.ResolveTag(ctx, repo, tag)
	if cerr != nil {
		return ociregistry.Descriptor{}, p.upstreamError(err, "tag "+repo+":"+tag)
	}
	p.logger.Warn("ociproxy: upstream failed; serving cached tag", "repo", repo, "tag", tag, "digest", cd.Digest, "err", err)
	return cd, nil
}

// maxTags bounds the tags a proxy remembers, so that pulls of ever new
// tags cannot grow its memory without end. Forgetting a tag costs no more
// than resolving it upstream again.
const maxTags = 100_000

// rememberTag records what the tag key resolved to. When the proxy
// already remembers maxTags tags, the expired ones are dropped first,
// and all of them if that frees less than half: each sweep then pays for
// at least maxTags/2 inserts.
func (p *proxy) rememberTag(key string, e tagEntry) {
	p.tagMu.Lock()
	defer p.tagMu.Unlock()
	if _, ok := p.tags[key]; !ok && len(p.tags) >= p.maxTags {
		now := p.now()
		for k, old := range p.tags {
			if now.Sub(old.at) >= p.opts.TagTTL {
				delete(p.tags, k)
			}
		}
		if len(p.tags) > p.maxTags/2 {
			clear(p.tags)
		}
	}
	p.tags[key] = e
}

// forgetTag drops what the tag key was resolved to.
func (p *proxy) forgetTag(key string) {
	p.tagMu.Lock()
	delete(p.tags, key)
	p.tagMu.Unlock()
}
