package ociproxy

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ocireg/ociregistry"
)

// manifestData is a manifest's content with its descriptor.
type manifestData struct {
	desc ociregistry.Descriptor
	data []byte
}

// GetManifest returns the manifest from the cache, or else fetches it
// from upstream, checks it against its digest, stores it in the cache and
// returns it. It answers upstream's error when neither has it, and a
// 502 *ociregistry.HTTPError when upstream sent other content, too much
// or too little, or did not answer within Options.FillStallTimeout.
func (p *proxy) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dg); err != nil {
		return nil, err
	}
	m, err := p.manifest(ctx, repo, dg)
	if err != nil {
		return nil, err
	}
	return ociregistry.NewBytesReader(m.data, m.desc), nil
}

// manifest returns the manifest with digest dg in repo, from the cache
// or else fetched from upstream into the cache.
func (p *proxy) manifest(ctx context.Context, repo string, dg ociregistry.Digest) (manifestData, error) {
	if m, err := readManifest(p.cache.GetManifest(ctx, repo, dg)); err == nil {
		return m, nil
	}
	what := "manifest " + repo + "@" + string(dg)
	return p.manifests.do(ctx, repo+"@"+string(dg), func() (manifestData, error) {
		upctx, cancel := p.upstreamContext(ctx)
		defer cancel()
		m, err := readManifest(p.up.GetManifest(upctx, repo, dg))
		if err == nil && dg.Algorithm().FromBytes(m.data) != dg {
			err = fmt.Errorf("manifest with digest %s for %s: %w", dg.Algorithm().FromBytes(m.data), dg, ociregistry.ErrDigestInvalid)
		}
		if err != nil {
			return manifestData{}, p.upstreamError(upstreamAnswer(ctx, upctx, err), what)
		}
		m.desc.Digest = dg
		if _, err := p.cache.PushManifest(ctx, repo, "", m.data, m.desc.MediaType); err != nil {
			p.logger.Warn("ociproxy: cannot store manifest in cache", "repo", repo, "digest", dg, "err", err)
		}
		return m, nil
	})
}

// upstreamAnswer returns err, from a request upstream for a tag or a
// manifest under upctx (from upstreamContext), marked as upstream's
// failure when upctx ended while ctx goes on (errUpstreamStalled), or
// when it says that what upstream sent is broken, whether upstream's
// client or the proxy found it so (errUpstreamBroken): names and digests
// the client gave were checked before, so that is not the client's
// doing.
func upstreamAnswer(ctx, upctx context.Context, err error) error {
	err = stalled(ctx, upctx, err)
	if herr := (*ociregistry.HTTPError)(nil); errors.As(err, &herr) && herr.StatusCode != 0 {
		// Upstream's error response is an answer, of its own words.
		return err
	}
	if errors.Is(err, ociregistry.ErrManifestInvalid) || errors.Is(err, ociregistry.ErrSizeInvalid) || errors.Is(err, ociregistry.ErrDigestInvalid) {
		return fmt.Errorf("%w: %w", errUpstreamBroken, err)
	}
	return err
}

// readManifest reads the whole of a manifest that a Get method returned,
// and closes it.
func readManifest(rd ociregistry.BlobReader, err error) (manifestData, error) {
	if err != nil {
		return manifestData{}, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxManifestSize+1))
	if err != nil {
		return manifestData{}, err
	}
	if len(data) > maxManifestSize {
		return manifestData{}, fmt.Errorf("ociproxy: manifest is bigger than %d bytes: %w", maxManifestSize, ociregistry.ErrManifestInvalid)
	}
	desc := rd.Descriptor()
	desc.Size = int64(len(data))
	return manifestData{desc: desc, data: data}, nil
}

// ResolveManifest returns the manifest's descriptor from the cache or
// else from upstream, answering upstream's error when neither has it.
func (p *proxy) ResolveManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dg); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if desc, err := p.cache.ResolveManifest(ctx, repo, dg); err == nil {
		return desc, nil
	}
	// Fetched and checked whole (it is small), so that a HEAD answers
	// as a GET would, and the next GET comes from the cache.
	m, err := p.manifest(ctx, repo, dg)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return m.desc, nil
}
