package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociproxy"
	"github.com/ocireg/ociregistry/ocis3"
)

const serveUsage = `usage: ocireg serve [flags]

Serve an OCI registry over HTTP (HTTPS with --tls-cert and --tls-key) until
SIGINT or SIGTERM, then shut down gracefully. The address served is logged on
stderr and printed on stdout as a URL (http://HOST:PORT or https://HOST:PORT)
on a line of its own.

Without flags, the registry is kept on disk under ./ocireg-data. --mem keeps
it in memory instead, --upstream makes it a pull-through cache of another
registry, and --config composes registries from a YAML file (see "ocireg
help config"); --config cannot be combined with --mem, --dir, --upstream,
--read-only or --lax-references, and the other flags given override the
file's settings. --lax-references accepts manifests whose config, layers or
child manifests have not been pushed (yet).

Besides the registry API under /v2/, the server answers /healthz (200 "ok")
and /metrics (Prometheus text format); neither asks for credentials.

What a client can make the server hold is bounded: the size and time of
request headers, the idle time of bodies, of responses and of uploads, the
number of uploads in progress and, in memory, the bytes they hold (see the
flags below; a request past a limit gets 431 or 429 with Retry-After).

Exit status: 0 after SIGINT or SIGTERM and a clean shutdown; 2 for a wrong
flag, config, htpasswd or TLS file, or an address that cannot be listened
on (then nothing is made: the registry is made after listening); 1 when
serving fails.

With --htpasswd, every request under /v2/ needs Basic credentials of a user
in the file (bcrypt hashes only, as made by "htpasswd -B"); without access
rules in the config file, every such user may pull, push and delete. A
config file's token section also gives them bearer tokens (docker's token
protocol) at /token ("ocireg help config").

Flags:
`

// serveConfig is what the serve flags and the config file select.
type serveConfig struct {
	addr            string
	addrFile        string
	mem             bool
	dir             string
	upstream        string
	readOnly        bool
	laxReferences   bool
	noAnonMount     bool
	configFile      string
	s3Stores        []*ocis3.Registry // built from configFile, for gc
	tlsCert         string
	tlsKey          string
	htpasswd        string
	logFormat       string
	shutdownTimeout time.Duration
	idleTimeout     time.Duration
	readTimeout     time.Duration
	writeTimeout    time.Duration
	headerTimeout   time.Duration
	headerBytes     sizeLimit
	uploadTimeout   time.Duration
	maxUploads      int
	memUploadBytes  sizeLimit

	// From the config file only.
	// buildRegistry makes the registry the file describes, once the
	// logger is known; nil: choose from the flags.
	buildRegistry func(*slog.Logger) (ociregistry.Interface, error)
	registry      ociregistry.Interface // set by buildRegistry's result
	backend       string                // the registry's name in the logs
	rules         []accessRule
	token         *tokenConfig  // nil: no token service
	events        *eventsConfig // nil: no events
	issuers       []issuerConfig

	metrics *metrics
}

// usageError is an error in the command line or the config file: serve
// exits with exitUsage for it, before anything listens.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// runServe implements "ocireg serve" and returns the exit code. It serves
// until ctx is done.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:5000", "`host:port` to listen on; port 0 picks a free port")
	fs.StringVar(&cfg.addrFile, "addr-file", "", "once listening, write the address (host:port) to this `file`")
	fs.BoolVar(&cfg.mem, "mem", false, "keep the registry in memory; it is lost when the server stops")
	fs.StringVar(&cfg.dir, "dir", "ocireg-data", "keep the registry in this `directory` (created if missing)")
	fs.StringVar(&cfg.upstream, "upstream", "", "serve as a pull-through cache of the registry at this `URL` (https://host, http://host or host),\nkeeping what it pulls in --dir or in memory with --mem; credentials come from the docker config;\npushes are refused")
	fs.BoolVar(&cfg.readOnly, "read-only", false, "refuse every push and delete (403 DENIED)")
	fs.BoolVar(&cfg.laxReferences, "lax-references", false, "accept manifests whose config, layers or child manifests are not pushed (yet),\nfor clients that push a manifest and its blobs at once")
	fs.BoolVar(&cfg.noAnonMount, "no-anonymous-mount", false, "answer a mount without from= with an upload session (202), as CNCF Distribution does,\nrather than mount the blob from any repository that holds it")
	fs.StringVar(&cfg.configFile, "config", "", "compose the registry and set the server up from this YAML `file`")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "serve HTTPS with the certificate (PEM, chain first) in this `file`; needs --tls-key")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "serve HTTPS with the private key (PEM) in this `file`; needs --tls-cert")
	fs.StringVar(&cfg.htpasswd, "htpasswd", "", "ask for Basic credentials checked against this htpasswd `file` (bcrypt entries)")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let requests in flight finish on shutdown")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 2*time.Minute, "close keep-alive connections idle for this long")
	fs.DurationVar(&cfg.readTimeout, "read-timeout", time.Minute, "fail a request whose client stops sending its body for this long; the deadline\nmoves as data arrives, so big uploads are fine (for headers, see --header-timeout)")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", time.Minute, "fail a response whose client stops reading it for this long; the deadline\nmoves as data is sent, so big downloads are fine")
	fs.DurationVar(&cfg.headerTimeout, "header-timeout", defaultHeaderTimeout, "close a connection whose client takes longer than this to send a request's headers")
	cfg.headerBytes = defaultHeaderBytes
	fs.Var(&cfg.headerBytes, "max-header-bytes", "answer 431 and close the connection when a request's headers are bigger than this `size`\n(bytes, or a number with KiB or MiB)")
	fs.DurationVar(&cfg.uploadTimeout, "upload-timeout", defaultUploadTimeout, "abandon a chunked upload that has had no data for this long, freeing what it holds")
	fs.IntVar(&cfg.maxUploads, "max-uploads", defaultMaxUploads, "answer 429 to a new upload while this many are in progress (0: no limit)")
	cfg.memUploadBytes = defaultMemUploadBytes
	fs.Var(&cfg.memUploadBytes, "mem-max-upload-bytes", "for a registry in memory, answer 429 to uploads that would make those in progress\nhold more than this `size` together (0: no limit)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ocireg serve: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkServeFlags(&cfg, set); err != nil {
		fmt.Fprintf(stderr, "ocireg serve: %v\n", err)
		return exitUsage
	}
	cfg.metrics = newMetrics()
	if cfg.configFile != "" {
		if err := loadConfigFile(&cfg, set); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	}
	logs := newLogBuffer(stderr)
	defer logs.Close()
	logger, err := newLogger(logs, cfg.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "ocireg serve: %v\n", err)
		return exitUsage
	}
	if err := serve(ctx, &cfg, logger, stdout); err != nil {
		var ce configErrors
		switch {
		case errors.As(err, &ce):
			// Each line starts with the file's name.
			fmt.Fprintln(stderr, ce)
			return exitUsage
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "ocireg serve: %v\n", err)
			return exitUsage
		}
		logger.Error("serve failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// checkServeFlags reports flags that cannot go together.
func checkServeFlags(cfg *serveConfig, set map[string]bool) error {
	if cfg.configFile != "" {
		for _, name := range []string{"mem", "dir", "upstream", "read-only", "lax-references"} {
			if set[name] {
				return fmt.Errorf("--%s cannot be used with --config: say it in the config file", name)
			}
		}
	}
	if cfg.mem && set["dir"] {
		return errors.New("--mem and --dir cannot be used together")
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	return nil
}

// newLogger returns a logger writing to w in the given format.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		if lb, ok := w.(*logBuffer); ok {
			return slog.New(&textHandler{TextHandler: slog.NewTextHandler(lb, nil), w: lb}), nil
		}
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("unknown --log-format %q (want text or json)", format)
}

// openRegistry returns the registry that serve serves, chosen by the
// config file or the flags, and a name for it in the logs.
func openRegistry(cfg *serveConfig, logger *slog.Logger, m *metrics) (ociregistry.Interface, string, error) {
	if cfg.registry != nil {
		return cfg.registry, cfg.backend, nil
	}
	var (
		reg     ociregistry.Interface
		backend string
	)
	// A proxy's cache receives manifests before their blobs.
	lax := cfg.upstream != "" || cfg.laxReferences
	if cfg.mem {
		tuneGCForMemory()
		reg, backend = ocimem.NewWithConfig(cfg.memConfig(lax)), "memory"
	} else {
		r, err := ocifs.New(cfg.dir, cfg.fsOptions(lax))
		if err != nil {
			return nil, "", usageError{fmt.Errorf("--dir: %w", err)}
		}
		reg, backend = r, "dir "+cfg.dir
	}
	if cfg.upstream != "" {
		auth, err := ociauth.Load()
		if err != nil {
			return nil, "", usageError{fmt.Errorf("reading the docker config for --upstream: %w", err)}
		}
		up, err := ociclient.New(cfg.upstream, &ociclient.Options{Auth: auth, Logger: logger})
		if err != nil {
			return nil, "", usageError{fmt.Errorf("--upstream: %w", err)}
		}
		reg = newProxy(up, reg, &ociproxy.Options{Logger: logger}, m)
		backend = "proxy of " + cfg.upstream + " cached in " + backend
	}
	if cfg.readOnly {
		reg = ocifilter.ReadOnly(reg)
		backend = "read-only " + backend
	}
	return reg, backend, nil
}

// serve listens on cfg.addr and serves the registry until ctx is done,
// then shuts down gracefully. It returns a usageError when the settings
// are wrong or the address cannot be listened on, before it has made or
// opened anything, and an error when serving fails or when requests are
// still in flight after cfg.shutdownTimeout.
func serve(ctx context.Context, cfg *serveConfig, logger *slog.Logger, stdout io.Writer) error {
	m := cfg.metrics
	if m == nil {
		m = newMetrics()
	}
	// Work in the background (event deliveries, requests to issuers)
	// goes on while requests finish at shutdown, and ends with serve.
	bctx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	defer func() {
		stopBackground()
		background.Wait()
	}()
	var auth *authenticator
	if cfg.htpasswd != "" || len(cfg.issuers) > 0 {
		auth = &authenticator{users: &htpasswd{hashes: map[string][]byte{}, verified: map[string][32]byte{}}}
		if cfg.htpasswd != "" {
			var err error
			if auth.users, err = loadHtpasswd(cfg.htpasswd); err != nil {
				return usageError{err}
			}
		}
		if len(cfg.issuers) > 0 {
			auth.oidc = newOIDCAuth(bctx, cfg.issuers, &http.Client{Transport: http.DefaultTransport})
			auth.logger = logger
		}
	}
	var tlsConfig *tls.Config
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return usageError{fmt.Errorf("loading the TLS certificate: %w", err)}
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	// Listening comes before the registry is made: a port that is busy
	// (another server, or this one started twice) must leave no data
	// directory behind and open nothing.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return usageError{err}
	}
	defer ln.Close()
	var events *outbox
	if cfg.events != nil {
		// Before the registry, which may make directories: an
		// outbox that cannot be had makes nothing.
		if events, err = openOutbox(*cfg.events); err != nil {
			return usageError{err}
		}
		events.logger = logger
		defer events.close()
	}
	if cfg.buildRegistry != nil {
		// Only now, with the whole file known good, are directories
		// made, and with the logger the proxies and clients need.
		if cfg.registry, err = cfg.buildRegistry(logger); err != nil {
			return usageError{err}
		}
	}
	var tokens *tokenService
	if cfg.token != nil {
		if tokens, err = newTokenService(*cfg.token, auth, cfg.rules); err != nil {
			return usageError{err}
		}
		if cfg.token.keyFile == "" {
			logger.Warn("token: no key file; tokens are signed with a key made at start, which other replicas do not know and a restart forgets")
		}
	}
	reg, backend, err := openRegistry(cfg, logger, m)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	if events != nil {
		reg = withEvents(reg, events, eventSource{Addr: ln.Addr().String(), InstanceID: newEventID()}, scheme, logger)
	}
	handler, sweep := newHandler(reg, auth, cfg.rules, tokens, logger, m, cfg.serverLimits(), cfg.noAnonMount)
	if events != nil {
		handler = withEventRequest(handler)
		// What is not delivered waits in the outbox for the next
		// start.
		client := &http.Client{
			Transport: http.DefaultTransport,
			// A redirect that turns the POST into a GET would
			// be taken for a delivery: only 307 and 308 keep it.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if req.Response.StatusCode != http.StatusTemporaryRedirect && req.Response.StatusCode != http.StatusPermanentRedirect || len(via) >= 10 {
					return http.ErrUseLastResponse
				}
				return nil
			},
		}
		for i := range cfg.events.endpoints {
			background.Go(func() { events.deliver(bctx, i, client, logger) })
		}
	}
	if auth != nil && auth.oidc != nil {
		// An issuer that cannot be reached is said at start, not
		// only when the first token of its is refused.
		background.Go(func() {
			if err := auth.oidc.discoverAll(bctx); err != nil && bctx.Err() == nil {
				logger.Warn("issuers: cannot be reached yet (asked again when a token of theirs comes)", "err", err)
			}
		})
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler: handler,
		// No overall ReadTimeout or WriteTimeout: big blobs
		// legitimately take long. Instead, the handler moves a read
		// deadline forward as request data arrives and a write
		// deadline forward as response data goes out (see
		// idleReadTimeout and idleWriteTimeout), so a client that
		// stops sending or reading is cut off while one that keeps
		// going is not.
		ReadHeaderTimeout: cfg.headerTimeout,
		MaxHeaderBytes:    int(cfg.headerBytes),
		IdleTimeout:       cfg.idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	url := scheme + "://" + addr
	logger.Info("listening on "+url, "addr", addr, "backend", backend)
	fmt.Fprintln(stdout, url)
	if cfg.addrFile != "" {
		if err := writeFileAtomic(cfg.addrFile, []byte(addr+"\n")); err != nil {
			srv.Close()
			return err
		}
	}

	// Abandoned uploads are cancelled while the server runs, not only
	// when a new upload comes, so that an idle server frees what they
	// hold. The sweep runs here, in serve's own goroutine: nothing is
	// left running after serve returns.
	sweeps := time.NewTicker(uploadSweepInterval(cfg.uploadTimeout))
	defer sweeps.Stop()
wait:
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serving: %w", err)
		case <-sweeps.C:
			sweep(ctx)
		case <-ctx.Done():
			break wait
		}
	}
	logger.Info("shutting down", "timeout", cfg.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// writeFileAtomic writes data to name through a rename, so that a process
// polling for name never reads it half-written.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
