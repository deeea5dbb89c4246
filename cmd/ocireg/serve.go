package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
)

const serveUsage = `usage: ocireg serve [flags]

Serve an OCI registry over plain HTTP until SIGINT or SIGTERM, then shut
down gracefully. The address served is logged on stderr and printed on
stdout as a URL (http://HOST:PORT) on a line of its own.

Flags:
`

// serveConfig is what the serve flags select. Backend choices (--mem
// today, --dir later) only meet in openRegistry.
type serveConfig struct {
	addr            string
	addrFile        string
	mem             bool
	logFormat       string
	shutdownTimeout time.Duration
}

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
	fs.BoolVar(&cfg.mem, "mem", false, "keep the registry in memory (the only backend so far, so the default)")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long to let requests in flight finish on shutdown")
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
	logger, err := newLogger(stderr, cfg.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "ocireg serve: %v\n", err)
		return exitUsage
	}
	if err := serve(ctx, &cfg, logger, stdout); err != nil {
		logger.Error("serve failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// newLogger returns a logger writing to w in the given format.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, fmt.Errorf("unknown --log-format %q (want text or json)", format)
}

// openRegistry returns the registry that serve serves and a name for it
// in the logs.
func openRegistry(cfg *serveConfig) (ociregistry.Interface, string, error) {
	// Memory is the only backend so far, so it is also what serve uses
	// when no backend flag is given; --dir will be chosen here.
	return ocimem.New(), "memory", nil
}

// serve listens on cfg.addr and serves the registry until ctx is done,
// then shuts down gracefully. It returns an error when it cannot listen,
// when serving fails, or when requests are still in flight after
// cfg.shutdownTimeout.
func serve(ctx context.Context, cfg *serveConfig, logger *slog.Logger, stdout io.Writer) error {
	reg, backend, err := openRegistry(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: logRequests(logger, ociserver.New(reg, &ociserver.Options{Logger: logger})),
		// Slow clients must not hold connections forever; no overall
		// read or write timeout, as large blobs legitimately take long.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	url := "http://" + addr
	logger.Info("listening on "+url, "addr", addr, "backend", backend)
	fmt.Fprintln(stdout, url)
	if cfg.addrFile != "" {
		if err := writeFileAtomic(cfg.addrFile, []byte(addr+"\n")); err != nil {
			srv.Close()
			return err
		}
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
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
