package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// issuerConfig is an entry of the config file's issuers: an OpenID
// Connect issuer (a CI system, a Kubernetes cluster) whose ID tokens are
// taken in place of a password, naming the identity prefix + the value
// of claim.
type issuerConfig struct {
	url      string // the issuer, as its tokens' iss claim says it
	audience string // the aud the tokens must hold
	claim    string // the claim that names the identity
	prefix   string // put before the claim's value; ends with ":"
}

const (
	// oidcRetry is the least time between two fetches of an issuer's
	// discovery document or keys, so that tokens with made-up key IDs
	// cannot make the server ask the issuer again and again.
	oidcRetry = 10 * time.Second
	// oidcTimeout bounds one request to an issuer.
	oidcTimeout = 10 * time.Second
	// maxOIDCDocument bounds an issuer's discovery document and keys.
	maxOIDCDocument = 1 << 20
	// maxCheckedIDTokens bounds the ID tokens whose check is remembered.
	maxCheckedIDTokens = 4096
	// maxIdentityBytes bounds the claim that names an identity, so that
	// a token of ours that carries it stays within maxTokenBytes.
	maxIdentityBytes = 1024
)

// errBadIDToken says that a password that looks like a JWT is not an
// ID token of a trusted issuer, or not one that is good now.
var errBadIDToken = errors.New("not a valid ID token of a trusted issuer")

// oidcAuth checks ID tokens of trusted issuers.
type oidcAuth struct {
	issuers []*oidcIssuer
	now     func() time.Time

	// checked remembers the tokens checked good, by their SHA-256.
	mu      sync.Mutex
	checked map[[32]byte]checkedIDToken
}

type checkedIDToken struct {
	identity string
	expiry   time.Time
}

// newOIDCAuth returns what checks the ID tokens of the issuers in cfgs,
// fetching their discovery documents and keys with client, under ctx,
// the life of their owner: a fetch serves every caller that waits for
// it, so it is not under any one caller's context.
func newOIDCAuth(ctx context.Context, cfgs []issuerConfig, client *http.Client) *oidcAuth {
	// Discovery documents and key sets come through a transport that
	// cuts them off past maxOIDCDocument.
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client = &http.Client{Transport: limitedBodies{base}, Timeout: client.Timeout}
	a := &oidcAuth{now: time.Now, checked: map[[32]byte]checkedIDToken{}}
	for _, c := range cfgs {
		a.issuers = append(a.issuers, &oidcIssuer{cfg: c, client: client, now: a.now, ctx: ctx})
	}
	return a
}

// limitedBodies is a transport whose answers fail to read past
// maxOIDCDocument bytes.
type limitedBodies struct{ base http.RoundTripper }

func (t limitedBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxOIDCDocument}
	return resp, nil
}

// limitedBody is a body that fails once more than left bytes are read.
type limitedBody struct {
	io.ReadCloser
	left int64
}

var errOIDCDocumentTooBig = fmt.Errorf("issuer's answer is over %d bytes", maxOIDCDocument)

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errOIDCDocumentTooBig
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// hasIdentity reports whether identity is one that a configured issuer
// may vouch for: one with its prefix.
func (a *oidcAuth) hasIdentity(identity string) bool {
	for _, is := range a.issuers {
		if strings.HasPrefix(identity, is.cfg.prefix) {
			return true
		}
	}
	return false
}

// discoverAll looks up every issuer's discovery document, so that one
// that cannot be reached is reported when the server starts rather than
// when a token of its first comes; it returns the errors, an issuer a
// line.
func (a *oidcAuth) discoverAll(ctx context.Context) error {
	var errs []error
	for _, is := range a.issuers {
		if _, err := is.verifier(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// looksLikeJWT reports whether s has the shape of a JWS in compact form,
// so that a password that is not one is never sent to an issuer's
// verifier.
func looksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 && len(s) <= maxTokenBytes
}

// identify returns the identity that raw, an ID token, names when a
// trusted issuer signed it for its configured audience and it has not
// expired, and when it expires. It returns an error that Is
// errBadIDToken otherwise.
func (a *oidcAuth) identify(ctx context.Context, raw string) (string, time.Time, error) {
	if !looksLikeJWT(raw) {
		return "", time.Time{}, errBadIDToken
	}
	now := a.now()
	sum := sha256.Sum256([]byte(raw))
	a.mu.Lock()
	c, ok := a.checked[sum]
	a.mu.Unlock()
	if ok {
		if now.After(c.expiry) {
			return "", time.Time{}, fmt.Errorf("%w: expired", errBadIDToken)
		}
		return c.identity, c.expiry, nil
	}
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	var is *oidcIssuer
	for _, x := range a.issuers {
		if x.cfg.url == iss {
			is = x
		}
	}
	if is == nil {
		return "", time.Time{}, fmt.Errorf("%w: issuer %q is not trusted", errBadIDToken, iss)
	}
	v, err := is.verifier(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return "", time.Time{}, fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	name, _ := claims[is.cfg.claim].(string)
	if name == "" {
		return "", time.Time{}, fmt.Errorf("%w: no claim %q naming the identity", errBadIDToken, is.cfg.claim)
	}
	if len(name) > maxIdentityBytes {
		return "", time.Time{}, fmt.Errorf("%w: claim %q is over %d bytes", errBadIDToken, is.cfg.claim, maxIdentityBytes)
	}
	identity := is.cfg.prefix + name
	a.mu.Lock()
	if len(a.checked) >= maxCheckedIDTokens {
		clear(a.checked)
	}
	a.checked[sum] = checkedIDToken{identity: identity, expiry: tok.Expiry}
	a.mu.Unlock()
	return identity, tok.Expiry, nil
}

// unverifiedIssuer returns the iss claim of a JWT without checking its
// signature, to choose the issuer whose keys check it.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("payload is not base64url: %v", err)
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", fmt.Errorf("payload is not JSON: %v", err)
	}
	return c.Issuer, nil
}

// oidcIssuer is a trusted issuer, whose discovery document is fetched
// when a token of its is first checked.
type oidcIssuer struct {
	cfg    issuerConfig
	client *http.Client
	now    func() time.Time
	ctx    context.Context    // of requests to the issuer
	fetch  singleflight.Group // callers share one discovery

	mu        sync.Mutex
	v         *oidc.IDTokenVerifier // nil until discovery succeeds
	lastTried time.Time
	lastErr   error
}

// verifier returns the issuer's verifier, fetching its discovery
// document the first time (and again after a failure, at most every
// oidcRetry).
func (is *oidcIssuer) verifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	is.mu.Lock()
	v := is.v
	is.mu.Unlock()
	if v != nil {
		return v, nil
	}
	r, err := shared(ctx, &is.fetch, func() (any, error) {
		is.mu.Lock()
		if is.v != nil {
			defer is.mu.Unlock()
			return is.v, nil
		}
		if !is.lastTried.IsZero() && is.now().Sub(is.lastTried) < oidcRetry {
			defer is.mu.Unlock()
			return nil, is.lastErr
		}
		is.mu.Unlock()
		v, err := is.discover()
		is.mu.Lock()
		defer is.mu.Unlock()
		// The wait runs from the end of a try: one that took the
		// whole timeout must not let the next start at once.
		is.v, is.lastErr, is.lastTried = v, err, is.now()
		return v, err
	})
	if err != nil {
		return nil, err
	}
	return r.(*oidc.IDTokenVerifier), nil
}

// discover fetches the issuer's discovery document and returns its
// verifier.
func (is *oidcIssuer) discover() (*oidc.IDTokenVerifier, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(is.ctx, is.client), oidcTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, is.cfg.url)
	if err != nil {
		return nil, fmt.Errorf("discovering issuer %s: %v", is.cfg.url, err)
	}
	var doc struct {
		JWKSURL string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&doc); err != nil || doc.JWKSURL == "" {
		return nil, fmt.Errorf("issuer %s: discovery document names no jwks_uri", is.cfg.url)
	}
	keys := &limitedKeySet{url: doc.JWKSURL, client: is.client, now: is.now, ctx: is.ctx}
	return oidc.NewVerifier(is.cfg.url, keys, &oidc.Config{ClientID: is.cfg.audience, SupportedSigningAlgs: doc.Algs, Now: is.now}), nil
}

// shared runs fn once for the callers that ask at once, each waiting
// for it only as long as its ctx lasts.
func shared(ctx context.Context, g *singleflight.Group, fn func() (any, error)) (any, error) {
	select {
	case r := <-g.DoChan("", fn):
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// limitedKeySet is an issuer's JSON Web Key Set: fetched when a token
// names a key it does not hold (the issuer may have rotated its keys),
// but at most every oidcRetry.
type limitedKeySet struct {
	url    string
	client *http.Client
	now    func() time.Time
	ctx    context.Context // of requests for the keys
	fetch  singleflight.Group

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	lastFetch time.Time
}

// signingAlgs are the algorithms an ID token may be signed with.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA}

// errNoKey says that no key of the issuer's checks a signature.
var errNoKey = errors.New("no key of the issuer's checks the signature")

// VerifySignature implements oidc.KeySet.
func (k *limitedKeySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, signingAlgs)
	if err != nil {
		return nil, err
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("not one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	k.mu.Lock()
	keys := k.keys
	k.mu.Unlock()
	if payload, ok := verifyWith(jws, keys, kid); ok {
		return payload, nil
	}
	r, err := shared(ctx, &k.fetch, func() (any, error) {
		k.mu.Lock()
		if !k.lastFetch.IsZero() && k.now().Sub(k.lastFetch) < oidcRetry {
			defer k.mu.Unlock()
			return k.keys, nil
		}
		k.mu.Unlock()
		keys, err := k.get()
		k.mu.Lock()
		defer k.mu.Unlock()
		k.lastFetch = k.now()
		if err != nil {
			return nil, err
		}
		k.keys = keys
		return keys, nil
	})
	if err != nil {
		return nil, err
	}
	if payload, ok := verifyWith(jws, r.([]jose.JSONWebKey), kid); ok {
		return payload, nil
	}
	return nil, errNoKey
}

// verifyWith verifies jws with the key of keys whose ID is kid (any key
// when kid is empty).
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid string) ([]byte, bool) {
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(&key); err == nil {
			return payload, true
		}
	}
	return nil, false
}

// get fetches the key set.
func (k *limitedKeySet) get() ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(k.ctx, oidcTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", k.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the issuer's keys: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the issuer's keys: %s", resp.Status)
	}
	// The client's transport bounds the body (limitedBodies).
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("fetching the issuer's keys: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("the issuer's keys: %v", err)
	}
	return set.Keys, nil
}
