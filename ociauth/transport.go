package ociauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
)

// defaultTokenLifetime is how long a token without expires_in lasts, as
// the token specification says.
const defaultTokenLifetime = 60 * time.Second

// maxTokenBody bounds a token server's response.
const maxTokenBody = 1 << 20

// Transport is an http.RoundTripper that authenticates requests to
// registries. It sends a request as it is, or with the token or Basic
// credentials that the host asked for before, and answers a 401 by
// getting what the challenge asks for and sending the request again.
//
// Credentials for a host go only to that host and to the token server it
// names; a redirect to another host (blob storage, say) reaches it
// without them. Nor do they go over plain HTTP to a host that was
// reached over HTTPS, so that a redirect from https://host to
// http://host does not send them in the clear.
type Transport struct {
	base  http.RoundTripper
	creds CredentialsSource

	mu     sync.Mutex
	hosts  map[string]*hostAuth // by origin, see originOf
	tokens map[string][]*token  // by origin
}

// hostAuth records how a host asked to be authenticated.
type hostAuth struct {
	scheme  string // "basic", "bearer", or "none" when it asked for nothing
	realm   string
	service string
	secure  bool // the host was reached over HTTPS
}

type token struct {
	value   string
	scopes  scopeSet
	expires time.Time
}

// NewTransport returns a Transport that sends requests through base
// (http.DefaultTransport when nil) with credentials from creds (none when
// nil: anonymous tokens only).
func NewTransport(base http.RoundTripper, creds CredentialsSource) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	if creds == nil {
		creds = StaticCredentials(nil)
	}
	return &Transport{
		base:   base,
		creds:  creds,
		hosts:  map[string]*hostAuth{},
		tokens: map[string][]*token{},
	}
}

// RoundTrip sends req, authenticated as its host asks. It returns the
// registry's 401 response when the credentials are refused or missing,
// and an error when the token server cannot be reached or answers badly.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	needed := requestScopes(req)
	rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if t.downgraded(req.URL) {
		// Whatever the host asks for over plain HTTP, answering it
		// would send in the clear what it was given over TLS.
		return t.base.RoundTrip(req)
	}
	authed, err := t.authorize(req, needed, rewindable)
	if err != nil {
		// A RoundTripper must close the request's body even when it
		// fails, or a caller waiting for the body to be done waits
		// for good.
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(authed)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	return t.answerChallenge(authed, resp, needed, rewindable)
}

// authorize returns req with the Authorization that its host asked for
// before, or req itself when the host asked for nothing, is not known
// yet, or there are no credentials for it. A body that can be sent only
// once is not sent blind: an unknown host is pinged first to learn its
// challenge. The error is that of the ping, of the credentials source or
// of the token server.
func (t *Transport) authorize(req *http.Request, needed scopeSet, rewindable bool) (*http.Request, error) {
	ctx := req.Context()
	origin := originOf(req.URL)
	ha := t.knownHost(origin)
	if ha == nil && !rewindable {
		if err := t.ping(ctx, req.URL); err != nil {
			return nil, err
		}
		ha = t.knownHost(origin)
	}
	if ha == nil {
		return req, nil
	}
	auth, err := t.authorization(ctx, req.URL.Host, origin, ha, needed)
	if err != nil || auth == "" {
		return req, err
	}
	return cloneRequest(req, auth, false)
}

// knownHost returns what the host at origin asked for before, or nil.
func (t *Transport) knownHost(origin string) *hostAuth {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hosts[origin]
}

// answerChallenge answers resp, the 401 that req got, by getting what
// its challenge asks for and sending req again with it. It returns resp
// itself when the challenge is not one it understands, when there are
// no credentials to answer it with, or when req's body cannot be sent
// again; in that last case the challenge is remembered, so that the
// next request goes with what it asks.
func (t *Transport) answerChallenge(req *http.Request, resp *http.Response, needed scopeSet, rewindable bool) (*http.Response, error) {
	ch, ok := parseChallenge(resp.Header.Values("WWW-Authenticate"))
	if !ok {
		return resp, nil
	}
	ch.secure = req.URL.Scheme == "https"
	origin := originOf(req.URL)
	t.mu.Lock()
	prev := t.hosts[origin]
	t.hosts[origin] = &ch.hostAuth
	if rewindable && prev != nil && prev.scheme == ch.scheme {
		// The host turned down what it was sent: forget its tokens.
		delete(t.tokens, origin)
	}
	t.mu.Unlock()
	if !rewindable {
		return resp, nil
	}
	auth, err := t.authorization(req.Context(), req.URL.Host, origin, &ch.hostAuth, needed.union(ch.scopes))
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if auth == "" {
		return resp, nil
	}
	r2, err := cloneRequest(req, auth, true)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.base.RoundTrip(r2)
}

// originOf returns the key under which what a host asked for, and the
// tokens it was given, are kept: its scheme and host, so that nothing
// learnt or got over HTTPS is used over plain HTTP.
func originOf(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}

// downgraded reports whether u is a plain HTTP URL of a host that was
// reached over HTTPS before, such as where a redirect from the HTTPS
// host points. No credentials, nor tokens, go there: a network attacker
// can answer for the plain HTTP host and read them.
func (t *Transport) downgraded(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hosts["https://"+u.Host] != nil
}

// ping sends GET /v2/ to the host of u, to learn its challenge.
func (t *Transport) ping(ctx context.Context, u *url.URL) error {
	pu := *u
	pu.Path, pu.RawPath, pu.RawQuery = "/v2/", "", ""
	req, err := http.NewRequestWithContext(ctx, "GET", pu.String(), nil)
	if err != nil {
		return err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	ha := &hostAuth{scheme: "none"}
	if resp.StatusCode == http.StatusUnauthorized {
		if ch, ok := parseChallenge(resp.Header.Values("WWW-Authenticate")); ok {
			ha = &ch.hostAuth
			ha.secure = u.Scheme == "https"
		}
	}
	// Record the answer, even "none", so that the host is pinged once.
	t.mu.Lock()
	if o := originOf(u); t.hosts[o] == nil {
		t.hosts[o] = ha
	}
	t.mu.Unlock()
	return nil
}

// cloneRequest returns a copy of req with the given Authorization, with
// a fresh body when resend is set.
func cloneRequest(req *http.Request, auth string, resend bool) (*http.Request, error) {
	r2 := req.Clone(req.Context())
	r2.Header.Set("Authorization", auth)
	if resend && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("ociauth: cannot send request body again: %w", err)
		}
		r2.Body = body
	}
	return r2, nil
}

// authorization returns the Authorization header for a request to host,
// at origin, that needs the given scopes, or "" when there are no
// credentials to send.
func (t *Transport) authorization(ctx context.Context, host, origin string, ha *hostAuth, needed scopeSet) (string, error) {
	switch ha.scheme {
	case "basic":
		creds, err := t.creds.Credentials(ctx, host)
		if err != nil {
			return "", err
		}
		if creds.Username == "" && creds.Password == "" {
			return "", nil
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(creds.Username+":"+creds.Password)), nil
	case "bearer":
		if tok := t.cachedToken(origin, needed); tok != "" {
			return "Bearer " + tok, nil
		}
		creds, err := t.creds.Credentials(ctx, host)
		if err != nil {
			return "", err
		}
		if creds.AccessToken != "" {
			return "Bearer " + creds.AccessToken, nil
		}
		tok, err := t.fetchToken(ctx, ha, creds, needed)
		if err != nil {
			return "", err
		}
		t.mu.Lock()
		t.tokens[origin] = append(t.tokens[origin], tok)
		t.mu.Unlock()
		return "Bearer " + tok.value, nil
	}
	return "", nil
}

// cachedToken returns a token for origin that has not expired and
// covers the needed scopes, or "".
func (t *Transport) cachedToken(origin string, needed scopeSet) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	toks := slices.DeleteFunc(t.tokens[origin], func(tok *token) bool { return now.After(tok.expires) })
	t.tokens[origin] = toks
	for _, tok := range toks {
		if tok.scopes.covers(needed) {
			return tok.value
		}
	}
	return ""
}

// fetchToken gets a token for the scopes from the token server that ha
// names, with creds. Its errors say that the realm is bad or would
// receive credentials in the clear, or that the token server could not
// be reached or answered badly.
func (t *Transport) fetchToken(ctx context.Context, ha *hostAuth, creds Credentials, scopes scopeSet) (*token, error) {
	realm, err := tokenRealm(ha, creds)
	if err != nil {
		return nil, err
	}
	req, err := tokenRequest(ctx, realm, ha.service, creds, scopes)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("ociauth: token server: %w", err)
	}
	defer resp.Body.Close()
	return readToken(resp, realm.Host, start, scopes)
}

// tokenRealm returns the URL of the token server that ha names, or an
// error when it is not an HTTP(S) URL, or is plain HTTP while the
// registry was reached over HTTPS and creds are not empty.
func tokenRealm(ha *hostAuth, creds Credentials) (*url.URL, error) {
	realm, err := url.Parse(ha.realm)
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") {
		return nil, fmt.Errorf("ociauth: bad token realm %q", ha.realm)
	}
	if realm.Scheme == "http" && ha.secure && !creds.IsZero() {
		// A registry reached over TLS does not get to have its
		// client's secrets sent in the clear.
		return nil, fmt.Errorf("ociauth: refusing to send credentials to plain HTTP token realm %q of a registry reached over HTTPS", ha.realm)
	}
	return realm, nil
}

// tokenRequest returns the request for a token for the scopes from the
// token server at realm: an OAuth2 POST when creds has a refresh token,
// and otherwise a GET that carries the Basic credentials, if any.
func tokenRequest(ctx context.Context, realm *url.URL, service string, creds Credentials, scopes scopeSet) (*http.Request, error) {
	if creds.RefreshToken != "" {
		form := url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {creds.RefreshToken},
			"client_id":     {"ociregistry"},
		}
		if service != "" {
			form.Set("service", service)
		}
		if s := scopes.String(); s != "" {
			form.Set("scope", s)
		}
		req, err := http.NewRequestWithContext(ctx, "POST", realm.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}
	u := *realm
	q := u.Query()
	if service != "" {
		q.Set("service", service)
	}
	for _, s := range scopes.list() {
		q.Add("scope", s)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, err
	}
	if creds.Username != "" || creds.Password != "" {
		req.SetBasicAuth(creds.Username, creds.Password)
	}
	return req, nil
}

// readToken returns the token for the scopes in resp, the answer of the
// token server at host to a request sent at start. Its errors say that
// the body could not be read, that the status was not 200 (with the
// start of the body), or that the body held no token.
func readToken(resp *http.Response, host string, start time.Time, scopes scopeSet) (*token, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return nil, fmt.Errorf("ociauth: token server: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		err := fmt.Errorf("ociauth: token server %s answered %s: %s", host, resp.Status, msg)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			// The credentials were refused, as a registry's 401
			// says; an HTTPError, as a registry's answer, so that
			// a server passing it on knows it is not its own.
			return nil, ociregistry.NewHTTPError(fmt.Errorf("%w: %w", err, ociregistry.ErrUnauthorized), resp.StatusCode)
		case http.StatusForbidden:
			return nil, ociregistry.NewHTTPError(fmt.Errorf("%w: %w", err, ociregistry.ErrDenied), resp.StatusCode)
		}
		return nil, err
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, fmt.Errorf("ociauth: token server %s sent bad JSON: %v", host, err)
	}
	tok := body.AccessToken
	if tok == "" {
		tok = body.Token
	}
	if tok == "" {
		return nil, errors.New("ociauth: token server sent no token")
	}
	life := defaultTokenLifetime
	if body.ExpiresIn > 0 {
		life = time.Duration(body.ExpiresIn) * time.Second
	}
	// Stop using a token a little before it expires, so that it does
	// not expire on its way.
	life -= min(life/10, 10*time.Second)
	return &token{value: tok, scopes: scopes, expires: start.Add(life)}, nil
}

// challenge is a parsed WWW-Authenticate header.
type challenge struct {
	hostAuth
	scopes scopeSet
}

// parseChallenge parses the first Basic or Bearer challenge in the
// WWW-Authenticate headers.
func parseChallenge(headers []string) (challenge, bool) {
	for _, h := range headers {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		scheme = strings.ToLower(scheme)
		if scheme != "basic" && scheme != "bearer" {
			continue
		}
		params := parseParams(rest)
		ch := challenge{hostAuth: hostAuth{scheme: scheme, realm: params["realm"], service: params["service"]}}
		if scheme == "bearer" {
			if ch.realm == "" {
				continue
			}
			ch.scopes = parseScopes(params["scope"])
		}
		return ch, true
	}
	return challenge{}, false
}

// parseParams parses the auth-params of a challenge: key=value or
// key="quoted value", separated by commas.
func parseParams(s string) map[string]string {
	params := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " ,")
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		var v string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			v, s = b.String(), rest[min(i+1, len(rest)):]
		} else {
			v, s, _ = strings.Cut(rest, ",")
			v = strings.TrimSpace(v)
		}
		params[k] = v
	}
	return params
}
