package main

import (
	"context"
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
)

// errBadIDToken says that a password that looks like a JWT is not an
// ID token of a trusted issuer, or not one that is good now.
var errBadIDToken = errors.New("not a valid ID token of a trusted issuer")

// oidcAuth checks ID tokens of trusted issuers.
type oidcAuth struct {
	issuers []*oidcIssuer
	now     func() time.Time

	mu      sync.Mutex
	checked map[string]checkedIDToken
}

type checkedIDToken struct {
	identity string
	expiry   time.Time
}

// newOIDCAuth returns what checks the ID tokens of the issuers in cfgs,
// fetching their discovery documents and keys with client.
func newOIDCAuth(cfgs []issuerConfig, client *http.Client) *oidcAuth {
	a := &oidcAuth{now: time.Now, checked: map[string]checkedIDToken{}}
	for _, c := range cfgs {
		a.issuers = append(a.issuers, &oidcIssuer{cfg: c, client: client, now: a.now})
	}
	return a
}

// looksLikeJWT reports whether s has the shape of a JWS in compact form,
// so that a password that is not one is never sent to an issuer's
// verifier.
func looksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 && len(s) <= maxTokenBytes
}

// identify returns the identity that raw, an ID token, names when a
// trusted issuer signed it for its configured audience and it has not
// expired. It returns an error that Is errBadIDToken otherwise.
func (a *oidcAuth) identify(ctx context.Context, raw string) (string, error) {
	if !looksLikeJWT(raw) {
		return "", errBadIDToken
	}
	now := a.now()
	a.mu.Lock()
	c, ok := a.checked[raw]
	a.mu.Unlock()
	if ok {
		if now.After(c.expiry) {
			return "", fmt.Errorf("%w: expired", errBadIDToken)
		}
		return c.identity, nil
	}
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	var is *oidcIssuer
	for _, x := range a.issuers {
		if x.cfg.url == iss {
			is = x
		}
	}
	if is == nil {
		return "", fmt.Errorf("%w: issuer %q is not trusted", errBadIDToken, iss)
	}
	v, err := is.verifier(ctx)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return "", fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	name, _ := claims[is.cfg.claim].(string)
	if name == "" {
		return "", fmt.Errorf("%w: no claim %q naming the identity", errBadIDToken, is.cfg.claim)
	}
	identity := is.cfg.prefix + name
	a.mu.Lock()
	if len(a.checked) >= maxCheckedIDTokens {
		clear(a.checked)
	}
	a.checked[raw] = checkedIDToken{identity: identity, expiry: tok.Expiry}
	a.mu.Unlock()
	return identity, nil
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
		if now := is.now(); !is.lastTried.IsZero() && now.Sub(is.lastTried) < oidcRetry {
			defer is.mu.Unlock()
			return nil, is.lastErr
		} else {
			is.lastTried = now
		}
		is.mu.Unlock()
		v, err := is.discover()
		is.mu.Lock()
		defer is.mu.Unlock()
		is.v, is.lastErr = v, err
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
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), is.client), oidcTimeout)
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
	keys := &limitedKeySet{url: doc.JWKSURL, client: is.client, now: is.now}
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
		if now := k.now(); !k.lastFetch.IsZero() && now.Sub(k.lastFetch) < oidcRetry {
			defer k.mu.Unlock()
			return k.keys, nil
		} else {
			k.lastFetch = now
		}
		k.mu.Unlock()
		keys, err := k.get()
		if err != nil {
			return nil, err
		}
		k.mu.Lock()
		defer k.mu.Unlock()
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
	ctx, cancel := context.WithTimeout(context.Background(), oidcTimeout)
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
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxOIDCDocument+1))
	if err != nil || len(data) > maxOIDCDocument {
		return nil, fmt.Errorf("fetching the issuer's keys: body too big or cut short")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("the issuer's keys: %v", err)
	}
	return set.Keys, nil
}
