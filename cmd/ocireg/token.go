package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifilter"
)

// tokenConfig is the config file's token section: ocireg's own token
// service, the bearer-token protocol of docker's registry (the realm
// that a 401 names hands out JWTs whose access claims say what the
// bearer may do).
type tokenConfig struct {
	keyFile string        // PEM private key; "" makes one at start
	issuer  string        // the tokens' iss claim
	service string        // the tokens' aud claim, and the challenge's service
	realm   string        // the token endpoint's URL; "" derives it from each request
	expiry  time.Duration // how long a token is good for
}

// Defaults of the token section.
const (
	defaultTokenIssuer  = "ocireg"
	defaultTokenService = "ocireg"
	defaultTokenExpiry  = 5 * time.Minute
	// maxTokenExpiry bounds expiry: a token cannot be taken back, so
	// one that outlives a change of the access rules or htpasswd file
	// keeps what they no longer give.
	maxTokenExpiry = 24 * time.Hour
	// tokenLeeway is the clock difference between replicas that a
	// token's times allow for.
	tokenLeeway = 30 * time.Second
	// minTokenExpiry is the shortest life a token may have: docker's
	// token protocol says that a token lives at least 60 seconds, and
	// clients (regclient, containers/image) keep one that long.
	minTokenExpiry = time.Minute
	// maxScopes bounds the scopes of one token request that are looked
	// at: clients that add a scope for every repository they touch
	// (regclient does) get a token for the last ones.
	maxScopes = 64
	// maxAccessBytes bounds the JSON of a token's access claim, so that
	// a token stays well under maxTokenBytes: the oldest scopes asked
	// for are left out past it.
	maxAccessBytes = 8 << 10
	// maxTokenBytes bounds the bearer tokens that are parsed at all.
	maxTokenBytes = 16 << 10
	// maxCheckedTokens bounds the tokens whose check is remembered
	// (each at most maxAccessBytes of claims).
	maxCheckedTokens = 1024
)

// tokenAccess is an entry of a token's access claim.
type tokenAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// tokenClaims are the claims of a token.
type tokenClaims struct {
	jwt.RegisteredClaims
	Access []tokenAccess `json:"access"`
}

// allows reports whether the claims grant action on the resource of the
// given type and name.
func (c *tokenClaims) allows(typ, name, action string) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// tokenService issues tokens to the users of an htpasswd file and
// checks the tokens that requests bear.
type tokenService struct {
	cfg    tokenConfig
	auth   *authenticator
	rules  []accessRule // nil: every user may do everything
	key    crypto.Signer
	method jwt.SigningMethod
	kid    string
	now    func() time.Time

	// checked remembers the claims of the tokens checked good, by the
	// SHA-256 of the token, so that a signature is verified once per
	// token rather than per request.
	mu      sync.Mutex
	checked map[[32]byte]*tokenClaims
}

// newTokenService returns the token service that cfg describes for the
// users of users, granting what rules allow. It returns an error when the
// key file cannot be read or holds no key it can sign with.
func newTokenService(cfg tokenConfig, auth *authenticator, rules []accessRule) (*tokenService, error) {
	var key crypto.Signer
	if cfg.keyFile == "" {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		key = k
	} else {
		k, err := loadTokenKey(cfg.keyFile)
		if err != nil {
			return nil, err
		}
		key = k
	}
	method, err := signingMethod(key)
	if err != nil {
		return nil, fmt.Errorf("token key %s: %v", cfg.keyFile, err)
	}
	kid, err := keyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("token key %s: %v", cfg.keyFile, err)
	}
	return &tokenService{
		cfg:     cfg,
		auth:    auth,
		rules:   rules,
		key:     key,
		method:  method,
		kid:     kid,
		now:     time.Now,
		checked: map[[32]byte]*tokenClaims{},
	}, nil
}

// loadTokenKey reads a PEM private key: PKCS #8, or SEC 1 (EC) or
// PKCS #1 (RSA).
func loadTokenKey(name string) (crypto.Signer, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("token key: %v", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("token key %s: no PEM private key in it", name)
		}
		var k any
		switch block.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("token key %s: %v", name, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("token key %s: a %T cannot sign", name, k)
		}
		return s, nil
	}
}

// signingMethod returns the JWT algorithm for key.
func signingMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		case elliptic.P521():
			return jwt.SigningMethodES512, nil
		}
		return nil, fmt.Errorf("EC key on an unsupported curve")
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits; at least 2048 are needed", k.N.BitLen())
		}
		return jwt.SigningMethodRS256, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// keyID returns the key ID of pub in the form docker's registries use
// (libtrust's): the first 240 bits of the SHA-256 of its DER encoding,
// in base32, in groups of four separated by colons.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	s := base32.StdEncoding.EncodeToString(sum[:30])
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i : i+4])
	}
	return b.String(), nil
}

// tokenScope is a scope a client asks for: "repository:NAME:ACTIONS"
// or "registry:catalog:*".
type tokenScope struct {
	typ, name string
	actions   []string
}

// parseScope parses a scope. The resource type may carry a class in
// parentheses ("repository(plugin)"), which is dropped; the name is
// what lies between the first and the last colon.
func parseScope(s string) (tokenScope, bool) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok {
		return tokenScope{}, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return tokenScope{}, false
	}
	if j := strings.IndexByte(typ, '('); j >= 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:j]
	}
	return tokenScope{typ: typ, name: rest[:i], actions: strings.Split(rest[i+1:], ",")}, true
}

// String formats sc as a scope.
func (sc tokenScope) String() string {
	return sc.typ + ":" + sc.name + ":" + strings.Join(sc.actions, ",")
}

// tokenActions are the actions of repository scopes, each with the
// access it grants.
var tokenActions = []struct {
	name   string
	access ocifilter.Access
}{
	{"pull", ocifilter.AccessRead},
	{"push", ocifilter.AccessWrite},
	{"delete", ocifilter.AccessDelete},
}

// grant returns the access claim of a token for user asking for scopes:
// of each repository scope, the actions the access rules allow the user
// ("*" asks for all of them), and the catalog to any user. Scopes of
// other types, malformed scopes and invalid repository names get
// nothing. Of many scopes, the last maxScopes are looked at, and the
// claim keeps the last of what they grant that fits in maxAccessBytes:
// a client asks for what it needs now last.
func (ts *tokenService) grant(user string, scopes []string) []tokenAccess {
	scopes = scopes[max(0, len(scopes)-maxScopes):]
	var granted []tokenAccess
	add := func(typ, name, action string) {
		for i := range granted {
			if granted[i].Type == typ && granted[i].Name == name {
				if !slices.Contains(granted[i].Actions, action) {
					granted[i].Actions = append(granted[i].Actions, action)
				}
				return
			}
		}
		granted = append(granted, tokenAccess{Type: typ, Name: name, Actions: []string{action}})
	}
	for _, s := range scopes {
		sc, ok := parseScope(s)
		if !ok {
			continue
		}
		switch {
		case sc.typ == "registry" && sc.name == "catalog" && slices.Contains(sc.actions, "*"):
			add("registry", "catalog", "*")
		case sc.typ == "repository" && ociregistry.CheckRepository(sc.name) == nil:
			for _, a := range tokenActions {
				if !slices.Contains(sc.actions, a.name) && !slices.Contains(sc.actions, "*") {
					continue
				}
				if ts.rules == nil || allows(ts.rules, user, sc.name, a.access) {
					add("repository", sc.name, a.name)
				}
			}
		}
	}
	for len(granted) > 0 {
		data, _ := json.Marshal(granted)
		if len(data) <= maxAccessBytes {
			break
		}
		granted = granted[1:]
	}
	return granted
}

// issue returns a signed token for user with the access claim access,
// when it was issued and when it expires: after the configured expiry,
// or at notAfter when that is earlier (a token given for an ID token
// lives no longer than it).
func (ts *tokenService) issue(user string, access []tokenAccess, notAfter time.Time) (string, time.Time, time.Time, error) {
	now := ts.now()
	expires := now.Add(ts.cfg.expiry)
	if !notAfter.IsZero() && notAfter.Before(expires) {
		expires = notAfter
	}
	var jti [16]byte
	rand.Read(jti[:])
	claims := &tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    ts.cfg.issuer,
			Subject:   user,
			Audience:  jwt.ClaimStrings{ts.cfg.service},
			ExpiresAt: jwt.NewNumericDate(expires),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti[:]),
		},
		Access: access,
	}
	if claims.Access == nil {
		claims.Access = []tokenAccess{}
	}
	tok := jwt.NewWithClaims(ts.method, claims)
	tok.Header["kid"] = ts.kid
	s, err := tok.SignedString(ts.key)
	return s, now, expires, err
}

// errBadToken says that a bearer token is not one of ours, or no
// longer good.
var errBadToken = errors.New("invalid or expired token")

// check returns the claims of raw, a bearer token, when it is one that
// ts issued, still good, for a user the htpasswd file still has.
func (ts *tokenService) check(raw string) (*tokenClaims, error) {
	if len(raw) > maxTokenBytes {
		return nil, errBadToken
	}
	now := ts.now()
	sum := sha256.Sum256([]byte(raw))
	ts.mu.Lock()
	c, ok := ts.checked[sum]
	ts.mu.Unlock()
	if ok {
		if now.After(c.ExpiresAt.Add(tokenLeeway)) {
			return nil, errBadToken
		}
		return c, nil
	}
	c = &tokenClaims{}
	_, err := jwt.ParseWithClaims(raw, c, func(*jwt.Token) (any, error) { return ts.key.Public(), nil },
		jwt.WithValidMethods([]string{ts.method.Alg()}),
		jwt.WithIssuer(ts.cfg.issuer),
		jwt.WithAudience(ts.cfg.service),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(ts.now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadToken, err)
	}
	if !ts.auth.known(c.Subject) {
		return nil, fmt.Errorf("%w: no user %q", errBadToken, c.Subject)
	}
	ts.mu.Lock()
	if len(ts.checked) >= maxCheckedTokens {
		clear(ts.checked)
	}
	ts.checked[sum] = c
	ts.mu.Unlock()
	return c, nil
}

// tokenGrant is what a request's bearer token grants, kept in its
// context for checkToken, with the scope of the last check it failed.
type tokenGrant struct {
	claims  *tokenClaims
	catalog bool // the request lists the catalog, which the token allows

	mu     sync.Mutex
	wanted string
}

type tokenGrantKey struct{}

// checkToken returns nil when the token that ctx's request bears (if
// any) allows access to repo, and otherwise an error that Is
// ociregistry.ErrUnauthorized, noting the scope that was missing: the
// client may ask for a token that has it.
func checkToken(ctx context.Context, repo string, access ocifilter.Access) error {
	g, ok := ctx.Value(tokenGrantKey{}).(*tokenGrant)
	if !ok || g.catalog {
		return nil
	}
	action := verbOf(access)
	if g.claims.allows("repository", repo, action) {
		return nil
	}
	// The last check that failed names the scope: one that failed
	// before it was given up on (a mount from a repository the token
	// does not name falls back to an upload).
	scope := tokenScope{typ: "repository", name: repo, actions: []string{action}}.String()
	g.mu.Lock()
	g.wanted = scope
	g.mu.Unlock()
	return fmt.Errorf("token does not grant %s on repository %q: %w", action, repo, ociregistry.ErrUnauthorized)
}
