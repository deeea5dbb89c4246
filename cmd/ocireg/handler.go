package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociserver"
)

// newHandler returns the server's whole handler: /healthz, /metrics, and
// the registry API, behind Basic authentication when auth is not nil,
// and with tokens not nil, also bearer tokens from tokens, which answers
// at /token. /healthz and /metrics ask for no credentials, so that
// probes and scrapers need none; the metrics name no repository, user or
// digest.
// It also returns sweep, which cancels the upload sessions that every
// registry server in the handler has seen idle for longer than
// limits.uploadTimeout (see ociserver.UploadSweeper). With noAnonMount, a
// mount without from= starts an upload session.
func newHandler(reg ociregistry.Interface, auth *authenticator, rules []accessRule, tokens *tokenService, logger *slog.Logger, m *metrics, limits serverLimits, noAnonMount bool) (_ http.Handler, sweep func(context.Context)) {
	opts := &ociserver.Options{Logger: logger, MaxUploads: limits.maxUploads, UploadIdleTimeout: limits.uploadTimeout, DisableAnonymousMount: noAnonMount}
	var (
		api     http.Handler
		servers []http.Handler
	)
	if auth == nil {
		api = ociserver.New(reg, opts)
		servers = []http.Handler{api}
	} else {
		ah := newAuthHandler(reg, auth, rules, tokens, opts)
		api = ah
		servers = []http.Handler{ah.server}
	}
	sweep = func(ctx context.Context) {
		for _, s := range servers {
			s.(ociserver.UploadSweeper).SweepUploads(ctx)
		}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/healthz":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "ok")
		case "/metrics":
			m.handlerFor.ServeHTTP(w, req)
		case tokenPath:
			if tokens == nil {
				api.ServeHTTP(w, req)
				return
			}
			tokens.ServeHTTP(w, req)
		default:
			api.ServeHTTP(w, req)
		}
	})
	return logRequests(logger, m, auth != nil, idleReadTimeout(limits.readTimeout, idleWriteTimeout(limits.writeTimeout, h))), sweep
}
