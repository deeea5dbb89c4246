package ociserver

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ocireg/ociregistry"
)

// writeError answers err in the specification's JSON form with the status
// that goes with it (see ociregistry.MarshalError). A HEAD response has no
// body, so it gets the status and headers only.
func (s *server) writeError(w http.ResponseWriter, req *http.Request, err error) {
	if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
		// The client went away: nobody reads the answer, and it is not
		// the server's fault.
		s.logger.Debug("request canceled", "method", req.Method, "path", req.URL.Path, "err", err)
		return
	}
	// public is what the client is told; the log has err.
	status, public := ociregistry.HTTPStatus(err), publicError(err)
	if herr := (*ociregistry.HTTPError)(nil); errors.As(err, &herr) && herr.StatusCode == http.StatusUnauthorized {
		// Another registry's 401, passed on by the backend (a
		// remote registry, or one in a unify), refused the server's
		// own credentials: a 401 would ask the client for
		// credentials, which cannot mend that, and without the
		// challenge it must carry.
		status, public = http.StatusForbidden, errBackendCredentials
	}
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	}
	s.logger.Log(req.Context(), level, "request failed", "method", req.Method, "path", req.URL.Path, "status", status, "err", err)
	// The log has the whole error; the client learns nothing of the
	// server's files, storage or network.
	body, _ := ociregistry.MarshalError(public)
	h := w.Header()
	if status == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
		h.Set("Retry-After", retryAfter(err))
	}
	if status == http.StatusMethodNotAllowed && h.Get("Allow") == "" {
		// The backend refused the method (a read-only registry
		// does): of the endpoint's methods, only the reads are
		// sure to be allowed.
		h.Set("Allow", strings.Join(readMethods(req), ", "))
	}
	// A HEAD gets the headers of the body a GET would get, as RFC 9110
	// asks, but not the body.
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		w.Write(body)
	}
}

// errBackendCredentials is what a client is told when a registry behind
// the server refused the server's credentials.
var errBackendCredentials = ociregistry.NewError("a registry this server relies on refused the server's credentials", "DENIED", nil)

// errInternal is what a client is told of a failure inside the server.
var errInternal = errors.New("the server failed to handle the request; its log says why")

// publicError returns what a client is told of err: err itself, unless
// it is a failure inside the server (see isInternal), which becomes its
// innermost coded error's own words (without what wraps it), or
// errInternal when it has no code; of a join of errors (as ociunify
// makes of its two registries' answers), the join of the branches that
// are not such failures.
func publicError(err error) error {
	if branches := joined(err); branches != nil {
		var kept []error
		for _, b := range branches {
			if b != nil && !isInternal(b) {
				kept = append(kept, b)
			}
		}
		if len(kept) == len(branches) {
			return err
		}
		if len(kept) > 0 {
			return errors.Join(kept...)
		}
	}
	if !isInternal(err) {
		return err
	}
	var coded ociregistry.Error
	if errors.As(err, &coded) {
		return ociregistry.NewError(coded.Error(), coded.Code(), nil)
	}
	return errInternal
}

// joined returns the branches of the first join in err's chain, or nil.
func joined(err error) []error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return j.Unwrap()
		}
	}
	return nil
}

// isInternal reports whether err is a failure inside the server whose
// text is not for clients: one that carries no error code (a backend's
// own failure, in words that may name its files, its storage's keys,
// hosts and request IDs), or one caused by the server's file system or
// network, whose messages name its paths and addresses. An upstream
// registry's answer with a code, passed on, keeps its words.
func isInternal(err error) bool {
	var (
		herr    *ociregistry.HTTPError
		coded   ociregistry.Error
		pathErr *fs.PathError
		linkErr *os.LinkError
		sysErr  *os.SyscallError
		netErr  net.Error
	)
	if errors.As(err, &pathErr) || errors.As(err, &linkErr) || errors.As(err, &sysErr) || errors.As(err, &netErr) {
		return true
	}
	if errors.As(err, &herr) && errors.As(herr.Err, &coded) {
		return false
	}
	return !errors.As(err, &coded)
}

// retryAfter returns the Retry-After header to send with err, a 429: the
// one an *ociregistry.HTTPError in its chain carries (such as a limit of
// the server's, or an upstream registry's answer passed on), or
// uploadRetryAfter, so that a client always learns when to come back.
func retryAfter(err error) string {
	var herr *ociregistry.HTTPError
	if errors.As(err, &herr) {
		if ra := herr.Header.Get("Retry-After"); ra != "" {
			return ra
		}
	}
	return strconv.Itoa(int(uploadRetryAfter / time.Second))
}

// readMethods returns the methods of the endpoint of req that only read,
// but for req's own.
func readMethods(req *http.Request) []string {
	var reads []string
	for _, m := range methods[parsePath(rawPath(req.URL)).kind] {
		if (m == http.MethodGet || m == http.MethodHead) && m != req.Method {
			reads = append(reads, m)
		}
	}
	return reads
}
