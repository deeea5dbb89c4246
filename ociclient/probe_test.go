package ociclient

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
)

// TestProbeHoldsNoLock checks that the probe of a local host's scheme
// holds no lock while it dials and shakes hands: here with a server
// that accepts connections and never answers, so that the handshake
// waits for probeTimeout. A call whose context has ended meanwhile
// returns at once.
func TestProbeHoldsNoLock(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	qt.Assert(t, qt.IsNil(err))
	defer l.Close()
	var conns []net.Conn
	var connsMu sync.Mutex
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, conn)
			connsMu.Unlock()
			accepted <- struct{}{}
		}
	}()
	defer func() {
		connsMu.Lock()
		defer connsMu.Unlock()
		for _, conn := range conns {
			conn.Close()
		}
	}()
	ci, err := New(l.Addr().String(), nil)
	qt.Assert(t, qt.IsNil(err))
	c := ci.(*client)

	probed := make(chan string)
	go func() { probed <- c.baseURL(context.Background()).Scheme }()
	<-accepted
	// The probe is under way, waiting for the handshake.
	qt.Assert(t, qt.IsTrue(c.probeMu.TryLock()), qt.Commentf("the probe holds the lock"))
	c.probeMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	qt.Assert(t, qt.Equals(c.baseURL(ctx).Scheme, "http"))
	qt.Assert(t, qt.IsTrue(time.Since(start) < probeTimeout/2), qt.Commentf("a call with an ended context waited %v for the probe", time.Since(start)))
	qt.Assert(t, qt.Equals(<-probed, "http"))
}

// TestProbeAtMostOncePerInterval checks that while nothing listens on a
// local host's port, the port is probed at most once per probeEvery,
// however many requests are made, and that calls made while a probe is
// under way wait for its answer.
func TestProbeAtMostOncePerInterval(t *testing.T) {
	ci, err := New(freeAddr(t), nil)
	qt.Assert(t, qt.IsNil(err))
	c := ci.(*client)
	var probes atomic.Int32
	c.speaksTLS = func(string) (bool, bool) {
		probes.Add(1)
		return false, false
	}
	ctx := context.Background()
	for range 10 {
		qt.Assert(t, qt.Equals(c.baseURL(ctx).Scheme, "http"))
	}
	qt.Assert(t, qt.Equals(probes.Load(), int32(1)))

	// Once the interval has passed, the next call probes again; this
	// time a TLS server answers, slowly, and the calls made meanwhile
	// wait for that answer.
	c.probeMu.Lock()
	c.probed = time.Now().Add(-2 * c.probeEvery)
	c.probeMu.Unlock()
	entered := make(chan struct{})
	release := make(chan struct{})
	c.speaksTLS = func(string) (bool, bool) {
		probes.Add(1)
		close(entered)
		<-release
		return true, true
	}
	schemes := make(chan string, 5)
	go func() { schemes <- c.baseURL(ctx).Scheme }()
	<-entered
	for range 4 {
		go func() { schemes <- c.baseURL(ctx).Scheme }()
	}
	close(release)
	for range 5 {
		qt.Assert(t, qt.Equals(<-schemes, "https"))
	}
	qt.Assert(t, qt.Equals(probes.Load(), int32(2)))
}
