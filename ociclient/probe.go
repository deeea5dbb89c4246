package ociclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// parseHost returns the URL of the registry at host, as New takes it,
// and whether its scheme is to be found by speaksTLS.
func parseHost(host string, insecure bool) (u *url.URL, probe bool, err error) {
	scheme := ""
	if rest, ok := strings.CutPrefix(host, "https://"); ok {
		scheme, host = "https", rest
	} else if rest, ok := strings.CutPrefix(host, "http://"); ok {
		scheme, host = "http", rest
	}
	host = strings.TrimSuffix(host, "/")
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		return nil, false, fmt.Errorf("ociclient: invalid registry host %q", host)
	}
	if scheme == "" {
		scheme = "https"
		if insecure || isLocal(host) {
			scheme = "http"
			probe = !insecure
		}
	}
	u, err = url.Parse(scheme + "://" + host)
	if err != nil || u.Host != host {
		return nil, false, fmt.Errorf("ociclient: invalid registry host %q", host)
	}
	return u, probe, nil
}

// baseURL returns the scheme and host of the registry. For a local host
// named without a scheme, it finds the scheme: a registry served with
// TLS on the local machine (ocireg serve --tls-cert, say) is then
// reached as one would expect, and any other over plain HTTP. The answer
// is kept once a server answered the probe; while nothing listens on
// the port (the registry may not have started yet), plain HTTP is used
// and a call at least probeEvery after the last probe probes again, so
// that a client made before its registry started does not stay on the
// wrong scheme, yet a client of a registry that is down does not dial
// twice for each request. Calls made while a probe is under way wait
// for its answer, or until ctx ends.
func (c *client) baseURL(ctx context.Context) *url.URL {
	c.probeMu.Lock()
	for c.probing != nil {
		probing := c.probing
		c.probeMu.Unlock()
		select {
		case <-probing:
		case <-ctx.Done():
			// The request fails with ctx's error whatever its
			// URL.
			c.probeMu.Lock()
			defer c.probeMu.Unlock()
			return c.base
		}
		c.probeMu.Lock()
	}
	if !c.probe || !c.probed.IsZero() && time.Since(c.probed) < c.probeEvery {
		defer c.probeMu.Unlock()
		return c.base
	}
	probing := make(chan struct{})
	c.probing = probing
	base := c.base
	c.probeMu.Unlock()

	u, final := probeScheme(base, c.speaksTLS)

	c.probeMu.Lock()
	c.probing, c.probed = nil, time.Now()
	if final {
		c.base, c.probe = u, false
	}
	c.probeMu.Unlock()
	close(probing)
	return u
}

// probeInterval is how long after a probe that reached nothing a client
// waits before it probes again.
const probeInterval = time.Second

// probeScheme returns u, the URL of a local host with the scheme http,
// with the scheme https instead when a TLS server answers on its port.
// It also reports whether the answer is final: it is when a server
// answered, with TLS or without, and not when nothing could be dialed,
// which says nothing about the server that may listen there later.
func probeScheme(u *url.URL, speaksTLS func(addr string) (isTLS, reached bool)) (*url.URL, bool) {
	isTLS, reached := speaksTLS(probeAddr(u))
	if !isTLS {
		return u, reached
	}
	v := *u
	v.Scheme = "https"
	return &v, true
}

// probeAddr returns the address that probeScheme dials for u: its host
// and port, or port 443 when it names none, since a registry reached
// over HTTPS at that host would be on that port (a dial without a port
// always fails).
func probeAddr(u *url.URL) string {
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return u.Host
}

// speaksTLS reports whether a TLS handshake with the server at addr
// succeeds, and whether a server was reached at all: reached is false
// only when the connection could not be made. The handshake only tells
// TLS from plain HTTP, so the certificate is not checked here: requests
// check it, through the client's transport.
func speaksTLS(addr string) (isTLS, reached bool) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, false
	}
	defer conn.Close()
	// The dial and the handshake are made apart, unlike with
	// tls.Dialer, to tell a server that is not there from one that
	// does not speak TLS. ServerName is sent as SNI, as tls.Dialer
	// would, for a server that chooses its certificate by it.
	host, _, _ := net.SplitHostPort(addr)
	tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	return tc.HandshakeContext(ctx) == nil, true
}

// probeTimeout bounds the handshake that finds a local host's scheme.
const probeTimeout = 2 * time.Second

// isLocal reports whether host names the local machine, which is
// reached over plain HTTP unless asked otherwise.
func isLocal(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}
