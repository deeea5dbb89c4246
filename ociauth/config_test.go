package ociauth

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-quicktest/qt"
)

// usePathHelper puts testdata, which holds docker-credential-ocitest, on
// $PATH.
func usePathHelper(t *testing.T) {
	dir, err := filepath.Abs("testdata")
	qt.Assert(t, qt.IsNil(err))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	qt.Assert(t, qt.IsNil(os.MkdirAll(filepath.Dir(path), 0o755)))
	qt.Assert(t, qt.IsNil(os.WriteFile(path, []byte(content), 0o600)))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestConfigCredentials(t *testing.T) {
	usePathHelper(t)
	dir := t.TempDir()
	t.Setenv("HOME", filepath.Join(dir, "home"))
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(dir, "podman", "auth.json"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	// CI systems set a whole config inline; it comes before the files.
	t.Setenv("DOCKER_AUTH_CONFIG", `{"auths": {
		"ci.example": {"auth": "`+b64("ci:inline")+`"}
	}}`)
	writeFile(t, filepath.Join(dir, "docker", "config.json"), `{
		"auths": {
			"ci.example": {"auth": "`+b64("ci:from-file")+`"},
			"basic.example": {"auth": "`+b64("user:pa:ss")+`"},
			"https://idtoken.example/v2/": {"identitytoken": "refresh-me"},
			"https://index.docker.io/v1/": {"auth": "`+b64("hub:secret")+`"},
			"both.example": {"auth": "`+b64("docker:first")+`"},
			"bad.example": {"auth": "not base64!"}
		},
		"credHelpers": {
			"helper.example": "ocitest",
			"token.example": "ocitest",
			"broken.example": "ocitest",
			"missing.example": "ocitest"
		}
	}`)
	writeFile(t, filepath.Join(dir, "podman", "auth.json"), `{"auths": {
		"podman.example": {"auth": "`+b64("podman:pw")+`"},
		"both.example": {"auth": "`+b64("podman:second")+`"}
	}}`)
	writeFile(t, filepath.Join(dir, "run", "containers", "auth.json"), `{"auths": {
		"xdg.example:5000": {"auth": "`+b64("xdg:pw")+`"}
	}}`)
	// A config in the home directory is not read when $DOCKER_CONFIG is set.
	writeFile(t, filepath.Join(dir, "home", ".docker", "config.json"), `{"auths": {
		"home.example": {"auth": "`+b64("home:pw")+`"}
	}}`)

	cfg, err := Load()
	qt.Assert(t, qt.IsNil(err))
	tests := []struct {
		host    string
		want    Credentials
		wantErr string
	}{
		{host: "basic.example", want: Credentials{Username: "user", Password: "pa:ss"}},
		{host: "idtoken.example", want: Credentials{RefreshToken: "refresh-me"}},
		{host: "registry-1.docker.io", want: Credentials{Username: "hub", Password: "secret"}},
		{host: "docker.io", want: Credentials{Username: "hub", Password: "secret"}},
		{host: "both.example", want: Credentials{Username: "docker", Password: "first"}},
		{host: "ci.example", want: Credentials{Username: "ci", Password: "inline"}},
		{host: "podman.example", want: Credentials{Username: "podman", Password: "pw"}},
		{host: "xdg.example:5000", want: Credentials{Username: "xdg", Password: "pw"}},
		{host: "helper.example", want: Credentials{Username: "helperuser", Password: "helperpass"}},
		{host: "token.example", want: Credentials{RefreshToken: "helper-refresh"}},
		{host: "missing.example", want: Credentials{}},
		{host: "home.example", want: Credentials{}},
		{host: "unknown.example", want: Credentials{}},
		{host: "broken.example", wantErr: `ociauth: docker-credential-ocitest get: exit status 3: keychain locked`},
		{host: "bad.example", wantErr: `ociauth: .*config.json: bad auth for bad.example: .*`},
	}
	for _, test := range tests {
		t.Run(test.host, func(t *testing.T) {
			got, err := cfg.Credentials(context.Background(), test.host)
			if test.wantErr != "" {
				qt.Assert(t, qt.ErrorMatches(err, test.wantErr))
				return
			}
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(got, test.want))
		})
	}
}

func TestConfigCredsStore(t *testing.T) {
	usePathHelper(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	writeFile(t, path, `{
		"credsStore": "ocitest",
		"auths": {"https://index.docker.io/v1/": {}, "plain.example": {"auth": "`+b64("plain:pw")+`"}}
	}`)
	cfg, err := LoadFiles(path)
	qt.Assert(t, qt.IsNil(err))
	got, err := cfg.Credentials(context.Background(), "docker.io")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(got, Credentials{Username: "hubuser", Password: "hubpass"}))
	// The store does not know this host; the auths entry does.
	got, err = cfg.Credentials(context.Background(), "plain.example")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(got, Credentials{Username: "plain", Password: "pw"}))
}

func TestConfigHomeAndErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("DOCKER_AUTH_CONFIG", "")
	qt.Assert(t, qt.DeepEquals(ConfigPaths(), []string{filepath.Join(dir, ".docker", "config.json")}))

	// No file at all is no credentials, not an error.
	cfg, err := Load()
	qt.Assert(t, qt.IsNil(err))
	got, err := cfg.Credentials(context.Background(), "x.example")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(got.IsZero()))

	t.Setenv("DOCKER_AUTH_CONFIG", `{"auths": {"x.example": {"auth": 7}}}`)
	_, err = Load()
	qt.Assert(t, qt.ErrorMatches(err, `ociauth: cannot parse \$DOCKER_AUTH_CONFIG: .*`))
	t.Setenv("DOCKER_AUTH_CONFIG", "")

	writeFile(t, filepath.Join(dir, ".docker", "config.json"), `{"auths": `)
	_, err = Load()
	qt.Assert(t, qt.ErrorMatches(err, `ociauth: cannot parse .*config.json: unexpected end of JSON input`))
}

func TestStoreAndEraseCredentials(t *testing.T) {
	usePathHelper(t)
	dir := t.TempDir()
	t.Setenv("OCITEST_STORE", dir)
	ctx := context.Background()
	qt.Assert(t, qt.IsNil(StoreCredentials(ctx, "ocitest", "reg.example", Credentials{Username: "u", Password: "p"})))
	got, err := os.ReadFile(filepath.Join(dir, "store"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.JSONEquals(got, map[string]string{"ServerURL": "reg.example", "Username": "u", "Secret": "p"}))

	qt.Assert(t, qt.IsNil(StoreCredentials(ctx, "ocitest", "tok.example", Credentials{RefreshToken: "r"})))
	got, err = os.ReadFile(filepath.Join(dir, "store"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.JSONEquals(got, map[string]string{"ServerURL": "tok.example", "Username": "<token>", "Secret": "r"}))

	qt.Assert(t, qt.IsNil(EraseCredentials(ctx, "ocitest", "reg.example")))
	got, err = os.ReadFile(filepath.Join(dir, "erase"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(string(got), "reg.example"))

	err = StoreCredentials(ctx, "nonexistent-helper", "reg.example", Credentials{Username: "u"})
	qt.Assert(t, qt.ErrorMatches(err, `ociauth: docker-credential-nonexistent-helper store: .*`))
}
