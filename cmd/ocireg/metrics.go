package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ocireg/ociregistry"
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
	route := routeOf(req.URL.Path)
	m.requests.WithLabelValues(route, req.Method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, req.Method).Observe(d.Seconds())
	m.bytesIn.WithLabelValues(route).Add(float64(in))
	m.bytesOut.WithLabelValues(route).Add(float64(out))
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
// hits and misses in m. ociproxy has no hook for them, so they are
// counted at its edges: a blob or manifest read from the cache
// successfully is a hit, and one read from upstream is a miss.
func newProxy(upstream, cache ociregistry.Interface, opts *ociproxy.Options, m *metrics) ociregistry.Interface {
	if m != nil {
		upstream = &countingRegistry{Interface: upstream, counter: m.cacheMiss, countErrors: true}
		cache = &countingRegistry{Interface: cache, counter: m.cacheHits}
	}
	return ociproxy.New(upstream, cache, opts)
}

// countingRegistry counts the blob and manifest reads of the registry it
// wraps.
type countingRegistry struct {
	ociregistry.Interface
	counter *prometheus.CounterVec
	// countErrors counts failed reads too.
	countErrors bool
}

func (r *countingRegistry) count(kind string, err error) {
	if err == nil || r.countErrors {
		r.counter.WithLabelValues(kind).Inc()
	}
}

func (r *countingRegistry) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	rd, err := r.Interface.GetBlob(ctx, repo, dg)
	r.count("blob", err)
	return rd, err
}

func (r *countingRegistry) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	rd, err := r.Interface.GetBlobRange(ctx, repo, dg, o0, o1)
	r.count("blob", err)
	return rd, err
}

func (r *countingRegistry) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	rd, err := r.Interface.GetManifest(ctx, repo, dg)
	r.count("manifest", err)
	return rd, err
}
