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
// A blob that the cache does not hold is fetched from upstream by a
// fill: a goroutine that reads it at upstream's pace into a spool file
// (in Options.TempDir) and into a chunked upload to the cache, which is
// committed once the blob has been read whole and its digest checks out;
// content that does not match its digest cancels the upload. Every
// caller that asks for the blob while it is being fetched, the first
// one included, reads the spool file at its own pace, waiting (no
// longer than its context lasts) for the bytes not yet fetched, so that
// upstream is asked once however many callers there are, and a slow
// caller never slows the fill or another caller. A caller that stops
// half way does not stop the fill either. The bytes that complete a blob
// are given to readers only once it has been verified and committed, so
// that a server streaming wrong content to a client cuts the body short
// instead of completing it. Once the blob is in the cache, readers that
// have not reached its end read the rest from the cache and the spool
// file is removed. A fill whose upstream sends nothing for
// Options.FillStallTimeout fails, and so do the reads that wait for it.
// At most Options.MaxFills fills hold spool files at once; beyond that,
// callers read the blob from upstream, verified but not cached.
//
// A request upstream for a tag, a manifest, a blob's descriptor or a
// listing that gets no answer within Options.FillStallTimeout fails too. When
// upstream fails (cannot be reached, does not answer in time, answers
// with a 5xx status, or sends a broken manifest) and the cache does not
// hold what is asked for, the error is an *ociregistry.HTTPError with
// status 502 Bad Gateway that says so, which ociserver sends with the
// specification's error body. A 401 from upstream, which refused the
// proxy's credentials, is answered as a 403 with the code DENIED.
//
// Tags move, so they are resolved upstream, and the answer is kept for
// Options.TagTTL. The manifest a tag points to is stored in the cache
// under that tag, so that when upstream fails the cache's tag is served
// instead (stale-if-error) and a warning is logged.
//
// The cache must accept manifests whose blobs it does not hold, since a
// manifest is usually pulled before its blobs: give it a registry
// created like ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences:
// true}). With a strict cache, manifests are still served but not kept.
//
// Writes are refused with ociregistry.ErrDenied unless
// Options.WritesToCache is set, when they go to the cache only. Tags and
// Repositories are listed from upstream, falling back to the cache when
// upstream fails, with anything but "not found", before listing anything;
// Referrers are listed from upstream. With WritesToCache, listings are the
// merge of upstream's and the cache's.
package ociproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
)

// DefaultTagTTL is how long a tag resolved upstream is trusted when
// Options.TagTTL is zero.
const DefaultTagTTL = time.Minute

// DefaultFillStallTimeout is how long a blob fetch waits for upstream
// to send more when Options.FillStallTimeout is zero.
const DefaultFillStallTimeout = 30 * time.Second

// DefaultMaxFills is how many blob fetches into the cache may hold
// spool files at once when Options.MaxFills is zero.
const DefaultMaxFills = 32

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

	// FillStallTimeout is how long a fetch of a blob into the cache
	// waits for upstream to answer or to send more of the blob before
	// it fails, and with it the reads waiting for it; it also bounds a
	// request upstream for a tag, a manifest, a blob's descriptor or a
	// listing. Zero means DefaultFillStallTimeout; a negative value
	// means that these wait for upstream however long it takes.
	FillStallTimeout time.Duration

	// MaxFills bounds the blob fetches into the cache that hold a
	// spool file at once: those under way, and those done whose spool
	// file a reader still holds (a reader moves on to the cache at its
	// next read, or stays on the spool file when the cache could not
	// take the blob). A caller asking for a blob beyond that reads it
	// from upstream, verified but not cached. Zero means
	// DefaultMaxFills.
	MaxFills int

	// TempDir is the directory of the spool files of blob fetches,
	// each as big as its blob; empty means os.TempDir().
	TempDir string

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

		maxTags: maxTags,
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
	if p.opts.MaxFills <= 0 {
		p.opts.MaxFills = DefaultMaxFills
	}
	p.fillSlots = make(chan struct{}, p.opts.MaxFills)
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
	// fills holds the blob fetches under way, by repo+"@"+digest.
	fillMu sync.Mutex
	fills  map[string]*fill
	// fillSlots holds a value for each fill that holds a spool file.
	fillSlots chan struct{}

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

// upstreamError returns the error that the proxy answers when upstream
// failed with err to supply what (such as "blob a/b@sha256:…") and the
// cache does not hold it. When err is a failure to get an answer (no
// connection, a broken one, a 5xx status) rather than an answer such as
// "unknown" or "denied", it is an *ociregistry.HTTPError with status 502
// Bad Gateway that says so; when upstream refused the proxy's
// credentials (401), one with status 403 and the code DENIED; otherwise
// it is err.
func (p *proxy) upstreamError(err error, what string) error {
	if isUnauthorized(err) {
		// Upstream refused the proxy's own credentials: a 401
		// would ask the client for credentials it cannot mend
		// this with.
		return &ociregistry.HTTPError{
			StatusCode: http.StatusForbidden,
			Err:        fmt.Errorf("%w: %w", ociregistry.NewError("ociproxy: upstream registry refused the proxy's credentials for "+what, "DENIED", nil), err),
		}
	}
	if !isUpstreamFailure(err) {
		return err
	}
	// The sentence is coded, so that a server passes it on while it
	// keeps the cause (an address, say) for its log.
	return &ociregistry.HTTPError{
		StatusCode: http.StatusBadGateway,
		Err:        fmt.Errorf("%w: %w", ociregistry.NewError("ociproxy: upstream registry failed and "+what+" is not cached", "UNKNOWN", nil), err),
	}
}

// isUpstreamFailure reports whether err says that upstream gave no
// answer, as upstreamError describes: no answer in time, none at all, a
// 5xx status, or broken content.
func isUpstreamFailure(err error) bool {
	if errors.Is(err, errUpstreamStalled) || errors.Is(err, errUpstreamBroken) {
		return true
	}
	if err == nil || isContextErr(err) {
		return false
	}
	var herr *ociregistry.HTTPError
	if errors.As(err, &herr) && herr.StatusCode != 0 {
		return herr.StatusCode >= 500
	}
	var rerr ociregistry.Error
	return !errors.As(err, &rerr)
}

// isUnauthorized reports whether err is upstream's 401.
func isUnauthorized(err error) bool {
	var herr *ociregistry.HTTPError
	return errors.As(err, &herr) && herr.StatusCode == http.StatusUnauthorized
}

var (
	// errUpstreamStalled says that upstream did not answer a request
	// for a tag, a manifest or a listing within FillStallTimeout.
	errUpstreamStalled = errors.New("upstream registry did not answer in time")

	// errUpstreamBroken says that what upstream sent was broken: cut
	// short, too big, or not the content of its digest.
	errUpstreamBroken = errors.New("upstream registry sent broken content")
)

// upstreamContext returns the context of one request upstream for a tag,
// a manifest or a listing: it ends FillStallTimeout after it begins (when
// that is positive), so that an upstream that accepts connections but
// never answers cannot hold the client, and the cache can stand in.
func (p *proxy) upstreamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if p.opts.FillStallTimeout < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, p.opts.FillStallTimeout, errUpstreamStalled)
}

// stalled returns err, marked as errUpstreamStalled when it came of upctx
// (from upstreamContext) ending while the caller's ctx goes on.
func stalled(ctx, upctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && context.Cause(upctx) == errUpstreamStalled && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", errUpstreamStalled, err)
	}
	return err
}

// isContextErr reports whether err comes from a context that ended.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
