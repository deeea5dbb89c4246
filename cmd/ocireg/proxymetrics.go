package main

import (
	"context"
	"path/filepath"
	"sync/atomic"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ociproxy"
)

// newProxy returns ociproxy.New(upstream, cache, opts), counting cache
// hits and misses in m. ociproxy has no hook for them, so each blob or
// manifest read through the proxy is followed: the cache and upstream
// note in the read's context whether the cache answered and whether
// upstream was asked, and the read is then counted once, as a miss when
// upstream was asked for the content and as a hit when only the cache
// answered. Resolving a tag upstream is no miss: tags are resolved there
// every TagTTL whatever the cache holds, and what counts is whether the
// manifest came from the cache. Counting
// the inner reads themselves would count some reads twice: serving a tag
// fetches its manifest upstream into the cache and then reads it back.
//
// When the cache is a directory, the proxy spools the blobs it fetches
// in its tmp subdirectory (which ocifs makes, and cleans at startup and
// by GC) unless opts says where: os.TempDir() is often in memory, and
// the spool files are as big as the blobs.
func newProxy(upstream, cache ociregistry.Interface, opts *ociproxy.Options, m *metrics) ociregistry.Interface {
	if opts == nil {
		opts = &ociproxy.Options{}
	}
	if fsCache, ok := cache.(*ocifs.Registry); ok && opts.TempDir == "" {
		o := *opts
		o.TempDir = filepath.Join(fsCache.Dir(), "tmp")
		opts = &o
	}
	if m == nil {
		return ociproxy.New(upstream, cache, opts)
	}
	upstream = &notingRegistry{forward: forward{r: upstream}, upstream: true}
	cache = &notingRegistry{forward: forward{r: cache}}
	return &countingProxy{forward: forward{r: ociproxy.New(upstream, cache, opts)}, m: m}
}

// readOutcome is what happened in one read through a proxy.
type readOutcome struct {
	fromCache, askedUpstream atomic.Bool
}

type readOutcomeKey struct{}

// countingProxy counts the blob and manifest reads of the proxy it wraps
// as cache hits or misses.
type countingProxy struct {
	forward
	m *metrics
}

// begin returns ctx with a fresh readOutcome for one read.
func (p *countingProxy) begin(ctx context.Context) (context.Context, *readOutcome) {
	o := &readOutcome{}
	return context.WithValue(ctx, readOutcomeKey{}, o), o
}

// count counts the read that o followed, which ended with err.
func (p *countingProxy) count(kind string, o *readOutcome, err error) {
	switch {
	case o.askedUpstream.Load():
		p.m.cacheMiss.WithLabelValues(kind).Inc()
	case o.fromCache.Load():
		p.m.cacheHits.WithLabelValues(kind).Inc()
	case err == nil:
		// Neither was noted in this read's context: it shared a
		// manifest fetch from upstream that another read started. (A
		// blob read that waits for another's fill then reads the
		// cache, and counts as a hit.)
		p.m.cacheMiss.WithLabelValues(kind).Inc()
	}
}

func (p *countingProxy) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	ctx, o := p.begin(ctx)
	rd, err := p.r.GetBlob(ctx, repo, dg)
	p.count("blob", o, err)
	return rd, err
}

func (p *countingProxy) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	ctx, o := p.begin(ctx)
	rd, err := p.r.GetBlobRange(ctx, repo, dg, o0, o1)
	p.count("blob", o, err)
	return rd, err
}

func (p *countingProxy) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	ctx, o := p.begin(ctx)
	rd, err := p.r.GetManifest(ctx, repo, dg)
	p.count("manifest", o, err)
	return rd, err
}

func (p *countingProxy) GetTag(ctx context.Context, repo, tag string) (ociregistry.BlobReader, error) {
	ctx, o := p.begin(ctx)
	rd, err := p.r.GetTag(ctx, repo, tag)
	p.count("manifest", o, err)
	return rd, err
}

// notingRegistry notes its blob and manifest reads in the readOutcome
// of their context, if any: for upstream every read asked, for the
// cache every read answered.
type notingRegistry struct {
	forward
	upstream bool
}

func (r *notingRegistry) note(ctx context.Context, err error) {
	o, ok := ctx.Value(readOutcomeKey{}).(*readOutcome)
	switch {
	case !ok:
	case r.upstream:
		o.askedUpstream.Store(true)
	case err == nil:
		o.fromCache.Store(true)
	}
}

func (r *notingRegistry) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	rd, err := r.r.GetBlob(ctx, repo, dg)
	r.note(ctx, err)
	return rd, err
}

func (r *notingRegistry) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	rd, err := r.r.GetBlobRange(ctx, repo, dg, o0, o1)
	r.note(ctx, err)
	return rd, err
}

func (r *notingRegistry) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	rd, err := r.r.GetManifest(ctx, repo, dg)
	r.note(ctx, err)
	return rd, err
}
