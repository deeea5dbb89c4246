package ociproxy

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocireg/ociregistry"
)

// GetBlob returns the blob from the cache, or else a reader of the fill
// that fetches it from upstream into the cache, as the package
// documentation describes. It answers upstream's error when the cache
// does not have the blob and upstream cannot supply it: an error that Is
// ociregistry.ErrBlobUnknown when upstream does not have it, and an
// *ociregistry.HTTPError with status 502 when upstream cannot be reached.
// Reading the blob fails at its end, without returning its last bytes,
// with an error that Is ociregistry.ErrDigestInvalid or
// ociregistry.ErrSizeInvalid when upstream sent other content than the
// digest names; the content is then not cached. So a server that streams
// the blob to a client cuts the body short rather than complete wrong
// content. Reading waits for the fill no longer than ctx lasts.
func (p *proxy) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dg); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		rd, err := p.cache.GetBlob(ctx, repo, dg)
		if err == nil {
			return rd, nil
		}
		if !ociregistry.IsNotFound(err) {
			p.logger.Warn("ociproxy: cannot read blob from cache", "repo", repo, "digest", dg, "err", err)
		}
		f := p.joinFill(ctx, repo, dg)
		if f == nil {
			// As many fills as allowed hold spool files: read
			// this one from upstream, checked as a fill would
			// check it.
			p.logger.Warn("ociproxy: too many blob fetches under way; reading blob from upstream uncached", "repo", repo, "digest", dg, "maxFills", p.opts.MaxFills)
			return p.getBlobUncached(ctx, repo, dg)
		}
		select {
		case <-f.ready:
		case <-ctx.Done():
			f.release()
			return nil, ctx.Err()
		}
		switch {
		case f.openErr == errCached && attempt == 0:
			f.release()
			continue
		case f.openErr == errCached, errors.Is(f.openErr, errNoSpool):
			// The cache says it has the blob but does not give
			// it, or there is no room to spool it.
			f.release()
			return p.getBlobUncached(ctx, repo, dg)
		case f.openErr != nil:
			f.release()
			return nil, p.upstreamError(f.openErr, "blob "+repo+"@"+string(dg))
		}
		return &fillReader{f: f, ctx: ctx}, nil
	}
}

// getBlobUncached returns the blob from upstream, failing at its end
// when the content does not match the digest, without caching it.
func (p *proxy) getBlobUncached(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	up, desc, err := p.openUpstream(ctx, repo, dg)
	if err != nil {
		return nil, p.upstreamError(err, "blob "+repo+"@"+string(dg))
	}
	return &verifyReader{verifier: newVerifier(up, desc)}, nil
}

// openUpstream opens the blob upstream and returns it with its
// descriptor. The verifier needs the size up front (to hold back the
// last bytes), so a reader that does not know it (an HTTP response sent
// without a Content-Length, say) has it resolved.
func (p *proxy) openUpstream(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, ociregistry.Descriptor, error) {
	up, err := p.up.GetBlob(ctx, repo, dg)
	if err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	desc := up.Descriptor()
	desc.Digest = dg
	if desc.Size < 0 {
		rdesc, err := p.up.ResolveBlob(ctx, repo, dg)
		if err == nil && rdesc.Size < 0 {
			err = fmt.Errorf("ociproxy: upstream gives no size for blob %s: %w", dg, ociregistry.ErrSizeInvalid)
		}
		if err != nil {
			up.Close()
			return nil, ociregistry.Descriptor{}, err
		}
		desc.Size = rdesc.Size
	}
	return up, desc, nil
}

// GetBlobRange returns part of the blob from the cache or, when the
// cache does not have it, from upstream without caching it (a part
// cannot be verified against the digest). It answers upstream's error
// when neither has the blob, as GetBlob does.
func (p *proxy) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dg); err != nil {
		return nil, err
	}
	rd, err := p.cache.GetBlobRange(ctx, repo, dg, o0, o1)
	if err == nil || !ociregistry.IsNotFound(err) && !errors.Is(err, ociregistry.ErrUnsupported) {
		return rd, err
	}
	rd, err = p.up.GetBlobRange(ctx, repo, dg, o0, o1)
	if err != nil {
		return nil, p.upstreamError(err, "blob "+repo+"@"+string(dg))
	}
	return rd, nil
}

// ResolveBlob returns the blob's descriptor from the cache or else from
// upstream, answering upstream's error when neither has it, as GetBlob
// does.
func (p *proxy) ResolveBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dg); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if desc, err := p.cache.ResolveBlob(ctx, repo, dg); err == nil {
		return desc, nil
	}
	upctx, cancel := p.upstreamContext(ctx)
	defer cancel()
	desc, err := p.up.ResolveBlob(upctx, repo, dg)
	if err != nil {
		return ociregistry.Descriptor{}, p.upstreamError(stalled(ctx, upctx, err), "blob "+repo+"@"+string(dg))
	}
	return desc, nil
}
