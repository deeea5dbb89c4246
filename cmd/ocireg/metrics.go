package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ociproxy"
)

// metrics holds what /metrics reports. Each server has its own
// prometheus.Registry rather than the global one, so that tests can run
// several servers in one process.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	bytesIn    *prometheus.CounterVec
	bytesOut   *prometheus.CounterVec
	cacheHits  *prometheus.CounterVec
	cacheMiss  *prometheus.CounterVec
	handlerFor http.Handler
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocireg_http_requests_total",
			Help: "HTTP requests answered, by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ocireg_http_request_duration_seconds",
			Help:    "Time taken to answer HTTP requests, by route and method.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 60, 300},
		}, []string{"route", "method"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocireg_http_request_bytes_total",
			Help: "Bytes of request bodies read, by route.",
		}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocireg_http_response_bytes_total",
			Help: "Bytes of response bodies written, by route.",
		}, []string{"route"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocireg_proxy_cache_hits_total",
			Help: "Blobs and manifests a proxy served from its cache, by kind.",
		}, []string{"kind"}),
		cacheMiss: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocireg_proxy_cache_misses_total",
			Help: "Blobs and manifests a proxy fetched from upstream, by kind.",
		}, []string{"kind"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.bytesIn, m.bytesOut, m.cacheHits, m.cacheMiss,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handlerFor = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// observe counts one answered request.
func (m *metrics) observe(req *http.Request, status int, in, out int64, d time.Duration) {
	route, method := routeOf(req.URL.Path), methodOf(req.Method)
	m.requests.WithLabelValues(route, method, statusOf(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
	m.bytesIn.WithLabelValues(route).Add(float64(in))
	m.bytesOut.WithLabelValues(route).Add(float64(out))
}

// methodOf returns method when it is one the registry API or the
// server's own endpoints answer, and "other" for any other: a client
// may send any token as a method, even before it is authenticated, and
// each label value is a series the server keeps for ever.
func methodOf(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// statusOf returns status as a label value. The statuses a handler
// writes are its own, but a handler further in may pass on a status it
// got from elsewhere (an upstream registry), so only three-digit codes
// are kept and anything else counts as "other".
func statusOf(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

// routeOf names the route of path with a small fixed set of names, so
// that repository names and digests do not make label values without end.
func routeOf(path string) string {
	switch {
	case path == "/v2/" || path == "/v2":
		return "base"
	case path == "/v2/_catalog":
		return "catalog"
	case path == "/metrics", path == "/healthz":
		return path[1:]
	case !strings.HasPrefix(path, "/v2/"):
		return "other"
	case strings.Contains(path, "/blobs/uploads"):
		return "uploads"
	case strings.Contains(path, "/blobs/"):
		return "blobs"
	case strings.Contains(path, "/manifests/"):
		return "manifests"
	case strings.HasSuffix(path, "/tags/list"):
		return "tags"
	case strings.Contains(path, "/referrers/"):
		return "referrers"
	}
	return "other"
}

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
