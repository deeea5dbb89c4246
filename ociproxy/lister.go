package ociproxy

import (
	"context"
	"iter"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociunify"
)

// Repositories yields upstream's repositories. Should upstream fail
// before yielding any, with anything but "not found", the cache's are
// yielded instead and a warning logged. With Options.WritesToCache it
// yields the repositories of both, merged.
func (p *proxy) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	if p.opts.WritesToCache {
		return ociunify.New(p.up, p.cache, nil).Repositories(ctx, startAfter)
	}
	return p.fallback(p.up.Repositories(ctx, startAfter), func() iter.Seq2[string, error] {
		return p.cache.Repositories(ctx, startAfter)
	}, "repositories", "")
}

// Tags yields upstream's tags of repo, falling back to the cache's as
// Repositories does. With Options.WritesToCache it yields the tags of
// both, merged.
func (p *proxy) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	if p.opts.WritesToCache {
		return ociunify.New(p.up, p.cache, nil).Tags(ctx, repo, startAfter)
	}
	return p.fallback(p.up.Tags(ctx, repo, startAfter), func() iter.Seq2[string, error] {
		return p.cache.Tags(ctx, repo, startAfter)
	}, "tags", repo)
}

// Referrers yields upstream's referrers of dg: the cache holds only
// those that were pulled, so it cannot stand in for upstream. With
// Options.WritesToCache it yields the referrers in both, merged.
func (p *proxy) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	if p.opts.WritesToCache {
		return ociunify.New(p.up, p.cache, nil).Referrers(ctx, repo, dg, artifactType)
	}
	return p.up.Referrers(ctx, repo, dg, artifactType)
}

// fallback yields the values of primary or, when primary fails before
// yielding anything with an error other than "not found", those of
// secondary.
func (p *proxy) fallback(primary iter.Seq2[string, error], secondary func() iter.Seq2[string, error], what, repo string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		yielded := false
		for x, err := range primary {
			if err != nil {
				if yielded || ociregistry.IsNotFound(err) || isContextErr(err) {
					yield("", err)
					return
				}
				p.logger.Warn("ociproxy: upstream failed; listing cached "+what, "repo", repo, "err", err)
				for x, err := range secondary() {
					if !yield(x, err) {
						return
					}
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
