package toolstest

import (
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"testing"
)

// Balancer is a round-robin HTTP load balancer for tests: each request
// goes to the next of its backends in turn, as a load balancer in front
// of several registry replicas would send them, so that consecutive
// requests of one client (the PATCHes of an upload, a push and the pull
// after it) land on different replicas.
type Balancer struct {
	// Host is the balancer's address, 127.0.0.1:port.
	Host string

	next     atomic.Uint64
	mu       sync.Mutex
	backends []string
	counts   []int
}

// StartBalancer serves a Balancer over backends (host:port each) on a
// free port of 127.0.0.1 until the test ends.
func StartBalancer(t testing.TB, backends ...string) *Balancer {
	t.Helper()
	if len(backends) == 0 {
		t.Fatal("StartBalancer needs at least one backend")
	}
	b := &Balancer{backends: backends, counts: make([]int, len(backends))}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			i := b.pick()
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = b.backend(i)
			// The replicas see the balancer's host, as behind a real
			// load balancer, so any absolute URL they make points
			// back at it.
			r.Out.Host = r.In.Host
		},
		// Stream uploads and downloads as they come.
		FlushInterval: -1,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	b.Host = l.Addr().String()
	return b
}

// pick returns the index of the backend for the next request.
func (b *Balancer) pick() int {
	i := int((b.next.Add(1) - 1) % uint64(len(b.backends)))
	b.mu.Lock()
	b.counts[i]++
	b.mu.Unlock()
	return i
}

func (b *Balancer) backend(i int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.backends[i]
}

// SetBackend replaces backend i, as when a replica is restarted on
// another port.
func (b *Balancer) SetBackend(i int, host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends[i] = host
}

// Counts returns how many requests each backend has been sent.
func (b *Balancer) Counts() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.counts...)
}
