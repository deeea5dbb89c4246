package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ociserver"
)

// newHandler returns the server's whole handler: /healthz, /metrics, and
// the registry API, behind Basic authentication when users is not nil.
// /healthz and /metrics ask for no credentials, so that probes and
// scrapers need none; the metrics name no repository, user or digest.
// It also returns sweep, which cancels the upload sessions that every
// registry server in the handler has seen idle for longer than
// limits.uploadTimeout (see ociserver.UploadSweeper).
func newHandler(reg ociregistry.Interface, users *htpasswd, rules []accessRule, logger *slog.Logger, m *metrics, limits serverLimits) (_ http.Handler, sweep func(context.Context)) {
	opts := &ociserver.Options{Logger: logger, MaxUploads: limits.maxUploads, UploadIdleTimeout: limits.uploadTimeout}
	var (
		api     http.Handler
		servers []http.Handler
	)
	if users == nil {
		api = ociserver.New(reg, opts)
		servers = []http.Handler{api}
	} else {
		ah := newAuthHandler(reg, users, rules, opts)
		api = ah
		servers = ah.servers
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
		default:
			api.ServeHTTP(w, req)
		}
	})
	return logRequests(logger, m, idleReadTimeout(limits.readTimeout, idleWriteTimeout(limits.writeTimeout, h))), sweep
}

// accessRule grants users an access to the repositories that match
// patterns.
type accessRule struct {
	users    []string // "*" is every user
	patterns []string // see matchRepo
	access   []ocifilter.Access
}

// matchRepo reports whether repo matches pattern, a path.Match pattern
// (where * does not match a slash) or a pattern ending in "**", which
// matches any repository starting with what comes before it ("**" alone
// matches every repository).
func matchRepo(pattern, repo string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "**"); ok {
		return strings.HasPrefix(repo, prefix)
	}
	ok, _ := path.Match(pattern, repo)
	return ok
}

// checkRepoPattern returns an error when pattern is malformed.
func checkRepoPattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty repository pattern")
	}
	p, _ := strings.CutSuffix(pattern, "**")
	if strings.Contains(p, "**") {
		return fmt.Errorf("bad repository pattern %q: ** only at the end", pattern)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("bad repository pattern %q: %v", pattern, err)
	}
	return nil
}

// allows reports whether the rules let user have access to repo.
func allows(rules []accessRule, user, repo string, access ocifilter.Access) bool {
	for _, r := range rules {
		if !containsUser(r.users, user) || !containsAccess(r.access, access) {
			continue
		}
		for _, p := range r.patterns {
			if matchRepo(p, repo) {
				return true
			}
		}
	}
	return false
}

func containsUser(users []string, user string) bool {
	for _, u := range users {
		if u == user || u == "*" {
			return true
		}
	}
	return false
}

func containsAccess(as []ocifilter.Access, a ocifilter.Access) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// accessVerbs names the accesses in the config file, as docker's token
// scopes do.
var accessVerbs = map[string]ocifilter.Access{
	"pull":   ocifilter.AccessRead,
	"push":   ocifilter.AccessWrite,
	"delete": ocifilter.AccessDelete,
}

func verbOf(a ocifilter.Access) string {
	for v, x := range accessVerbs {
		if x == a {
			return v
		}
	}
	return a.String()
}

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

// htpasswd holds the users of an htpasswd file.
type htpasswd struct {
	hashes map[string][]byte

	// verified remembers the SHA-256 of each user's password last
	// checked good: clients send credentials with every request, and
	// bcrypt is slow on purpose.
	mu       sync.Mutex
	verified map[string][32]byte
}

// loadHtpasswd reads an htpasswd file of "user:hash" lines whose hashes
// are bcrypt ($2a$, $2b$ or $2y$). Blank lines and lines starting with #
// are skipped. It returns an error naming the file and line of the first
// entry it cannot use or line it cannot read (one over 64 KiB).
func loadHtpasswd(name string) (*htpasswd, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	h := &htpasswd{hashes: map[string][]byte{}, verified: map[string][32]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 1
	for ; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: want user:hash", name, line)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash (make one with htpasswd -B): %v", name, line, user, err)
		}
		if _, dup := h.hashes[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q appears twice", name, line, user)
		}
		h.hashes[user] = []byte(hash)
	}
	// Scanning stops at a line too long for it, which would leave the
	// users after it out without a word.
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line, bufio.MaxScanTokenSize)
	} else if err != nil {
		return nil, fmt.Errorf("%s:%d: %v", name, line, err)
	}
	if len(h.hashes) == 0 {
		return nil, fmt.Errorf("%s: no users", name)
	}
	return h, nil
}

// verify reports whether password is user's.
func (h *htpasswd) verify(user, password string) bool {
	hash, ok := h.hashes[user]
	if !ok {
		// Spend the time a real check takes, so that timing does not
		// tell which users exist.
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return false
	}
	sum := sha256.Sum256([]byte(password))
	h.mu.Lock()
	good, seen := h.verified[user]
	h.mu.Unlock()
	if seen && subtle.ConstantTimeCompare(good[:], sum[:]) == 1 {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	h.mu.Lock()
	h.verified[user] = sum
	h.mu.Unlock()
	return true
}

// dummyHash is made on first use: making it takes as long as checking
// a password, which "ocireg" commands other than serve should not pay.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("dummy"), bcrypt.DefaultCost)
	return h
})
