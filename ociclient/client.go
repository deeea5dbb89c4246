// Package ociclient implements ociregistry.Interface by talking HTTP to a
// registry that serves the OCI distribution API: Docker Hub, GHCR, ECR,
// Quay, Harbor, CNCF Distribution, zot, or an ociserver.
//
// Errors that the registry sends are decoded into the root package's
// errors, so errors.Is(err, ociregistry.ErrManifestUnknown) holds for a
// missing manifest whichever registry answered. Requests without a
// streamed body are retried with backoff (up to Options.MaxRetries
// times): on 429, 5xx and broken connections when they are idempotent,
// and on a refused connection whatever they are, since such a request
// reached no server. Requests are
// authenticated through ociauth, with the credentials in Options.Auth.
package ociclient

import (
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
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
