package ociproxy

import (
	"context"
	"iter"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociunify"
)

// Repositories yields upstream's repositories. Should upstream fail
// before yielding any (see upstreamError), the cache's are yielded
// instead and a warning logged; when the cache has none either, the
// error is upstream's failure. With Options.WritesToCache it yields the
// repositories of both, merged.
func (p *proxy) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	if p.opts.WritesToCache {
		return ociunify.New(boundedUpstream{p.up, p}, p.cache, nil).Repositories(ctx, startAfter)
	}
	return p.fallback(ctx, func(ctx context.Context) iter.Seq2[string, error] {
		return p.up.Repositories(ctx, startAfter)
	}, func() iter.Seq2[string, error] {
		return p.cache.Repositories(ctx, startAfter)
	}, "repositories")
}

// Tags yields upstream's tags of repo, falling back to the cache's as
// Repositories does. With Options.WritesToCache it yields the tags of
// both, merged.
func (p *proxy) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	if p.opts.WritesToCache {
		return ociunify.New(boundedUpstream{p.up, p}, p.cache, nil).Tags(ctx, repo, startAfter)
	}
	return p.fallback(ctx, func(ctx context.Context) iter.Seq2[string, error] {
		return p.up.Tags(ctx, repo, startAfter)
	}, func() iter.Seq2[string, error] {
		return p.cache.Tags(ctx, repo, startAfter)
	}, "tags of "+repo)
}

// Referrers yields upstream's referrers of dg: the cache holds only
// those that were pulled, so it cannot stand in for upstream, and a
// failure of upstream's is answered as upstreamError says. With
// Options.WritesToCache it yields the referrers in both, merged.
func (p *proxy) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	up := boundedUpstream{p.up, p}
	if p.opts.WritesToCache {
		return ociunify.New(up, p.cache, nil).Referrers(ctx, repo, dg, artifactType)
	}
	return up.Referrers(ctx, repo, dg, artifactType)
}

// boundedUpstream is upstream with each listing made under a context
// from upstreamContext and its failure answered as upstreamError says,
// for the listings that have no stand-in in the cache: the referrers,
// and with Options.WritesToCache the merged listings, which an upstream
// that never answers must not hold.
type boundedUpstream struct {
	ociregistry.Interface
	p *proxy
}

func (u boundedUpstream) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return boundedList(u.p, ctx, "repositories", func(ctx context.Context) iter.Seq2[string, error] {
		return u.Interface.Repositories(ctx, startAfter)
	})
}

func (u boundedUpstream) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	return boundedList(u.p, ctx, "tags of "+repo, func(ctx context.Context) iter.Seq2[string, error] {
		return u.Interface.Tags(ctx, repo, startAfter)
	})
}

func (u boundedUpstream) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	return boundedList(u.p, ctx, "referrers of "+repo+"@"+string(dg), func(ctx context.Context) iter.Seq2[ociregistry.Descriptor, error] {
		return u.Interface.Referrers(ctx, repo, dg, artifactType)
	})
}

// boundedList yields what list yields under a context from
// upstreamContext, with its error as upstreamError gives it.
func boundedList[T any](p *proxy, ctx context.Context, what string, list func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		upctx, cancel := p.upstreamContext(ctx)
		defer cancel()
		for x, err := range list(upctx) {
			if err != nil {
				yield(x, p.upstreamError(stalled(ctx, upctx, err), what))
				return
			}
			if !yield(x, nil) {
				return
			}
		}
	}
}

// fallback yields the values of primary, listed under a context from
// upstreamContext, or, when primary fails before yielding anything with
// an error that upstreamError takes for upstream's failure (or a 401:
// upstream refused the proxy's credentials), those of secondary; when
// secondary has none, that error as upstreamError gives it.
func (p *proxy) fallback(ctx context.Context, primary func(context.Context) iter.Seq2[string, error], secondary func() iter.Seq2[string, error], what string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		upctx, cancel := p.upstreamContext(ctx)
		defer cancel()
		yielded := false
		for x, err := range primary(upctx) {
			if err != nil {
				err = stalled(ctx, upctx, err)
				if yielded || !isUpstreamFailure(err) && !isUnauthorized(err) {
					yield("", p.upstreamError(err, what))
					return
				}
				p.logger.Warn("ociproxy: upstream failed; listing cached "+what, "err", err)
				some := false
				for x, cerr := range secondary() {
					if cerr != nil && ociregistry.IsNotFound(cerr) && !some {
						break
					}
					some = true
					if !yield(x, cerr) {
						return
					}
				}
				if !some {
					yield("", p.upstreamError(err, what))
				}
				return
			}
			yielded = true
			if !yield(x, nil) {
				return
			}
		}
	}
}
