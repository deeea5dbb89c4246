// Package ociproxy implements a pull-through cache: a registry that
// serves what an upstream registry holds, keeping a copy of everything
// it pulls in a cache registry so that later pulls need not reach
// upstream, and so that content stays available when upstream is down.
//
// Content addressed by digest (blobs and manifests) never changes, so it
// is served from the cache whenever the cache holds it. Otherwise it is
// fetched from upstream once and verified against its digest before it
// is committed to the cache: nothing partial or unverified ever lands
// there.
//
// A blob is streamed to the first caller that asks for it while it is
// written into the cache through a chunked upload, which is committed
// only when the caller has read the whole blob and its digest checks
// out; a caller that stops half way, or content that does not match its
// digest, cancels the upload. The read that completes a blob returns its
// last bytes only once the blob has been verified, so that a server
// streaming wrong content to a client cuts the body short instead of
// completing it. Callers that ask for the same blob while
// it is being fetched wait for that fetch to end and then read the blob
// from the cache, so that upstream is asked once however many callers
// there are. Should the fetch fail, one of them fetches again. Should it
// stall instead (its caller holds the first reader without reading or
// closing it, or upstream stops sending), so that no bytes have been
// read for Options.FillStallTimeout, the waiting callers stop waiting
// and each reads the blob from upstream itself, verified but not
// cached. Manifests are small: they are fetched whole, verified, stored
// and then served.
//
// Tags move, so they are resolved upstream, and the answer is kept for
// Options.TagTTL. The manifest a tag points to is stored in the cache
// under that tag, so that when upstream fails with anything but "not
// found" (a refused connection, a 5xx) the cache's tag is served instead
// (stale-if-error) and a warning is logged.
//
// The cache must accept manifests whose blobs it does not hold, since a
// manifest is usually pulled before its blobs: give it a registry
// created like ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences:
// true}). With a strict cache, manifests are still served but not kept.
//
// Writes are refused with ociregistry.ErrDenied unless
// Options.WritesToCache is set, when they go to the cache only. Tags and
// Repositories are listed from upstream, falling back to the cache when
// upstream fails; Referrers are listed from upstream. With WritesToCache,
// listings are the merge of upstream's and the cache's.
package ociproxy

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
)

// DefaultTagTTL is how long a tag resolved upstream is trusted when
// Options.TagTTL is zero.
const DefaultTagTTL = time.Minute

// DefaultFillStallTimeout is how long callers waiting for a blob fetch
// put up with its making no progress when Options.FillStallTimeout is
// zero.
const DefaultFillStallTimeout = 30 * time.Second

// maxManifestSize bounds the size of a manifest fetched from upstream,
// which is held in memory whole.
const maxManifestSize = 8 << 20

// Options holds the settings of a proxy. The zero value, or a nil
// *Options, is the default.
type Options struct {
	// TagTTL is how long a tag resolved upstream is trusted before it
	// is resolved again. Zero means DefaultTagTTL; a negative value
	// means that every tag lookup asks upstream.
	TagTTL time.Duration

	// FillStallTimeout is how long callers waiting for another
	// caller's fetch of the same blob wait while the fetch makes no
	// progress (no bytes of the blob are read) before each reads the
	// blob from upstream itself, verified but not cached. Zero means
	// DefaultFillStallTimeout; a negative value means that they wait
	// for the fetch to end however long it stalls.
	FillStallTimeout time.Duration

	// WritesToCache makes writes and deletes go to the cache, rather
	// than fail with ociregistry.ErrDenied. Content written so is
	// served like content pulled from upstream, but a tag that
	// upstream has takes precedence over one pushed to the cache.
	WritesToCache bool

	// Logger receives the warnings about content served stale or not
	// cached; nil means none.
	Logger *slog.Logger
}

// New returns a pull-through cache of upstream that keeps what it pulls
// in cache, as the package documentation describes.
func New(upstream, cache ociregistry.Interface, opts *Options) ociregistry.Interface {
	p := &proxy{
		up:     upstream,
		cache:  cache,
		now:    time.Now,
		fills:  make(map[string]*fill),
		tags:   make(map[string]tagEntry),
		logger: slog.New(slog.DiscardHandler),

		maxFillAttempts: maxFillAttempts,
		maxTags:         maxTags,
	}
	if opts != nil {
		p.opts = *opts
		if opts.Logger != nil {
			p.logger = opts.Logger
		}
	}
	if p.opts.TagTTL == 0 {
		p.opts.TagTTL = DefaultTagTTL
	}
	if p.opts.FillStallTimeout == 0 {
		p.opts.FillStallTimeout = DefaultFillStallTimeout
	}
	return p
}

// proxy implements ociregistry.Interface. It embeds a nil
// *ociregistry.Funcs so that a method added to the Interface answers
// ErrUnsupported until proxy learns it, rather than bypassing the cache.
type proxy struct {
	*ociregistry.Funcs
	up, cache ociregistry.Interface
	opts      Options
	logger    *slog.Logger
	// now is time.Now, except in tests.
	now func() time.Time
	// maxFillAttempts is the constant maxFillAttempts, except in
	// tests, which reach the uncached path without racing fetches.
	maxFillAttempts int

	// fills holds the blob fetches under way, by repo+"@"+digest.
	fillMu sync.Mutex
	fills  map[string]*fill

	// manifests shares manifest fetches, by repo+"@"+digest.
	manifests group[manifestData]

	// tags holds what tags resolved to upstream, by repo+":"+tag; at
	// most maxTags of them (the constant, except in tests).
	tagMu   sync.Mutex
	tags    map[string]tagEntry
	maxTags int
	// tagLookups shares the upstream lookups of a tag.
	tagLookups group[ociregistry.Descriptor]
}

// isNotFound reports whether err says that content or a repository does
// not exist: an answer, unlike a failure to answer.
func isNotFound(err error) bool {
	return errors.Is(err, ociregistry.ErrBlobUnknown) ||
		errors.Is(err, ociregistry.ErrManifestUnknown) ||
		errors.Is(err, ociregistry.ErrNameUnknown)
}

// isContextErr reports whether err comes from a context that ended.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// group shares the result of a call among the callers that ask for the
// same key while it runs.
type group[T any] struct {
	mu sync.Mutex
	m  map[string]*call[T]
}

// call is one call of a group under way or just ended.
type call[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// do calls fn, unless a call for key is under way, in which case it
// waits for that call's result. Should that call fail because its
// caller's context ended, do calls fn itself.
func (g *group[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	for {
		g.mu.Lock()
		if g.m == nil {
			g.m = make(map[string]*call[T])
		}
		c, ok := g.m[key]
		if !ok {
			c = &call[T]{done: make(chan struct{})}
			g.m[key] = c
			g.mu.Unlock()
			c.val, c.err = fn()
			g.mu.Lock()
			delete(g.m, key)
			g.mu.Unlock()
			close(c.done)
			return c.val, c.err
		}
		g.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
		if c.err != nil && isContextErr(c.err) && ctx.Err() == nil {
			continue
		}
		return c.val, c.err
	}
}
