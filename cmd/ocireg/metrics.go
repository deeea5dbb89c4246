package main

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

	mu       sync.Mutex // held while a series is made
	children [len(routeNames)][len(methodNames)]atomic.Pointer[routeMethod]
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
	rm := m.children[route][method].Load()
	if rm == nil {
		rm = m.newRouteMethod(route, method)
	}
	rm.requests(status).Inc()
	rm.duration.Observe(d.Seconds())
	rm.bytesIn.Add(float64(in))
	rm.bytesOut.Add(float64(out))
}

// routeMethod holds the series of one route and method. Looking a series
// up by its label values hashes them and takes a lock on every request;
// these are looked up once.
type routeMethod struct {
	m                 *metrics
	route, method     string
	duration          prometheus.Observer
	bytesIn, bytesOut prometheus.Counter
	// statuses holds the request counters by status seen so far,
	// replaced as a whole (under m.mu) when a new status comes.
	statuses atomic.Pointer[[]statusCounter]
}

type statusCounter struct {
	status int
	c      prometheus.Counter
}

// newRouteMethod returns the series of route and method, made on their
// first request so that /metrics shows only what was asked for.
func (m *metrics) newRouteMethod(route, method int) *routeMethod {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rm := m.children[route][method].Load(); rm != nil {
		return rm
	}
	r, mt := routeNames[route], methodNames[method]
	rm := &routeMethod{
		m:        m,
		route:    r,
		method:   mt,
		duration: m.duration.WithLabelValues(r, mt),
		bytesIn:  m.bytesIn.WithLabelValues(r),
		bytesOut: m.bytesOut.WithLabelValues(r),
	}
	rm.statuses.Store(&[]statusCounter{})
	m.children[route][method].Store(rm)
	return rm
}

// requests returns the request counter for status.
func (rm *routeMethod) requests(status int) prometheus.Counter {
	for _, sc := range *rm.statuses.Load() {
		if sc.status == status {
			return sc.c
		}
	}
	rm.m.mu.Lock()
	defer rm.m.mu.Unlock()
	old := *rm.statuses.Load()
	for _, sc := range old {
		if sc.status == status {
			return sc.c
		}
	}
	c := rm.m.requests.WithLabelValues(rm.route, rm.method, statusOf(status))
	// Statuses out of range share the "other" series; keeping them
	// apart here too would let the list grow without bound.
	if status < 100 || status > 599 {
		return c
	}
	statuses := append(slices.Clip(old), statusCounter{status, c})
	rm.statuses.Store(&statuses)
	return c
}

// methodNames are the values of the method label: the methods that the
// registry API or the server's own endpoints answer, and "other".
var methodNames = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions, "other",
}

// methodOf returns the index in methodNames of method, the last (other)
// for any method the server does not answer: a client may send any token
// as a method, even before it is authenticated, and each label value is
// a series the server keeps for ever.
func methodOf(method string) int {
	for i, name := range methodNames[:len(methodNames)-1] {
		if method == name {
			return i
		}
	}
	return len(methodNames) - 1
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

// routeNames are the values of the route label: a small fixed set, so
// that repository names and digests do not make label values without
// end.
var routeNames = [...]string{"base", "catalog", "metrics", "healthz", "uploads", "blobs", "manifests", "tags", "referrers", "token", "other"}

const (
	routeBase = iota
	routeCatalog
	routeMetrics
	routeHealthz
	routeUploads
	routeBlobs
	routeManifests
	routeTags
	routeReferrers
	routeToken
	routeOther
)

// routeOf returns the index in routeNames of the route of path.
func routeOf(path string) int {
	switch {
	case path == "/v2/" || path == "/v2":
		return routeBase
	case path == "/v2/_catalog":
		return routeCatalog
	case path == "/metrics":
		return routeMetrics
	case path == "/healthz":
		return routeHealthz
	case path == tokenPath:
		return routeToken
	case !strings.HasPrefix(path, "/v2/"):
		return routeOther
	case strings.Contains(path, "/blobs/uploads"):
		return routeUploads
	case strings.Contains(path, "/blobs/"):
		return routeBlobs
	case strings.Contains(path, "/manifests/"):
		return routeManifests
	case strings.HasSuffix(path, "/tags/list"):
		return routeTags
	case strings.Contains(path, "/referrers/"):
		return routeReferrers
	}
	return routeOther
}
