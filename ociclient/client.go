// Package ociclient implements ociregistry.Interface by talking HTTP to a
// registry that serves the OCI distribution API: Docker Hub, GHCR, ECR,
// Quay, Harbor, CNCF Distribution, zot, or an ociserver.
//
// Errors that the registry sends are decoded into the root package's
// errors, so errors.Is(err, ociregistry.ErrManifestUnknown) holds for a
// missing manifest whichever registry answered. Idempotent requests are
// retried with backoff on 429, 5xx and broken connections. Requests are
// authenticated through ociauth, with the credentials in Options.Auth.
package ociclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociauth"
)

// Options holds the optional settings of a client. The zero value is
// ready to use.
type Options struct {
	// Insecure makes the client talk plain HTTP to the host. The local
	// machine (localhost, 127.0.0.1 and ::1) is reached over HTTPS when
	// a TLS server answers on its port (443 when the host names none)
	// and over plain HTTP otherwise, unless the host passed to New
	// starts with "https://" or "http://". While nothing answers on the
	// port, plain HTTP is used and the port is probed again, at most
	// once a second.
	Insecure bool

	// Transport makes the HTTP requests; nil means a clone of
	// http.DefaultTransport. The client wraps it in an ociauth.Transport
	// that answers the registry's challenges.
	Transport http.RoundTripper

	// Auth gives the credentials for the registry, such as the
	// *ociauth.Config that ociauth.Load returns. Nil means none: the
	// client still gets the anonymous tokens that registries such as
	// Docker Hub want for public content.
	Auth ociauth.CredentialsSource

	// UserAgent is sent in the User-Agent header; empty means
	// "ociregistry-client".
	UserAgent string

	// Logger, when set, receives a debug record for each request.
	Logger *slog.Logger

	// ChunkSize is the size of chunks in chunked uploads when the
	// caller gives none; zero means 8 MiB. The registry's
	// OCI-Chunk-Min-Length raises it.
	ChunkSize int

	// MaxRetries bounds the retries of an idempotent request that
	// failed with 429, 5xx or a broken connection; zero means 4 and a
	// negative value means none.
	MaxRetries int

	// MaxRetryWait bounds the wait before a retry, including one asked
	// for by Retry-After: a registry that asks for a longer wait gets
	// its error returned instead. Zero means 30 seconds.
	MaxRetryWait time.Duration

	// ListPageSize is the n parameter of tag and catalog listings;
	// zero means 1000. Referrers requests carry no n: the
	// specification gives the referrers API none, so the registry
	// chooses the size of their pages.
	ListPageSize int

	// MaxManifestSize bounds the size of a manifest read; zero means
	// 8 MiB.
	MaxManifestSize int64

	// MaxPushBuffer bounds the memory that the client's PushBlob calls
	// hold at once, all together, to keep the content of blobs read
	// from readers that cannot seek (4 MiB at most each), so that it
	// can be sent again should the registry turn down a
	// single-request upload. A push whose content does not fit is sent
	// with POST then PUT instead, unbuffered. Zero means 16 MiB; a
	// negative value means that nothing is buffered.
	MaxPushBuffer int64
}

// Defaults for the zero values of Options.
const (
	defaultChunkSize       = 8 << 20
	defaultMaxRetries      = 4
	defaultMaxRetryWait    = 30 * time.Second
	defaultListPageSize    = 1000
	defaultMaxManifestSize = 8 << 20
	defaultMaxPushBuffer   = 16 << 20
	defaultUserAgent       = "ociregistry-client"

	// maxErrorBody bounds what is read of an error response's body.
	maxErrorBody = 64 << 10
)

// retryBaseDelay is the longest first delay between retries, doubled
// after each one up to Options.MaxRetryWait. It is a variable so that
// tests need not wait.
var retryBaseDelay = 200 * time.Millisecond

// client implements ociregistry.Interface over HTTP.
type client struct {
	*ociregistry.Funcs
	// probeMu guards base, probe, probing and probed: the scheme of
	// a local host is found on use, and again on a later use for as
	// long as nothing answers on its port. It is never held across
	// the probe itself.
	probeMu sync.Mutex
	// base holds the scheme and host of the registry; read it through
	// baseURL. It is replaced, never changed, so that the URL that
	// baseURL returns can be read without the lock.
	base  *url.URL
	probe bool // whether the scheme is still to be found
	// probing is closed when the probe under way ends; nil when none
	// is.
	probing chan struct{}
	// probed is when the last probe ended, and probeEvery how long
	// after it the next may start.
	probed     time.Time
	probeEvery time.Duration
	// speaksTLS is the function speaksTLS, except in tests.
	speaksTLS func(addr string) (isTLS, reached bool)
	http      *http.Client
	opts      Options
	logger    *slog.Logger

	// noSinglePost is set once the registry has answered a
	// single-request upload by starting a session, so that later pushes
	// go straight to POST then PUT.
	noSinglePost atomic.Bool

	// pushBuffered counts the bytes that PushBlob calls hold to send
	// content again, no more than opts.MaxPushBuffer.
	pushBuffered atomic.Int64
}

// New returns an ociregistry.Interface that talks to the registry at
// host, such as "ghcr.io" or "localhost:5000". The host may start with
// "http://" or "https://" to choose the scheme; otherwise it is https,
// except for insecure hosts (see Options.Insecure). A nil opts means the
// defaults. It returns an error when host is not a valid host.
func New(host string, opts *Options) (ociregistry.Interface, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	u, probe, err := parseHost(host, o.Insecure)
	if err != nil {
		return nil, err
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = defaultChunkSize
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = defaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = defaultMaxRetryWait
	}
	if o.ListPageSize <= 0 {
		o.ListPageSize = defaultListPageSize
	}
	if o.MaxManifestSize <= 0 {
		o.MaxManifestSize = defaultMaxManifestSize
	}
	switch {
	case o.MaxPushBuffer == 0:
		o.MaxPushBuffer = defaultMaxPushBuffer
	case o.MaxPushBuffer < 0:
		o.MaxPushBuffer = 0
	}
	if o.UserAgent == "" {
		o.UserAgent = defaultUserAgent
	}
	transport := o.Transport
	if transport == nil {
		// A transport of its own, so that closing the idle
		// connections of http.DefaultTransport (as httptest servers
		// do) does not break this client's requests in flight.
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &client{
		base:       u,
		probe:      probe,
		probeEvery: probeInterval,
		speaksTLS:  speaksTLS,
		http:       &http.Client{Transport: ociauth.NewTransport(transport, o.Auth)},
		opts:       o,
		logger:     o.Logger,
	}, nil
}

// BaseURL returns the scheme and host that a client made by New with
// the same host and opts talks to, such as "https://ghcr.io" or
// "http://localhost:5000", finding the scheme of a local host as the
// client would (see Options.Insecure). It returns an error when host is
// not a valid host.
func BaseURL(host string, opts *Options) (*url.URL, error) {
	insecure := opts != nil && opts.Insecure
	u, probe, err := parseHost(host, insecure)
	if err != nil {
		return nil, err
	}
	if probe {
		// Whether or not the answer is final, this call has no
		// later one to ask again.
		u, _ = probeScheme(u, speaksTLS)
	}
	return u, nil
}

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

// kind says what a request is about, so that an error response with no
// code in its body (as every HEAD response is) maps to the right error.
type kind int

const (
	kindOther kind = iota
	kindBlob
	kindManifest
	kindUpload
	kindTags
	kindReferrers
)

// request describes one HTTP request to the registry.
type request struct {
	method string
	url    string // absolute, or a path on the registry's host
	kind   kind
	header http.Header

	// body, when not nil, is sent and can be sent again on a retry.
	body []byte
	// stream, when not nil, is sent instead of body; a request with a
	// stream is never retried. A stream that is an io.Closer is closed
	// once the request is done with it, by the transport or, when the
	// transport never gets it, by do.
	stream io.Reader
	// length is the length of stream, or -1.
	length int64

	// idempotent says that the request may be retried.
	idempotent bool
}

// url returns the absolute URL of a path on the registry.
func (c *client) url(ctx context.Context, path string, query url.Values) string {
	u := *c.baseURL(ctx)
	u.Path = path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

// do sends req, retrying it when it is idempotent, and returns the
// response when its status is 2xx. For any other status it returns the
// error that the response stands for, and closes its body.
func (c *client) do(ctx context.Context, req *request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		hreq, err := c.newRequest(ctx, req)
		if err != nil {
			// The transport closes the body of every request that
			// reaches http.Client.Do, even on errors (net/http's
			// RoundTripper contract); this one never got there. Its
			// stream is closed here so that a caller waiting for that
			// (PushBlob, to read the content again or to learn of a
			// bad length) is not left waiting. A stream is only ever
			// sent once, so this is the first attempt.
			closeStream(req)
			return nil, err
		}
		if req.stream != nil && hreq.Body == http.NoBody {
			// An empty stream is sent as http.NoBody, so the
			// transport does not close it either.
			closeStream(req)
		}
		start := time.Now()
		resp, err := c.http.Do(hreq)
		if c.logger != nil {
			c.logRequest(hreq, resp, err, time.Since(start), attempt)
		}
		canRetry := req.stream == nil && (req.idempotent || isConnRefused(err)) && attempt < c.opts.MaxRetries
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			if canRetry && isTransient(err) {
				if werr := c.wait(ctx, attempt, nil); werr != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		if canRetry && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
			werr := c.wait(ctx, attempt, resp)
			if werr == nil {
				continue
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
		}
		return nil, withRetryAfter(aboutRequest(hreq.URL, req.kind, responseError(resp, body, req.kind)), resp, c.opts.MaxRetryWait)
	}
}

// withRetryAfter adds to err, the error of resp, the wait that resp's
// Retry-After header asked for, when it has one: a 429 with no body says
// nothing else, and a caller told only "too many requests" cannot know
// that the wait was longer than it allows (maxWait, Options.MaxRetryWait).
func withRetryAfter(err error, resp *http.Response, maxWait time.Duration) error {
	ra, ok := retryAfter(resp.Header.Get("Retry-After"))
	if !ok {
		return err
	}
	if ra > maxWait {
		return fmt.Errorf("%w (the registry asks to retry after %v, longer than MaxRetryWait, %v)", err, ra, maxWait)
	}
	return fmt.Errorf("%w (the registry asks to retry after %v)", err, ra)
}

// closeStream closes req.stream when it is an io.Closer.
func closeStream(req *request) {
	if cl, ok := req.stream.(io.Closer); ok {
		cl.Close()
	}
}

// newRequest makes the http.Request for req.
func (c *client) newRequest(ctx context.Context, req *request) (*http.Request, error) {
	u := req.url
	if strings.HasPrefix(u, "/") {
		base := c.baseURL(ctx)
		u = base.Scheme + "://" + base.Host + u
	}
	var body io.Reader
	length := int64(0)
	switch {
	case req.stream != nil:
		body, length = req.stream, req.length
	case req.body != nil:
		body, length = bytes.NewReader(req.body), int64(len(req.body))
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("ociclient: %w", err)
	}
	hreq.ContentLength = length
	if length == 0 {
		// An empty body must be sent as such, with Content-Length: 0
		// where the method has a body, rather than chunked.
		hreq.Body = http.NoBody
		hreq.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	for k, v := range req.header {
		hreq.Header[k] = v
	}
	hreq.Header.Set("User-Agent", c.opts.UserAgent)
	return hreq, nil
}

// wait sleeps before retry number attempt+1: for what resp's
// Retry-After asks, or for backoff(attempt). It returns an error when the
// context ends first or when the registry asks for a longer wait than
// Options.MaxRetryWait.
func (c *client) wait(ctx context.Context, attempt int, resp *http.Response) error {
	d := backoff(attempt, c.opts.MaxRetryWait)
	if resp != nil {
		if ra, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			if ra > c.opts.MaxRetryWait {
				return fmt.Errorf("registry asks to retry after %v", ra)
			}
			d = ra
		}
	}
	d = min(d, c.opts.MaxRetryWait)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff returns the delay before retry number attempt+1: an
// exponential backoff, retryBaseDelay doubled attempt times but no more
// than maxWait, with equal jitter: half of it fixed and half random, so
// that clients that failed together do not all come back together, yet
// none comes back at once. The cap comes before the doubling can
// overflow (with a large Options.MaxRetries) and before the jitter, so
// that the jitter stays within the cap and rand.N always gets a positive
// bound.
func backoff(attempt int, maxWait time.Duration) time.Duration {
	d := maxWait
	// maxWait>>attempt is 0 once attempt reaches its width, so this
	// also holds for any attempt too large to shift by.
	if attempt >= 0 && retryBaseDelay <= maxWait>>attempt {
		d = retryBaseDelay << attempt
	}
	d = max(d, 0)
	return d/2 + rand.N(d-d/2+1)
}

// retryAfter parses a Retry-After header: a number of seconds or an HTTP
// date.
func retryAfter(h string) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs >= 0 {
		// A wait too long for a Duration is the longest one, not
		// one that overflows to a negative wait and retries at once.
		if secs > int(math.MaxInt64/time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// isTransient reports whether a request that failed with err is worth
// sending again: the connection broke or could not be made.
func isTransient(err error) bool {
	var uerr *url.Error
	if !errors.As(err, &uerr) {
		return false
	}
	// *url.Error is itself a net.Error: look inside it. A redirect
	// that could not be followed, or a credential that was refused,
	// will not get better.
	inner := uerr.Err
	var oerr *net.OpError
	return errors.As(inner, &oerr) || errors.Is(inner, io.EOF) || errors.Is(inner, io.ErrUnexpectedEOF) || errors.Is(inner, syscall.ECONNRESET)
}

// isConnRefused reports whether err says that no connection could be
// made, in which case the request reached no server and can be sent
// again whatever it is.
func isConnRefused(err error) bool {
	var oerr *net.OpError
	return errors.As(err, &oerr) && oerr.Op == "dial"
}

// responseError returns the error for an error response with the given
// body: the errors in its body when it holds the specification's JSON
// (whatever its Content-Type), or else an error chosen from the status
// and what the request was about.
func responseError(resp *http.Response, body []byte, k kind) error {
	err := ociregistry.UnmarshalError(resp.StatusCode, resp.Header, body)
	herr, ok := err.(*ociregistry.HTTPError)
	if !ok {
		return err
	}
	if herr.Err == nil {
		herr.Err = statusError(resp.StatusCode, k)
		return herr
	}
	if resp.StatusCode == http.StatusNotFound && (k == kindBlob || k == kindManifest) && errors.Is(herr.Err, ociregistry.ErrNameUnknown) {
		// Registries such as Distribution say NAME_UNKNOWN for a blob
		// or manifest in a repository that does not exist. The blob
		// or manifest is unknown too, and callers look for that.
		herr.Err = &alsoError{err: herr.Err, also: statusError(resp.StatusCode, k)}
	}
	return herr
}

// aboutRequest returns err, the error of a response to a request for u
// about k, prefixed with what the request was about, such as "manifest
// app:v1" or "blob app@sha256:…": a registry's message alone ("manifest
// unknown") does not say which, and the caller that gets it may be far
// from the request (a proxy serving it on, a copy of many images).
func aboutRequest(u *url.URL, k kind, err error) error {
	_, rest, ok := strings.Cut(u.Path, "/v2/")
	if !ok {
		return err
	}
	cut := func(sep string) (repo, ref string, ok bool) {
		i := strings.LastIndex(rest, sep)
		if i <= 0 {
			return "", "", false
		}
		return rest[:i], rest[i+len(sep):], true
	}
	at := func(repo, ref string) string {
		if strings.Contains(ref, ":") {
			return repo + "@" + ref
		}
		return repo + ":" + ref
	}
	var what string
	switch k {
	case kindManifest:
		if repo, ref, ok := cut("/manifests/"); ok {
			what = "manifest " + at(repo, ref)
		}
	case kindBlob:
		if repo, ref, ok := cut("/blobs/"); ok {
			what = "blob " + at(repo, ref)
		}
	case kindUpload:
		if repo, _, ok := cut("/blobs/uploads"); ok {
			what = "upload to " + repo
		}
	case kindTags:
		if repo, _, ok := cut("/tags/list"); ok {
			what = "tags of " + repo
		}
	case kindReferrers:
		if repo, ref, ok := cut("/referrers/"); ok {
			what = "referrers of " + at(repo, ref)
		}
	}
	if what == "" {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// alsoError is err that also Is another error, without saying so in its
// message.
type alsoError struct {
	err, also error
}

func (e *alsoError) Error() string   { return e.err.Error() }
func (e *alsoError) Unwrap() []error { return []error{e.err, e.also} }

// statusError returns the error that a status stands for in a response
// to a request about k, or nil when it stands for none in particular.
func statusError(status int, k kind) error {
	switch status {
	case http.StatusNotFound:
		switch k {
		case kindBlob:
			return ociregistry.ErrBlobUnknown
		case kindManifest:
			return ociregistry.ErrManifestUnknown
		case kindUpload:
			return ociregistry.ErrBlobUploadUnknown
		}
		return ociregistry.ErrNameUnknown
	case http.StatusBadRequest:
		switch k {
		case kindManifest:
			return ociregistry.ErrManifestInvalid
		case kindUpload:
			return ociregistry.ErrBlobUploadInvalid
		}
	case http.StatusUnauthorized:
		return ociregistry.ErrUnauthorized
	case http.StatusForbidden:
		return ociregistry.ErrDenied
	case http.StatusTooManyRequests:
		return ociregistry.ErrTooManyRequests
	case http.StatusRequestedRangeNotSatisfiable:
		return ociregistry.ErrRangeInvalid
	case http.StatusMethodNotAllowed:
		return ociregistry.ErrUnsupported
	}
	return nil
}

// logRequest writes a debug record for a request.
func (c *client) logRequest(req *http.Request, resp *http.Response, err error, d time.Duration, attempt int) {
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("url", req.URL.Redacted()),
		slog.Duration("duration", d),
	}
	if attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", attempt+1))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	c.logger.LogAttrs(context.Background(), slog.LevelDebug, "ociclient request", attrs...)
}

// repoPath returns the path of something in repo: /v2/<repo>/<rest>.
func repoPath(repo string, rest ...string) string {
	return "/v2/" + repo + "/" + strings.Join(rest, "/")
}

// checkRepo checks a repository name before it goes into a URL.
func checkRepo(repo string) error {
	return ociregistry.CheckRepository(repo)
}
