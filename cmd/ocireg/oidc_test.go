package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/go-quicktest/qt"
	"golang.org/x/crypto/bcrypt"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
)

// testIssuer is an OpenID Connect issuer served by go-oidc's test
// server, counting the requests for its keys.
type testIssuer struct {
	url       string
	key       *rsa.PrivateKey
	keyFetch  atomic.Int64
	discovery atomic.Int64
}

func startIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	qt.Assert(t, qt.IsNil(err))
	is := &testIssuer{key: key}
	s := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/openid-configuration") {
			is.discovery.Add(1)
		} else {
			is.keyFetch.Add(1)
		}
		s.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	s.SetIssuer(srv.URL)
	is.url = srv.URL
	return is
}

// token returns an ID token of the issuer's with the given claims, over
// a subject, audience and expiry in five minutes that they may replace.
func (is *testIssuer) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": is.url, "aud": "registry.example", "sub": "repo:org/app:ref:refs/heads/main", "exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix()}
	for k, v := range claims {
		c[k] = v
	}
	data, err := json.Marshal(c)
	qt.Assert(t, qt.IsNil(err))
	return oidctest.SignIDToken(is.key, "k1", oidc.RS256, string(data))
}

// oidcRules let the CI identity push to org/**, and every htpasswd user
// pull everything.
var oidcRules = []accessRule{
	{users: []string{"ci:repo:org/app:ref:refs/heads/main"}, patterns: []string{"org/**"}, access: []ocifilter.Access{ocifilter.AccessRead, ocifilter.AccessWrite}},
	{users: []string{"*"}, patterns: []string{"**"}, access: []ocifilter.Access{ocifilter.AccessRead}},
}

// startOIDCServer serves a registry in memory to alice (htpasswd) and to
// the identities of is, under oidcRules, with the token service when
// withTokens is set.
func startOIDCServer(t *testing.T, is *testIssuer, withTokens bool) *httptest.Server {
	t.Helper()
	auth := tokenUsers(t, "alice")
	auth.oidc = newOIDCAuth(t.Context(), []issuerConfig{{url: is.url, audience: "registry.example", claim: "sub", prefix: "ci:"}}, http.DefaultClient)
	var ts *tokenService
	if withTokens {
		var err error
		ts, err = newTokenService(tokenConfig{issuer: defaultTokenIssuer, service: defaultTokenService, expiry: defaultTokenExpiry}, auth, oidcRules)
		qt.Assert(t, qt.IsNil(err))
	}
	h, _ := newHandler(ocimem.New(), auth, oidcRules, ts, slog.New(slog.DiscardHandler), newMetrics(), serverLimits{maxUploads: -1}, false)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestOIDC checks that an ID token of a trusted issuer, given as the
// password, proves the identity it names, which the access rules then
// govern, both with Basic authentication and through the token service,
// and that tokens that are not good are refused.
func TestOIDC(t *testing.T) {
	for _, withTokens := range []bool{false, true} {
		t.Run(map[bool]string{false: "Basic", true: "Token"}[withTokens], func(t *testing.T) {
			is := startIssuer(t)
			srv := startOIDCServer(t, is, withTokens)
			client := func(password string) ociregistry.Interface {
				c, err := ociclient.New(srv.URL, &ociclient.Options{
					Auth: ociauth.StaticCredentials{srv.Listener.Addr().String(): {Username: "ci", Password: password}},
				})
				qt.Assert(t, qt.IsNil(err))
				return c
			}
			ctx := t.Context()
			start := time.Now()
			ci := client(is.token(t, nil))
			if withTokens {
				// A token given for an ID token lives no longer
				// than it.
				short := is.token(t, map[string]any{"exp": time.Now().Add(90 * time.Second).Unix()})
				status, body := getToken(t, srv, "ci", short, "repository:org/app:pull")
				qt.Assert(t, qt.Equals(status, http.StatusOK))
				qt.Assert(t, qt.IsTrue(body["expires_in"].(float64) <= 90), qt.Commentf("expires_in %v", body["expires_in"]))
			}
			p := ocitest.PushRandomImage(t, ci, "org/app", "v1")
			desc, err := ci.ResolveTag(ctx, "org/app", "v1")
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(desc.Digest, p.Manifest.Digest))
			// "*" is every htpasswd user, not every identity.
			_, err = ci.ResolveTag(ctx, "other/app", "v1")
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDenied))
			_, err = ociregistry.All(ci.Repositories(ctx, ""))
			qt.Assert(t, qt.IsNil(err))

			other := startIssuer(t)
			for name, tok := range map[string]string{
				"OtherAudience": is.token(t, map[string]any{"aud": "elsewhere"}),
				"Expired":       is.token(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}),
				"NoSubject":     is.token(t, map[string]any{"sub": ""}),
				"Untrusted":     other.token(t, nil),
				"ForgedIssuer":  other.token(t, map[string]any{"iss": is.url}),
			} {
				_, err := client(tok).ResolveTag(ctx, "org/app", "v1")
				qt.Check(t, qt.ErrorIs(err, ociregistry.ErrUnauthorized), qt.Commentf("%s", name))
			}
			qt.Check(t, qt.Equals(other.discovery.Load(), int64(0)), qt.Commentf("an untrusted issuer was asked"))
			for i := range 20 {
				data, err := json.Marshal(map[string]any{"iss": is.url, "aud": "registry.example", "sub": "x", "exp": time.Now().Add(time.Minute).Unix()})
				qt.Assert(t, qt.IsNil(err))
				forged := oidctest.SignIDToken(other.key, fmt.Sprintf("made-up-%d", i), oidc.RS256, string(data))
				_, err = client(forged).ResolveTag(ctx, "org/app", "v1")
				qt.Check(t, qt.ErrorIs(err, ociregistry.ErrUnauthorized))
			}
			// Tokens signed with keys the issuer does not have make
			// it fetch its keys again at most once in oidcRetry.
			most := 2 + int64(time.Since(start)/oidcRetry)
			qt.Check(t, qt.IsTrue(is.keyFetch.Load() <= most), qt.Commentf("keys fetched %d times, at most %d allowed", is.keyFetch.Load(), most))
			qt.Check(t, qt.Equals(is.discovery.Load(), int64(1)))
		})
	}
}

// TestOIDCCrane has crane log in with an ID token as its password, push
// and pull through the token service.
func TestOIDCCrane(t *testing.T) {
	crane := toolstest.Require(t, "crane")
	is := startIssuer(t)
	srv := startOIDCServer(t, is, true)
	host := srv.Listener.Addr().String()
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(crane, args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir, "HOME="+dir)
		out, err := cmd.CombinedOutput()
		qt.Assert(t, qt.IsNil(err), qt.Commentf("crane %q: %s", args, out))
		return string(out)
	}
	run("auth", "login", host, "-u", "ci", "-p", is.token(t, nil))
	layer := filepath.Join(dir, "layer.tar")
	qt.Assert(t, qt.IsNil(os.WriteFile(layer, make([]byte, 10240), 0o666)))
	run("append", "--insecure", "-f", layer, "-t", host+"/org/app:v1")
	dg := strings.TrimSpace(run("digest", "--insecure", host+"/org/app:v1"))
	qt.Assert(t, qt.IsTrue(strings.HasPrefix(dg, "sha256:")))
	qt.Assert(t, qt.Equals(strings.TrimSpace(run("ls", "--insecure", host+"/org/app")), "v1"))
}

// TestOIDCBounds checks what an issuer or a client cannot make the
// server do: read a discovery document of any size, take an identity
// of an issuer that is no longer trusted, or spend a password check's
// time when there are no users to check.
func TestOIDCBounds(t *testing.T) {
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"issuer": "x", "pad": "`)
		for range 3 << 10 {
			w.Write(make([]byte, 1024))
		}
		io.WriteString(w, `"}`)
	}))
	defer big.Close()
	a := newOIDCAuth(t.Context(), []issuerConfig{{url: big.URL, audience: "a", claim: "sub", prefix: "big:"}}, http.DefaultClient)
	err := a.discoverAll(t.Context())
	qt.Assert(t, qt.ErrorMatches(err, ".*"+errOIDCDocumentTooBig.Error()))

	auth := tokenUsers(t, "alice")
	auth.oidc = newOIDCAuth(t.Context(), []issuerConfig{{url: "https://ci.example", audience: "a", claim: "sub", prefix: "ci:"}}, http.DefaultClient)
	qt.Check(t, qt.IsTrue(auth.known("ci:repo:x")))
	qt.Check(t, qt.IsFalse(auth.known("gone:repo:x")))
	qt.Check(t, qt.IsTrue(auth.known("alice")))
	qt.Check(t, qt.IsFalse(auth.known("bob")))

	// The time-hiding check of an unknown user costs what the file's
	// own checks cost, and nothing without users.
	hash, ok := auth.users.hashes["alice"]
	qt.Assert(t, qt.IsTrue(ok))
	fileCost, err := bcrypt.Cost(hash)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsFalse(auth.users.verify("bob", "x")))
	dummyCost, err := bcrypt.Cost(auth.users.dummy())
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(dummyCost, fileCost))
	empty := &htpasswd{hashes: map[string][]byte{}, verified: map[string][32]byte{}}
	qt.Check(t, qt.IsFalse(empty.verify("bob", "x")))
	qt.Check(t, qt.IsNil(empty.dummyHash))
}
