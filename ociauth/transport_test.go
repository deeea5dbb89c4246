package ociauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

// tokenServer is a token server of the Docker token specification. It
// accepts user:pass with GET, or the refresh token "refresh-me" with
// POST, and grants every scope asked for.
type tokenServer struct {
	*httptest.Server
	expiresIn int

	mu       sync.Mutex
	requests []string // "METHOD scope scope..."
	tokens   map[string]grant
}

type grant struct {
	scopes  []string
	expires time.Time
}

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	ts := &tokenServer{expiresIn: expiresIn, tokens: map[string]grant{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, req *http.Request) {
	var scopes []string
	switch req.Method {
	case "GET":
		if user, pass, ok := req.BasicAuth(); ok && (user != "user" || pass != "pass") {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		scopes = req.URL.Query()["scope"]
	case "POST":
		req.ParseForm()
		if req.Form.Get("grant_type") != "refresh_token" || req.Form.Get("refresh_token") != "refresh-me" {
			http.Error(w, "bad refresh token", http.StatusUnauthorized)
			return
		}
		scopes = strings.Fields(req.Form.Get("scope"))
	}
	if req.URL.Query().Get("service") != "test-registry" && req.Form.Get("service") != "test-registry" {
		http.Error(w, "bad service", http.StatusBadRequest)
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tok := fmt.Sprintf("token-%d", len(ts.requests))
	ts.requests = append(ts.requests, req.Method+" "+strings.Join(scopes, " "))
	ts.tokens[tok] = grant{scopes: scopes, expires: time.Now().Add(time.Duration(ts.expiresIn) * time.Second)}
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": ts.expiresIn})
}

// allows reports whether tok grants action on repo.
func (ts *tokenServer) allows(tok, repo, action string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g, ok := ts.tokens[tok]
	if !ok || time.Now().After(g.expires) {
		return false
	}
	for _, s := range g.scopes {
		parts := strings.Split(s, ":")
		if len(parts) == 3 && parts[1] == repo && slices.Contains(strings.Split(parts[2], ","), action) {
			return true
		}
	}
	return false
}

// known reports whether tok is a token that ts gave and that has not
// expired.
func (ts *tokenServer) known(tok string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g, ok := ts.tokens[tok]
	return ok && time.Now().Before(g.expires)
}

func (ts *tokenServer) requestLog() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.requests)
}

// bearerRegistry serves h and asks for tokens from ts.
func bearerRegistry(ts *tokenServer, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		repo, action := "", "pull"
		if p, ok := strings.CutPrefix(req.URL.Path, "/v2/"); ok {
			for _, m := range []string{"/blobs/", "/manifests/", "/tags/", "/referrers/"} {
				if i := strings.Index(p, m); i > 0 {
					repo = p[:i]
					break
				}
			}
		}
		if req.Method != "GET" && req.Method != "HEAD" {
			action = "push"
		}
		tok, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if req.URL.Path == "/v2/" && !ts.known(tok) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="test-registry"`, ts.URL))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if repo != "" && !ts.allows(tok, repo, action) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="test-registry",scope="repository:%s:%s"`, ts.URL, repo, action))
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		h.ServeHTTP(w, req)
	})
}

func newAuthClient(t *testing.T, h http.Handler, creds ociauth.CredentialsSource) (ociregistry.Interface, string) {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	c, err := ociclient.New(host, &ociclient.Options{Auth: creds})
	qt.Assert(t, qt.IsNil(err))
	return c, host
}

func TestBearerPushPull(t *testing.T) {
	ts := newTokenServer(t, 300)
	creds := ociauth.StaticCredentials{}
	c, host := newAuthClient(t, bearerRegistry(ts, ociserver.New(ocimem.New(), nil)), creds)
	creds[host] = ociauth.Credentials{Username: "user", Password: "pass"}
	ctx := context.Background()

	img := ocitest.PushRandomImage(t, c, "a/b", "latest")
	desc, err := c.ResolveTag(ctx, "a/b", "latest")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, img.Manifest.Digest))
	r, err := c.GetBlob(ctx, "a/b", img.Blobs[0].Digest)
	qt.Assert(t, qt.IsNil(err))
	_, err = io.ReadAll(r)
	qt.Assert(t, qt.IsNil(err))

	// One token, for pull and push, serves the whole push and the
	// pulls after it.
	qt.Assert(t, qt.DeepEquals(ts.requestLog(), []string{"GET repository:a/b:pull,push"}))

	// Another repository needs another token; a pull asks for pull only.
	_, err = c.ResolveTag(ctx, "c/d", "latest")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	qt.Assert(t, qt.DeepEquals(ts.requestLog()[1:], []string{"GET repository:c/d:pull"}))

	// Pushing there widens the scope to pull and push.
	ocitest.PushBlob(t, c, "c/d", []byte("widened"))
	qt.Assert(t, qt.DeepEquals(ts.requestLog()[2:], []string{"GET repository:c/d:pull,push"}))

	// A mount asks for pull on where the blob comes from too.
	_, err = c.MountBlob(ctx, "a/b", "e/f", img.Blobs[0].Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(ts.requestLog()[3:4], []string{"GET repository:a/b:pull repository:e/f:pull,push"}))
}

func TestBearerWrongCredentials(t *testing.T) {
	ts := newTokenServer(t, 300)
	creds := ociauth.StaticCredentials{}
	c, host := newAuthClient(t, bearerRegistry(ts, ociserver.New(ocimem.New(), nil)), creds)
	creds[host] = ociauth.Credentials{Username: "user", Password: "wrong"}
	_, err := c.ResolveTag(context.Background(), "a/b", "latest")
	qt.Assert(t, qt.ErrorMatches(err, `.*token server 127.0.0.1:\d+ answered 401 Unauthorized: bad credentials: authentication required \(401 Unauthorized\)`))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrUnauthorized))
	// It is the token server's answer: a server passing it on knows
	// that it is not its own.
	var herr *ociregistry.HTTPError
	qt.Assert(t, qt.ErrorAs(err, &herr))
	qt.Assert(t, qt.Equals(herr.StatusCode, http.StatusUnauthorized))
}

func TestBearerTokenExpiry(t *testing.T) {
	ts := newTokenServer(t, 1)
	mem := ocimem.New()
	ocitest.PushRandomImage(t, mem, "a/b", "latest")
	creds := ociauth.StaticCredentials{}
	c, host := newAuthClient(t, bearerRegistry(ts, ociserver.New(mem, nil)), creds)
	creds[host] = ociauth.Credentials{Username: "user", Password: "pass"}
	ctx := context.Background()
	for range 3 {
		_, err := c.ResolveTag(ctx, "a/b", "latest")
		qt.Assert(t, qt.IsNil(err))
	}
	qt.Assert(t, qt.HasLen(ts.requestLog(), 1))
	time.Sleep(1100 * time.Millisecond)
	_, err := c.ResolveTag(ctx, "a/b", "latest")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(ts.requestLog(), 2))
}

// TestRefreshTokenFromHelper drives the whole chain: a config.json in a
// temporary $DOCKER_CONFIG names a credential helper, a real executable
// found on $PATH, which gives an identity token, which is exchanged for
// an access token with POST.
func TestRefreshTokenFromHelper(t *testing.T) {
	ts := newTokenServer(t, 300)
	mem := ocimem.New()
	ocitest.PushRandomImage(t, mem, "a/b", "latest")
	srv := httptest.NewServer(bearerRegistry(ts, ociserver.New(mem, nil)))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()

	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	helperDir := filepath.Join(dir, "bin")
	qt.Assert(t, qt.IsNil(os.MkdirAll(helperDir, 0o755)))
	// The helper answers with an identity token for this host.
	script := "#!/bin/sh\nread -r server\necho '{\"ServerURL\":\"'$server'\",\"Username\":\"<token>\",\"Secret\":\"refresh-me\"}'\n"
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(helperDir, "docker-credential-e2e"), []byte(script), 0o755)))
	t.Setenv("PATH", helperDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credHelpers":{"`+host+`":"e2e"}}`), 0o600)))

	cfg, err := ociauth.Load()
	qt.Assert(t, qt.IsNil(err))
	c, err := ociclient.New(host, &ociclient.Options{Auth: cfg})
	qt.Assert(t, qt.IsNil(err))
	_, err = c.ResolveTag(context.Background(), "a/b", "latest")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(ts.requestLog(), []string{"POST repository:a/b:pull"}))
}

// TestHelperOnPathBasic uses the helper in testdata, found on $PATH
// through a config.json in $DOCKER_CONFIG, against a registry that asks
// for Basic authentication.
func TestHelperOnPathBasic(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	qt.Assert(t, qt.IsNil(err))
	t.Setenv("PATH", testdata+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credsStore":"ocitest"}`), 0o600)))
	cfg, err := ociauth.Load()
	qt.Assert(t, qt.IsNil(err))

	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "a/b", "latest")
	c, _ := newAuthClient(t, basicRegistry("helperuser", "helperpass", ociserver.New(mem, nil)), cfg)
	desc, err := c.ResolveTag(context.Background(), "a/b", "latest")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, img.Manifest.Digest))
}

// basicRegistry serves h to requests with the given Basic credentials.
func basicRegistry(user, pass string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	})
}

func TestBasic(t *testing.T) {
	mem := ocimem.New()
	tests := []struct {
		name    string
		creds   ociauth.Credentials
		wantErr error
	}{
		{"Good", ociauth.Credentials{Username: "user", Password: "pass"}, nil},
		{"Wrong", ociauth.Credentials{Username: "user", Password: "nope"}, ociregistry.ErrUnauthorized},
		{"None", ociauth.Credentials{}, ociregistry.ErrUnauthorized},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			creds := ociauth.StaticCredentials{}
			c, host := newAuthClient(t, basicRegistry("user", "pass", ociserver.New(mem, nil)), creds)
			creds[host] = test.creds
			// A push's first request has a body that cannot be sent
			// twice; the transport learns the challenge first.
			_, err := c.PushBlob(context.Background(), "a/b", ociregistry.Descriptor{
				Digest: ocitest.Digest([]byte("x")),
				Size:   1,
			}, io.MultiReader(strings.NewReader("x")))
			if test.wantErr != nil {
				qt.Assert(t, qt.ErrorIs(err, test.wantErr))
			} else {
				qt.Assert(t, qt.IsNil(err))
			}
		})
	}
}

// TestNoCredentialsToOtherHosts checks that a redirect to blob storage
// on another host carries no credentials, with Basic and with Bearer.
func TestNoCredentialsToOtherHosts(t *testing.T) {
	data := []byte("blob in storage")
	var mu sync.Mutex
	var storageAuth []string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		storageAuth = append(storageAuth, req.Header.Get("Authorization")+"|"+req.URL.RawQuery)
		mu.Unlock()
		w.Write(data)
	}))
	t.Cleanup(storage.Close)
	redirect := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, storage.URL+"/bucket/blob", http.StatusTemporaryRedirect)
	})
	ts := newTokenServer(t, 300)
	for _, test := range []struct {
		name string
		h    http.Handler
	}{
		{"Basic", basicRegistry("user", "pass", redirect)},
		{"Bearer", bearerRegistry(ts, redirect)},
	} {
		t.Run(test.name, func(t *testing.T) {
			mu.Lock()
			storageAuth = nil
			mu.Unlock()
			creds := ociauth.StaticCredentials{}
			c, host := newAuthClient(t, test.h, creds)
			creds[host] = ociauth.Credentials{Username: "user", Password: "pass"}
			r, err := c.GetBlob(context.Background(), "a/b", ocitest.Digest(data))
			qt.Assert(t, qt.IsNil(err))
			got, err := io.ReadAll(r)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(string(got), string(data)))
			mu.Lock()
			defer mu.Unlock()
			qt.Assert(t, qt.DeepEquals(storageAuth, []string{"|"}))
		})
	}
}

// roundTripFunc is an http.RoundTripper made of a function, so that a
// test can play every server without the network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// stubResponse returns a response to req with the given status and
// headers, and an empty body unless body is given.
func stubResponse(req *http.Request, status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{
		StatusCode: status,
		Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}
}

// TestNoCredentialsOnSchemeDowngrade checks that a redirect from
// https://host to http://host, which anyone on the network path can
// answer, carries neither the Basic credentials nor the token that
// https://host was given, and that a challenge from the plain HTTP host
// is not answered with them either.
func TestNoCredentialsOnSchemeDowngrade(t *testing.T) {
	const (
		host  = "reg.example"
		path  = "/v2/a/b/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		realm = "https://auth.example/token"
	)
	tests := []struct {
		name      string
		challenge string
		wantAuth  string // what https://host must get, to show credentials were in play
	}{
		{"Basic", `Basic realm="reg"`, "Basic dXNlcjpwYXNz"},
		{"Bearer", `Bearer realm="` + realm + `",service="reg",scope="repository:a/b:pull"`, "Bearer tok"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var secureAuth, plainAuth []string
			tokenRequests := 0
			base := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				auth := req.Header.Get("Authorization")
				switch {
				case req.URL.Host == "auth.example":
					tokenRequests++
					return stubResponse(req, http.StatusOK, nil, `{"token":"tok","expires_in":300}`), nil
				case req.URL.Host != host:
					return nil, fmt.Errorf("unexpected request to %s", req.URL)
				case req.URL.Scheme == "https":
					secureAuth = append(secureAuth, auth)
					if auth == "" {
						return stubResponse(req, http.StatusUnauthorized, http.Header{"Www-Authenticate": {test.challenge}}, ""), nil
					}
					return stubResponse(req, http.StatusTemporaryRedirect, http.Header{"Location": {"http://" + host + path}}, ""), nil
				default:
					plainAuth = append(plainAuth, auth)
					if auth == "" {
						// Ask for the credentials again, as an
						// attacker would.
						return stubResponse(req, http.StatusUnauthorized, http.Header{"Www-Authenticate": {test.challenge}}, ""), nil
					}
					return stubResponse(req, http.StatusOK, nil, "stolen"), nil
				}
			})
			tr := ociauth.NewTransport(base, ociauth.StaticCredentials{
				host: {Username: "user", Password: "pass"},
			})
			client := &http.Client{Transport: tr}
			resp, err := client.Get("https://" + host + path)
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
			qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
			qt.Assert(t, qt.Equals(resp.Request.URL.Scheme, "http"))
			qt.Assert(t, qt.DeepEquals(secureAuth, []string{"", test.wantAuth}))
			qt.Assert(t, qt.DeepEquals(plainAuth, []string{""}))
			if test.name == "Bearer" {
				// No token was got for the plain HTTP host either.
				qt.Assert(t, qt.Equals(tokenRequests, 1))
			}

			// Later requests to the plain HTTP host, even those
			// that start there, get nothing either.
			resp, err = client.Get("http://" + host + path)
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
			qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
			qt.Assert(t, qt.DeepEquals(plainAuth, []string{"", ""}))
		})
	}
}

func TestAccessTokenSentAsIs(t *testing.T) {
	var got []string
	creds := ociauth.StaticCredentials{}
	c, host := newAuthClient(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got = append(got, req.Header.Get("Authorization"))
		if req.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://127.0.0.1:1/never",service="x"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	}), creds)
	creds[host] = ociauth.Credentials{AccessToken: "given"}
	_, err := c.ResolveTag(context.Background(), "a/b", "t")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	qt.Assert(t, qt.DeepEquals(got, []string{"", "Bearer given"}))
}

func TestTokenServerDown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://127.0.0.1:1/never",service="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	c, err := ociclient.New(srv.Listener.Addr().String(), &ociclient.Options{
		MaxRetries: -1,
	})
	qt.Assert(t, qt.IsNil(err))
	_, err = c.ResolveTag(context.Background(), "a/b", "t")
	qt.Assert(t, qt.ErrorMatches(err, `.*ociauth: token server: .*connection refused`))
}

func TestNoCredentialsToPlainHTTPRealm(t *testing.T) {
	ts := newTokenServer(t, 300) // plain HTTP
	srv := httptest.NewTLSServer(bearerRegistry(ts, ociserver.New(ocimem.New(), nil)))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	c, err := ociclient.New("https://"+host, &ociclient.Options{
		Transport: srv.Client().Transport,
		Auth:      ociauth.StaticCredentials{host: {Username: "user", Password: "pass"}},
	})
	qt.Assert(t, qt.IsNil(err))
	_, err = c.ResolveTag(context.Background(), "a/b", "latest")
	qt.Assert(t, qt.ErrorMatches(err, `.*refusing to send credentials to plain HTTP token realm.*`))
	qt.Assert(t, qt.HasLen(ts.requestLog(), 0))
}

// closeRecorder is a request body that notes being closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestFailedRoundTripClosesBody checks that RoundTrip closes a body it
// could not send, as http.RoundTripper's contract asks: when the ping
// that comes before a body that can be sent only once fails, and when
// the token server cannot be reached.
func TestFailedRoundTripClosesBody(t *testing.T) {
	tests := []struct {
		name string
		base roundTripFunc
	}{{
		name: "PingFails",
		base: func(req *http.Request) (*http.Response, error) {
			return nil, errors.New("no network here")
		},
	}, {
		name: "TokenServerDown",
		base: func(req *http.Request) (*http.Response, error) {
			if req.URL.Host == "auth.example" {
				return nil, errors.New("no network here")
			}
			return stubResponse(req, http.StatusUnauthorized, http.Header{
				"Www-Authenticate": {`Bearer realm="https://auth.example/token",service="reg"`},
			}, ""), nil
		},
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			tr := ociauth.NewTransport(test.base, ociauth.StaticCredentials{"reg.example": {Username: "u", Password: "p"}})
			body := &closeRecorder{Reader: strings.NewReader("content")}
			req, err := http.NewRequest("PUT", "https://reg.example/v2/a/blobs/uploads/x?digest=sha256:0", body)
			qt.Assert(t, qt.IsNil(err))
			_, err = tr.RoundTrip(req)
			qt.Assert(t, qt.IsNotNil(err))
			qt.Check(t, qt.IsTrue(body.closed))
		})
	}
}
