package main

import (
	"net/http"
	"strconv"
	"strings"
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
