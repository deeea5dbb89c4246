package main

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociserver"
)

// newHandler returns the server's whole handler: /healthz, /metrics, and
// the registry API, behind Basic authentication when users is not nil.
// /healthz and /metrics ask for no credentials, so that probes and
// scrapers need none; the metrics name no repository, user or digest.
func newHandler(reg ociregistry.Interface, users *htpasswd, rules []accessRule, logger *slog.Logger, m *metrics, limits serverLimits) http.Handler {
	opts := &ociserver.Options{Logger: logger, MaxUploads: limits.maxUploads, UploadIdleTimeout: limits.uploadTimeout}
	var api http.Handler
	if users == nil {
		api = ociserver.New(reg, opts)
	} else {
		api = newAuthHandler(reg, users, rules, opts)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/healthz":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "ok")
		case "/metrics":
			m.handlerFor.ServeHTTP(w, req)
		default:
			api.ServeHTTP(w, req)
		}
	})
	return logRequests(logger, m, idleReadTimeout(limits.readTimeout, idleWriteTimeout(limits.writeTimeout, h)))
}
