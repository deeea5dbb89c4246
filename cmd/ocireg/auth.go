package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ociserver"
)

// authHandler asks for credentials, Basic or (with a token service) a
// bearer token, and serves the registry to the users they name, each
// allowed what the access rules give that user and, for a request with a
// token, what the token grants of that.
type authHandler struct {
	auth   *authenticator
	tokens *tokenService // nil: Basic only
	server http.Handler
}

// authUserKey is the context key of the user a request is served to.
type authUserKey struct{}

// newAuthHandler returns a handler serving reg to the users that auth
// identifies, each allowed what rules say, or everything when rules is nil, and with
// tokens not nil, what the request's token grants of that. One server
// serves every user, so that the limits of opts bound the uploads of all
// of them together.
func newAuthHandler(reg ociregistry.Interface, auth *authenticator, rules []accessRule, tokens *tokenService, opts *ociserver.Options) *authHandler {
	h := &authHandler{auth: auth, tokens: tokens}
	if rules != nil || tokens != nil {
		reg = ocifilter.AccessCheckerContext(reg, func(ctx context.Context, repo string, access ocifilter.Access) error {
			user, _ := ctx.Value(authUserKey{}).(string)
			if rules != nil && !allows(rules, user, repo, access) {
				return fmt.Errorf("user %q may not %s repository %q: %w", user, verbOf(access), repo, ociregistry.ErrDenied)
			}
			return checkToken(ctx, repo, access)
		})
	}
	h.server = ociserver.New(reg, opts)
	return h
}

func (h *authHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	authz := req.Header.Get("Authorization")
	if h.tokens != nil && len(authz) > 7 && strings.EqualFold(authz[:7], "Bearer ") {
		h.serveBearer(w, req, strings.TrimSpace(authz[7:]))
		return
	}
	user, password, ok := req.BasicAuth()
	if ok {
		user, _, ok = h.auth.identify(req.Context(), user, password)
	}
	if !ok {
		var err error = ociregistry.ErrUnauthorized
		if authz != "" {
			err = fmt.Errorf("wrong user name or password: %w", ociregistry.ErrUnauthorized)
		}
		h.unauthorized(w, req, err, "", repoScope(req))
		return
	}
	setRequestUser(req.Context(), user)
	h.server.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), authUserKey{}, user)))
}

// serveBearer serves a request that bears token.
func (h *authHandler) serveBearer(w http.ResponseWriter, req *http.Request, token string) {
	claims, err := h.tokens.check(token)
	if err != nil {
		h.unauthorized(w, req, fmt.Errorf("%v: %w", err, ociregistry.ErrUnauthorized), "invalid_token", repoScope(req))
		return
	}
	setRequestUser(req.Context(), claims.Subject)
	g := &tokenGrant{claims: claims}
	if req.URL.Path == "/v2/_catalog" {
		// The catalog lists what the user may pull, whatever
		// repositories the token names; the token must allow the
		// listing itself.
		if !claims.allows("registry", "catalog", "*") {
			h.unauthorized(w, req, fmt.Errorf("token does not grant the catalog: %w", ociregistry.ErrUnauthorized), "insufficient_scope", "registry:catalog:*")
			return
		}
		g.catalog = true
	}
	ctx := context.WithValue(context.WithValue(req.Context(), authUserKey{}, claims.Subject), tokenGrantKey{}, g)
	h.server.ServeHTTP(&challengeWriter{ResponseWriter: w, h: h, req: req, grant: g}, req.WithContext(ctx))
}

// unauthorized answers 401 with err's body and the challenge for the
// credentials the server takes: Basic, or a bearer token with the realm
// and service to get it from, the scope the request needs (when known)
// and, when a token was sent, why it was not enough (tokenErr).
func (h *authHandler) unauthorized(w http.ResponseWriter, req *http.Request, err error, tokenErr, scope string) {
	w.Header().Set("WWW-Authenticate", h.challenge(req, tokenErr, scope))
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	body, status := ociregistry.MarshalError(err)
	writeJSONBody(w, req, status, body)
}

// challenge returns the WWW-Authenticate value of a 401 to req.
func (h *authHandler) challenge(req *http.Request, tokenErr, scope string) string {
	if h.tokens == nil {
		return `Basic realm="ocireg"`
	}
	realm := h.tokens.cfg.realm
	if realm == "" {
		scheme := "http"
		if req.TLS != nil {
			scheme = "https"
		}
		realm = scheme + "://" + req.Host + tokenPath
	}
	c := fmt.Sprintf(`Bearer realm=%s,service=%s`, strconv.Quote(realm), strconv.Quote(h.tokens.cfg.service))
	if scope != "" {
		c += ",scope=" + strconv.Quote(scope)
	}
	if tokenErr != "" {
		c += ",error=" + strconv.Quote(tokenErr)
	}
	return c
}

// repoScope returns the scope that req most likely needs, for the
// challenge of a request without good credentials: a hint for clients
// that take the scope from the challenge, never used to grant anything
// (ociserver routes the request, and each access is checked where it is
// made). It is "" when the request names no valid repository.
func repoScope(req *http.Request) string {
	p, ok := strings.CutPrefix(req.URL.Path, "/v2/")
	if !ok {
		return ""
	}
	if p == "_catalog" {
		return "registry:catalog:*"
	}
	end := -1
	for _, kind := range []string{"/blobs/", "/manifests/", "/tags/", "/referrers/"} {
		end = max(end, strings.LastIndex(p, kind))
	}
	if end <= 0 || ociregistry.CheckRepository(p[:end]) != nil {
		return ""
	}
	action := "pull,push"
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		action = "pull"
	case http.MethodDelete:
		action = "delete"
	}
	return "repository:" + p[:end] + ":" + action
}

// challengeWriter adds the bearer challenge naming the missing scope to
// a 401 that a request's token was not enough for (see checkToken).
type challengeWriter struct {
	http.ResponseWriter
	h     *authHandler
	req   *http.Request
	grant *tokenGrant
}

func (w *challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized {
		w.grant.mu.Lock()
		scope := w.grant.wanted
		w.grant.mu.Unlock()
		w.Header().Set("WWW-Authenticate", w.h.challenge(w.req, "insufficient_scope", scope))
	}
	w.ResponseWriter.WriteHeader(status)
}

// ReadFrom passes src to the underlying writer's ReadFrom, so that blobs
// still go out with sendfile.
func (w *challengeWriter) ReadFrom(src io.Reader) (int64, error) {
	return readFromVia(w.ResponseWriter, src)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *challengeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
