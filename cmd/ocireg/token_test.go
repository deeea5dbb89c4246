package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
)

// tokenUsers writes an htpasswd file of the given users, each with the
// password "pw-" + name, and returns an authenticator of its users.
func tokenUsers(t *testing.T, names ...string) *authenticator {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		hash, err := bcrypt.GenerateFromPassword([]byte("pw-"+n), bcrypt.MinCost)
		qt.Assert(t, qt.IsNil(err))
		b.WriteString(n + ":" + string(hash) + "\n")
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	qt.Assert(t, qt.IsNil(os.WriteFile(file, []byte(b.String()), 0o666)))
	users, err := loadHtpasswd(file)
	qt.Assert(t, qt.IsNil(err))
	return &authenticator{users: users}
}

// tokenRules lets alice do everything under alice/, and every user pull
// it.
var tokenRules = []accessRule{
	{users: []string{"alice"}, patterns: []string{"alice/**"}, access: []ocifilter.Access{ocifilter.AccessRead, ocifilter.AccessWrite, ocifilter.AccessDelete}},
	{users: []string{"*"}, patterns: []string{"alice/**"}, access: []ocifilter.Access{ocifilter.AccessRead}},
}

// startTokenServer serves a registry in memory behind the token service
// with the default settings, to alice and bob under tokenRules.
func startTokenServer(t *testing.T) (*httptest.Server, *tokenService) {
	t.Helper()
	users := tokenUsers(t, "alice", "bob")
	ts, err := newTokenService(tokenConfig{issuer: defaultTokenIssuer, service: defaultTokenService, expiry: defaultTokenExpiry}, users, tokenRules)
	qt.Assert(t, qt.IsNil(err))
	h, _ := newHandler(ocimem.New(), users, tokenRules, ts, slog.New(slog.DiscardHandler), newMetrics(), serverLimits{maxUploads: -1}, false)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, ts
}

// TestTokenClient drives the registry through the token protocol as a Go
// program does, with ociclient: each request's 401 names the token
// endpoint, the client gets a token there with the user's password, and
// what the token grants is what the access rules allow.
func TestTokenClient(t *testing.T) {
	srv, _ := startTokenServer(t)
	client := func(user string) ociregistry.Interface {
		c, err := ociclient.New(srv.URL, &ociclient.Options{
			Auth: ociauth.StaticCredentials{srv.Listener.Addr().String(): {Username: user, Password: "pw-" + user}},
		})
		qt.Assert(t, qt.IsNil(err))
		return c
	}
	alice, bob := client("alice"), client("bob")
	ctx := t.Context()

	p := ocitest.PushRandomImage(t, alice, "alice/app", "v1")
	desc, err := bob.ResolveTag(ctx, "alice/app", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, p.Manifest.Digest))
	tags, err := ociregistry.All(bob.Tags(ctx, "alice/app", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"v1"}))
	repos, err := ociregistry.All(bob.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"alice/app"}))

	// What the rules do not allow, no token gives.
	_, err = bob.PushManifest(ctx, "alice/app", "v2", p.Content, p.Manifest.MediaType)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
	qt.Assert(t, qt.ErrorIs(bob.DeleteTag(ctx, "alice/app", "v1"), ociregistry.ErrDenied))
	_, err = alice.ResolveTag(ctx, "bob/app", "v1")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))

	// A mount needs pull on the source and push on the target.
	_, err = alice.MountBlob(ctx, "alice/app", "alice/other", p.Blobs[0].Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(alice.DeleteTag(ctx, "alice/app", "v1")))
	_, err = bob.ResolveTag(ctx, "alice/app", "v1")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}

// getToken asks the token endpoint for a token with Basic credentials
// and returns the answer's status and body.
func getToken(t *testing.T, srv *httptest.Server, user, password string, scopes ...string) (int, map[string]any) {
	t.Helper()
	q := url.Values{"service": {defaultTokenService}, "scope": scopes}
	req, err := http.NewRequest("GET", srv.URL+tokenPath+"?"+q.Encode(), nil)
	qt.Assert(t, qt.IsNil(err))
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return doJSON(t, req)
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	var body map[string]any
	data, err := io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(json.Unmarshal(data, &body)), qt.Commentf("%s", data))
	return resp.StatusCode, body
}

// bearerRequest sends a request with a bearer token and returns the
// response, closed.
func bearerRequest(t *testing.T, method, u, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	qt.Assert(t, qt.IsNil(err))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	return resp
}

// TestTokenEndpoint checks the token endpoint's answers and the
// registry's challenges over HTTP.
func TestTokenEndpoint(t *testing.T) {
	srv, _ := startTokenServer(t)
	realm := `realm="` + srv.URL + tokenPath + `",service="ocireg"`

	resp := bearerRequest(t, "GET", srv.URL+"/v2/", "")
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
	qt.Assert(t, qt.Equals(resp.Header.Get("WWW-Authenticate"), "Bearer "+realm))
	resp = bearerRequest(t, "PUT", srv.URL+"/v2/alice/app/manifests/v1", "")
	qt.Assert(t, qt.Equals(resp.Header.Get("WWW-Authenticate"), "Bearer "+realm+`,scope="repository:alice/app:pull,push"`))

	status, _ := getToken(t, srv, "", "", "repository:alice/app:pull")
	qt.Assert(t, qt.Equals(status, http.StatusUnauthorized))
	status, _ = getToken(t, srv, "alice", "wrong", "repository:alice/app:pull")
	qt.Assert(t, qt.Equals(status, http.StatusUnauthorized))

	status, body := getToken(t, srv, "alice", "pw-alice", "repository:alice/app:pull")
	qt.Assert(t, qt.Equals(status, http.StatusOK))
	qt.Assert(t, qt.Equals(body["token"], body["access_token"]))
	qt.Assert(t, qt.Equals(body["expires_in"], any(float64(300))))
	pullOnly := body["token"].(string)
	resp = bearerRequest(t, "GET", srv.URL+"/v2/", pullOnly)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	resp = bearerRequest(t, "GET", srv.URL+"/v2/alice/app/tags/list", pullOnly)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusNotFound))

	// A token without the scope a request needs: 401 naming it, so
	// that the client can ask for it.
	resp = bearerRequest(t, "POST", srv.URL+"/v2/alice/app/blobs/uploads/", pullOnly)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
	qt.Assert(t, qt.Equals(resp.Header.Get("WWW-Authenticate"), "Bearer "+realm+`,scope="repository:alice/app:push",error="insufficient_scope"`))
	resp = bearerRequest(t, "GET", srv.URL+"/v2/alice/other/tags/list", pullOnly)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
	qt.Assert(t, qt.Equals(resp.Header.Get("WWW-Authenticate"), "Bearer "+realm+`,scope="repository:alice/other:pull",error="insufficient_scope"`))
	// A mount from a repository the token does not name falls back
	// to an upload, which the token does not allow either: the
	// challenge names what the request failed on.
	resp = bearerRequest(t, "POST", srv.URL+"/v2/alice/app/blobs/uploads/?from=alice/other&mount="+string(ocitest.Digest([]byte("x"))), pullOnly)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
	qt.Assert(t, qt.Equals(resp.Header.Get("WWW-Authenticate"), "Bearer "+realm+`,scope="repository:alice/app:push",error="insufficient_scope"`))
	resp = bearerRequest(t, "GET", srv.URL+"/v2/_catalog", pullOnly)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
	qt.Assert(t, qt.Equals(resp.Header.Get("WWW-Authenticate"), "Bearer "+realm+`,scope="registry:catalog:*",error="insufficient_scope"`))
	// What the rules forbid is 403 whatever the token.
	resp = bearerRequest(t, "GET", srv.URL+"/v2/bob/app/tags/list", pullOnly)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusForbidden))

	resp = bearerRequest(t, "GET", srv.URL+"/v2/", pullOnly+"x")
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
	qt.Assert(t, qt.Equals(resp.Header.Get("WWW-Authenticate"), "Bearer "+realm+`,error="invalid_token"`))

	tests := []struct {
		name   string
		form   url.Values
		status int
		want   map[string]any
	}{{
		name:   "Password",
		form:   url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-bob"}, "service": {"ocireg"}, "scope": {"repository:alice/app:pull,push repository:bob/x:pull"}, "client_id": {"test"}},
		status: http.StatusOK,
		want:   map[string]any{"scope": "repository:alice/app:pull", "expires_in": float64(300)},
	}, {
		name:   "WrongPassword",
		form:   url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-alice"}},
		status: http.StatusUnauthorized,
		want:   map[string]any{"error": "invalid_grant"},
	}, {
		name:   "RefreshToken",
		form:   url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}},
		status: http.StatusBadRequest,
		want:   map[string]any{"error": "unsupported_grant_type"},
	}, {
		name:   "OtherService",
		form:   url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-bob"}, "service": {"elsewhere"}},
		status: http.StatusBadRequest,
		want:   map[string]any{"error": "invalid_request"},
	}, {
		// A client that asks for every repository it ever touched
		// gets a token for the last ones.
		name:   "ManyScopes",
		form:   url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-bob"}, "scope": {"repository:alice/first:pull " + strings.Repeat("repository:bob/x:pull ", maxScopes-1) + "repository:alice/app:pull"}},
		status: http.StatusOK,
		want:   map[string]any{"scope": "repository:alice/app:pull"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", srv.URL+tokenPath, strings.NewReader(tc.form.Encode()))
			qt.Assert(t, qt.IsNil(err))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, body := doJSON(t, req)
			qt.Assert(t, qt.Equals(status, tc.status), qt.Commentf("%v", body))
			for k, v := range tc.want {
				qt.Check(t, qt.Equals(body[k], v), qt.Commentf("field %s", k))
			}
			if tc.status == http.StatusOK {
				resp := bearerRequest(t, "GET", srv.URL+"/v2/alice/app/tags/list", body["access_token"].(string))
				qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusNotFound))
			}
		})
	}
}

// TestTokenGrant checks what a token gives for the scopes asked for.
func TestTokenGrant(t *testing.T) {
	ts, err := newTokenService(tokenConfig{}, tokenUsers(t, "alice", "bob"), tokenRules)
	qt.Assert(t, qt.IsNil(err))
	tests := []struct {
		user   string
		scopes []string
		want   []tokenAccess
	}{
		{"alice", []string{"repository:alice/app:pull,push"}, []tokenAccess{{"repository", "alice/app", []string{"pull", "push"}}}},
		{"alice", []string{"repository:alice/app:*"}, []tokenAccess{{"repository", "alice/app", []string{"pull", "push", "delete"}}}},
		{"bob", []string{"repository:alice/app:*"}, []tokenAccess{{"repository", "alice/app", []string{"pull"}}}},
		{"bob", []string{"repository:alice/app:push", "repository:alice/app:pull"}, []tokenAccess{{"repository", "alice/app", []string{"pull"}}}},
		{"alice", []string{"repository:alice/app:pull", "repository:alice/app:delete"}, []tokenAccess{{"repository", "alice/app", []string{"pull", "delete"}}}},
		{"alice", []string{"repository(plugin):alice/app:pull"}, []tokenAccess{{"repository", "alice/app", []string{"pull"}}}},
		{"alice", []string{"registry:catalog:*"}, []tokenAccess{{"registry", "catalog", []string{"*"}}}},
		{"alice", []string{"registry:catalog:pull"}, nil},
		{"alice", []string{"repository:Alice/App:pull"}, nil},
		{"alice", []string{"repository:alice/../x:pull"}, nil},
		{"alice", []string{"repository:alice/app"}, nil},
		{"alice", []string{"repository:alice/app:steal"}, nil},
		{"alice", []string{"other:alice/app:pull"}, nil},
		{"bob", []string{"repository:bob/app:pull"}, nil},
	}
	for _, tc := range tests {
		qt.Check(t, qt.DeepEquals(ts.grant(tc.user, tc.scopes), tc.want), qt.Commentf("%s %q", tc.user, tc.scopes))
	}
}

// TestTokenCheck checks that only the service's own tokens, good now,
// for users it still has, are taken.
func TestTokenCheck(t *testing.T) {
	users := tokenUsers(t, "alice")
	cfg := tokenConfig{issuer: "ocireg", service: "ocireg", expiry: time.Minute}
	ts, err := newTokenService(cfg, users, nil)
	qt.Assert(t, qt.IsNil(err))
	good, _, _, err := ts.issue("alice", nil, time.Time{})
	qt.Assert(t, qt.IsNil(err))
	_, err = ts.check(good)
	qt.Assert(t, qt.IsNil(err))

	other, err := newTokenService(cfg, users, nil)
	qt.Assert(t, qt.IsNil(err))
	otherKey, _, _, err := other.issue("alice", nil, time.Time{})
	qt.Assert(t, qt.IsNil(err))
	otherCfg := cfg
	otherCfg.service = "elsewhere"
	elsewhere, err := newTokenService(otherCfg, users, nil)
	qt.Assert(t, qt.IsNil(err))
	elsewhere.key, elsewhere.method = ts.key, ts.method
	otherAud, _, _, err := elsewhere.issue("alice", nil, time.Time{})
	qt.Assert(t, qt.IsNil(err))
	ghost, _, _, err := ts.issue("mallory", nil, time.Time{})
	qt.Assert(t, qt.IsNil(err))
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, &tokenClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "ocireg", Subject: "alice", Audience: jwt.ClaimStrings{"ocireg"}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute)),
	}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	qt.Assert(t, qt.IsNil(err))
	for name, tok := range map[string]string{
		"OtherKey":      otherKey,
		"OtherService":  otherAud,
		"UnknownUser":   ghost,
		"Unsigned":      unsigned,
		"Tampered":      good[:len(good)-4] + "AAAA",
		"TooLong":       good + strings.Repeat("A", maxTokenBytes),
		"NotEvenAToken": "hello",
	} {
		_, err := ts.check(tok)
		qt.Check(t, qt.ErrorIs(err, errBadToken), qt.Commentf("%s", name))
	}

	// A token is good until it expires, remembered or not.
	later := time.Now().Add(time.Minute + tokenLeeway + time.Second)
	ts.now = func() time.Time { return later }
	_, err = ts.check(good)
	qt.Assert(t, qt.ErrorIs(err, errBadToken))
	fresh, err := newTokenService(cfg, users, nil)
	qt.Assert(t, qt.IsNil(err))
	fresh.key, fresh.method = ts.key, ts.method
	fresh.now = ts.now
	_, err = fresh.check(good)
	qt.Assert(t, qt.ErrorIs(err, errBadToken))
}

// TestTokenKeys checks that keys of each kind load from PEM files and
// sign tokens that check.
func TestTokenKeys(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	qt.Assert(t, qt.IsNil(err))
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	qt.Assert(t, qt.IsNil(err))
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	qt.Assert(t, qt.IsNil(err))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	qt.Assert(t, qt.IsNil(err))
	ecDER, err := x509.MarshalECPrivateKey(ec)
	qt.Assert(t, qt.IsNil(err))
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		qt.Assert(t, qt.IsNil(err))
		return der
	}
	tests := []struct {
		name    string
		block   *pem.Block
		alg     string
		wantErr string
	}{
		{"EC", &pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}, "ES384", ""},
		{"Ed25519", &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8(ed)}, "EdDSA", ""},
		{"RSA", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rs)}, "RS256", ""},
		{"SmallRSA", &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8(small)}, "", "at least 2048"},
		{"Certificate", &pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}, "", "no PEM private key"},
	}
	users := tokenUsers(t, "alice")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "key.pem")
			qt.Assert(t, qt.IsNil(os.WriteFile(file, pem.EncodeToMemory(tc.block), 0o600)))
			ts, err := newTokenService(tokenConfig{keyFile: file, issuer: "i", service: "s", expiry: time.Minute}, users, nil)
			if tc.wantErr != "" {
				qt.Assert(t, qt.ErrorMatches(err, ".*"+tc.wantErr+".*"))
				return
			}
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(ts.method.Alg(), tc.alg))
			tok, _, _, err := ts.issue("alice", nil, time.Time{})
			qt.Assert(t, qt.IsNil(err))
			// Another replica with the same key file takes it.
			replica, err := newTokenService(ts.cfg, users, nil)
			qt.Assert(t, qt.IsNil(err))
			_, err = replica.check(tok)
			qt.Assert(t, qt.IsNil(err))
		})
	}
}

// TestTokenSize checks that a token for as many scopes of names as long
// as they may be is one that the service takes back, holding the last
// of them.
func TestTokenSize(t *testing.T) {
	rules := []accessRule{{users: []string{"alice"}, patterns: []string{"**"}, access: []ocifilter.Access{ocifilter.AccessRead, ocifilter.AccessWrite, ocifilter.AccessDelete}}}
	ts, err := newTokenService(tokenConfig{issuer: "ocireg", service: "ocireg", expiry: time.Minute}, tokenUsers(t, "alice"), rules)
	qt.Assert(t, qt.IsNil(err))
	var scopes []string
	for i := range 2 * maxScopes {
		name := fmt.Sprintf("%03d/%s", i, strings.Repeat("a", 251))
		scopes = append(scopes, "repository:"+name+":pull,push,delete")
	}
	granted := ts.grant("alice", scopes)
	qt.Assert(t, qt.IsTrue(len(granted) > 0))
	qt.Assert(t, qt.Equals(granted[len(granted)-1].Name, fmt.Sprintf("%03d/%s", 2*maxScopes-1, strings.Repeat("a", 251))))
	tok, _, _, err := ts.issue("alice", granted, time.Time{})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(len(tok) <= maxTokenBytes), qt.Commentf("token of %d bytes", len(tok)))
	c, err := ts.check(tok)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(c.Access, granted))
}
