package main

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ociserver"
)

// authHandler asks for Basic credentials and serves each user with a
// registry that enforces that user's access rules.
type authHandler struct {
	users  *htpasswd
	byUser map[string]http.Handler
	// servers holds each distinct handler of byUser once.
	servers []http.Handler
}

// newAuthHandler returns a handler serving reg to the users in users,
// each allowed what rules say, or everything when rules is nil.
func newAuthHandler(reg ociregistry.Interface, users *htpasswd, rules []accessRule, opts *ociserver.Options) *authHandler {
	h := &authHandler{users: users, byUser: map[string]http.Handler{}}
	// ocifilter.AccessChecker's check has no request context, so each
	// user gets a server of their own, made once here.
	if rules == nil {
		all := ociserver.New(reg, opts)
		h.servers = append(h.servers, all)
		for user := range users.hashes {
			h.byUser[user] = all
		}
		return h
	}
	for user := range users.hashes {
		check := func(repo string, access ocifilter.Access) error {
			if allows(rules, user, repo, access) {
				return nil
			}
			return fmt.Errorf("user %q may not %s repository %q: %w", user, verbOf(access), repo, ociregistry.ErrDenied)
		}
		h.byUser[user] = ociserver.New(ocifilter.AccessChecker(reg, check), opts)
		h.servers = append(h.servers, h.byUser[user])
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
		// A HEAD gets the headers of the GET's answer, as ociserver's
		// error answers do.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		if req.Method != http.MethodHead {
			w.Write(body)
		}
		return
	}
	setRequestUser(req.Context(), user)
	h.byUser[user].ServeHTTP(w, req)
}
