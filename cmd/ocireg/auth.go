package main

import (
	"fmt"
	"net/http"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ociserver"
)

// authHandler asks for Basic credentials and serves each user with a
// registry that enforces that user's access rules.
type authHandler struct {
	users  *htpasswd
	byUser map[string]http.Handler
}

// newAuthHandler returns a handler serving reg to the users in users,
// each allowed what rules say, or everything when rules is nil.
func newAuthHandler(reg ociregistry.Interface, users *htpasswd, rules []accessRule, opts *ociserver.Options) http.Handler {
	h := &authHandler{users: users, byUser: map[string]http.Handler{}}
	// ocifilter.AccessChecker's check has no request context, so each
	// user gets a server of their own, made once here.
	all := ociserver.New(reg, opts)
	for user := range users.hashes {
		if rules == nil {
			h.byUser[user] = all
			continue
		}
		check := func(repo string, access ocifilter.Access) error {
			if allows(rules, user, repo, access) {
				return nil
			}
			return fmt.Errorf("user %q may not %s repository %q: %w", user, verbOf(access), repo, ociregistry.ErrDenied)
		}
		h.byUser[user] = ociserver.New(ocifilter.AccessChecker(reg, check), opts)
	}
	return h
}

func (h *authHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	user, password, ok := req.BasicAuth()
	if !ok || !h.users.verify(user, password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="ocireg"`)
		var err error = ociregistry.ErrUnauthorized
		if ok {
			err = fmt.Errorf("wrong user name or password: %w", ociregistry.ErrUnauthorized)
		}
		body, status := ociregistry.MarshalError(err)
		if req.Method == http.MethodHead {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
		return
	}
	setRequestUser(req.Context(), user)
	h.byUser[user].ServeHTTP(w, req)
}
