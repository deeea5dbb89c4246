package ociauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FuzzParseChallenge checks what the transport makes of any
// WWW-Authenticate header: only a Basic challenge, or a Bearer one with
// a realm, and scopes that print and parse back the same.
func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:foo/bar:pull,push"`,
		`Basic realm="ocireg"`,
		`basic`,
		`Bearer realm=https://auth.example/token, service=registry.example`,
		`Bearer service="x"`,
		`Bearer realm="a\"b\\c", scope="repository:a:pull repository:b:push,pull registry:catalog:*"`,
		`Bearer realm="unterminated`,
		`Bearer realm="x\`,
		`Negotiate abc, Bearer realm="r"`,
		`Bearer realm = "spaced"`,
		`Bearer ,,realm="r",,scope=":pull x: y:,"`,
		`Digest realm="d", nonce="n"`,
		`Bearer token68==`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		ch, ok := parseChallenge([]string{h})
		if !ok {
			return
		}
		switch ch.scheme {
		case "basic":
		case "bearer":
			if ch.realm == "" {
				t.Fatalf("parseChallenge(%q): a Bearer challenge with no realm", h)
			}
		default:
			t.Fatalf("parseChallenge(%q): scheme %q", h, ch.scheme)
		}
		if again := parseScopes(ch.scopes.String()); len(ch.scopes) > 0 && !reflect.DeepEqual(again, ch.scopes) {
			t.Fatalf("parseChallenge(%q): scopes %v print as %q, which parses as %v", h, ch.scopes, ch.scopes.String(), again)
		}
		for r, as := range ch.scopes {
			if len(as) == 0 || strings.ContainsAny(r, " \t\n") {
				t.Fatalf("parseChallenge(%q): scope %q with actions %q", h, r, as)
			}
		}
		// A second header does not change what the first said.
		ch2, ok := parseChallenge([]string{h, `Bearer realm="https://other.example/"`})
		if !ok || !reflect.DeepEqual(ch2, ch) {
			t.Fatalf("parseChallenge(%q) = %+v, but followed by another header %+v", h, ch, ch2)
		}
	})
}

// FuzzChallengeRoundTrip checks that a Bearer challenge with quoted
// parameters, as registries send them, gives back the realm, service and
// scopes it was made of, whatever characters they hold.
func FuzzChallengeRoundTrip(f *testing.F) {
	f.Add("https://auth.example/token", "registry.example", "repository:foo/bar:pull,push")
	f.Add(`a"b\c`, `,service="x"`, "repository:a:pull repository:b:*")
	f.Add("r", "", "")
	f.Add("r, scope=", `\`, `"`)
	f.Fuzz(func(t *testing.T, realm, service, scope string) {
		if realm == "" {
			return
		}
		quote := func(s string) string {
			return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
		}
		h := "Bearer realm=" + quote(realm) + ",service=" + quote(service) + ",scope=" + quote(scope)
		ch, ok := parseChallenge([]string{h})
		if !ok {
			t.Fatalf("parseChallenge(%q) refused it", h)
		}
		if ch.scheme != "bearer" || ch.realm != realm || ch.service != service {
			t.Fatalf("parseChallenge(%q) = %q realm %q service %q", h, ch.scheme, ch.realm, ch.service)
		}
		if want := parseScopes(scope); !reflect.DeepEqual(ch.scopes, want) {
			t.Fatalf("parseChallenge(%q) has scopes %v, not %v", h, ch.scopes, want)
		}
	})
}

// FuzzConfigFile checks that any docker config.json or containers
// auth.json is either refused with an error naming the file or gives,
// for any host, credentials that an "auths" entry for that host holds.
// Credential helpers are left out: they run programs.
func FuzzConfigFile(f *testing.F) {
	auth := base64.StdEncoding.EncodeToString([]byte("alice:secret"))
	for _, seed := range []struct{ data, host string }{
		{`{"auths":{"registry.example":{"auth":"` + auth + `"}}}`, "registry.example"},
		{`{"auths":{"https://index.docker.io/v1/":{"auth":"` + auth + `"}}}`, "docker.io"},
		{`{"auths":{"https://registry.example/v2/":{"username":"u","password":"p"},"registry.example":{"identitytoken":"t"}}}`, "registry.example"},
		{`{"auths":{"localhost:5000":{"registrytoken":"tok"}}}`, "localhost:5000"},
		{`{"auths":{"a":{"auth":"not base64"}}}`, "a"},
		{`{"auths":{"a":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("nocolon")) + `"}}}`, "a"},
		{`{"auths":{"a":{"auth":"` + base64.RawStdEncoding.EncodeToString([]byte("u:pw")) + `"}}}`, "a"},
		{`{"credHelpers":{"a":"x"},"credsStore":"y","auths":{"a":{}}}`, "a"},
		{`{"auths":null}`, "a"},
		{`[]`, "a"},
		{`{"auths":{"":{"auth":"` + auth + `"}}}`, ""},
		{``, "a"},
	} {
		f.Add([]byte(seed.data), seed.host)
	}
	f.Fuzz(func(t *testing.T, data []byte, host string) {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadFiles(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadFiles of %q: error %q does not name the file", data, err)
			}
			return
		}
		if len(c.files) != 1 {
			t.Fatalf("LoadFiles of %q read %d files", data, len(c.files))
		}
		cf := c.files[0]
		cf.CredHelpers, cf.CredsStore = nil, ""
		creds, err := c.Credentials(context.Background(), host)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("Credentials(%q) of %q: error %q does not name the file", host, data, err)
			}
			return
		}
		if creds.IsZero() {
			return
		}
		want := host
		if isDockerHub(host) {
			want = "docker.io"
		}
		for key, e := range cf.Auths {
			if normalizeKey(key) != want {
				continue
			}
			user, pass := e.Username, e.Password
			if e.Auth != "" {
				dec, _ := base64.StdEncoding.DecodeString(e.Auth)
				user, pass, _ = strings.Cut(string(dec), ":")
			}
			if creds == (Credentials{Username: user, Password: pass, RefreshToken: e.IdentityToken, AccessToken: e.RegistryToken}) {
				return
			}
		}
		t.Fatalf("Credentials(%q) of %q = %+v, which no entry for the host holds", host, data, creds)
	})
}

// hostChars matches what a registry host of a reference is made of.
var hostChars = regexp.MustCompile(`^[a-zA-Z0-9.\-:\[\]]+$`)

// FuzzConfigRoundTrip checks that the credentials docker login writes
// for a host, as a base64 "auth", are the ones read back for it.
func FuzzConfigRoundTrip(f *testing.F) {
	f.Add("registry.example", "alice", "secret")
	f.Add("docker.io", "bob", "pa:ss:word")
	f.Add("localhost:5000", "", "token-only")
	f.Add("[::1]:5000", "ü", "\x00")
	f.Fuzz(func(t *testing.T, host, user, pass string) {
		// What a host of a reference can be; a user name cannot hold
		// the ":" that ends it in the file's format.
		if !hostChars.MatchString(host) || normalizeKey(host) != host || strings.Contains(user, ":") {
			return
		}
		key := host
		if isDockerHub(host) {
			key = dockerHubKey
		}
		data, _ := json.Marshal(map[string]any{
			"auths": map[string]any{key: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}},
		})
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadFiles(path)
		if err != nil {
			t.Fatalf("LoadFiles of %s: %v", data, err)
		}
		creds, err := c.Credentials(context.Background(), host)
		if err != nil {
			t.Fatalf("Credentials(%q) of %s: %v", host, data, err)
		}
		if creds != (Credentials{Username: user, Password: pass}) {
			t.Fatalf("Credentials(%q) of %s = %+v", host, data, creds)
		}
	})
}
