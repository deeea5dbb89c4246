package ocitest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociserver"
)

// NewServer serves r over plain HTTP with ociserver's default options on
// a loopback port, and returns the server's host, such as
// "127.0.0.1:34567", for a client to talk to. The server is shut down
// when t's test ends, after the requests in flight have finished (for at
// most 10 seconds). It calls t.Fatal when it cannot listen.
func NewServer(t testing.TB, r ociregistry.Interface) string {
	t.Helper()
	// Not httptest.Server: its Close calls CloseIdleConnections on
	// http.DefaultTransport, which breaks requests that other parallel
	// tests are making through it at that moment.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ocitest.NewServer: %v", err)
	}
	var mu sync.Mutex
	fresh := map[net.Conn]bool{}
	srv := &http.Server{
		Handler:           ociserver.New(r, nil),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, state http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if state == http.StateNew {
				fresh[c] = true
			} else {
				delete(fresh, c)
			}
		},
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		// Shutdown waits up to 5 seconds for connections that have
		// not sent a request yet; the test is over, so none will.
		mu.Lock()
		for c := range fresh {
			c.Close()
		}
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ocitest.NewServer: serving: %v", err)
		}
	})
	return l.Addr().String()
}
