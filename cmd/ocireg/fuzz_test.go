package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// FuzzHtpasswd checks that loadHtpasswd either names the file in its
// error or holds one user, with a bcrypt hash, for every line that is
// not blank or a comment: no line is skipped unread.
func FuzzHtpasswd(f *testing.F) {
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	h := string(hash)
	for _, s := range []string{
		"alice:" + h + "\n",
		"# users\n\nalice:" + h + "\r\nbob:" + h,
		"alice:" + h + "\nalice:" + h + "\n",
		"alice:$1$salt$hash\n",
		":" + h + "\n",
		"alice\n",
		"  carol :" + h + "  \n",
		"",
		"# only a comment\n",
		"alice:$2y$31$" + strings.Repeat("a", 53) + "\n",
		"alice:$2a$04$" + strings.Repeat(".", 53) + "\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	name := filepath.Join(dir, "htpasswd")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
		users, err := loadHtpasswd(name)
		if err != nil {
			if !strings.HasPrefix(err.Error(), name+":") {
				t.Fatalf("loadHtpasswd of %.200q: error %q does not start with the file's name", data, err)
			}
			return
		}
		want := 0
		for line := range strings.Lines(string(data)) {
			if text := strings.TrimSpace(line); text != "" && !strings.HasPrefix(text, "#") {
				want++
			}
		}
		if len(users.hashes) != want {
			t.Fatalf("loadHtpasswd of %.200q holds %d users, not the %d lines that name one", data, len(users.hashes), want)
		}
		for user, hash := range users.hashes {
			if user == "" || strings.Contains(user, ":") {
				t.Fatalf("loadHtpasswd of %.200q holds user %q", data, user)
			}
			if _, err := bcrypt.Cost(hash); err != nil {
				t.Fatalf("loadHtpasswd of %.200q holds user %q with hash %q: %v", data, user, hash, err)
			}
		}
	})
}

// FuzzConfig checks that loadConfigFile either accepts a config, ready
// to build its registry, or reports every mistake at a place in the
// file, one a line, in the file's order. Nothing is built: building
// makes directories where the config says.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"registry: {kind: mem}\n",
		"addr: 127.0.0.1:0\nlogFormat: json\nregistry: {kind: fs, dir: data}\n",
		"htpasswd: users\naccess:\n  - users: [alice, \"*\"]\n    repositories: [\"**\", \"a/*\", \"b/**\"]\n    allow: [pull, push, delete]\nregistry: {kind: mem, laxReferences: true}\n",
		"registry:\n  kind: proxy\n  upstream: {kind: remote, url: https://registry.example, username: u, password: p}\n  cache: {kind: fs, dir: data}\n  tagTTL: 5m\n  stallTimeout: 30s\n",
		"registry:\n  kind: unify\n  registries:\n    - {kind: readonly, registry: {kind: mem}}\n    - {kind: immutable, registry: {kind: sub, prefix: a/b, registry: {kind: select, repositories: [\"x/**\"], registry: {kind: mem}}}}\n",
		"tls: {cert: nosuch.pem, key: nosuch.key}\nregistry: {kind: nosuch, x: 1}\n",
		"registry:\n  kind: unify\n  registries:\n    - {kind: fs, dir: newdir/sub}\n    - {kind: nosuch}\n",
		"registry: [\n",
		"a: b\n\tc: d\n",
		"\x01",
		"",
		"registry: {kind: mem}\nregistry: {kind: mem}\n",
		"registry: &a {kind: unify, registries: [*a, *a]}\n",
		"access: {}\nregistry: {kind: remote, url: \"http://a b\"}\n",
		"registry: {kind: proxy, upstream: {kind: mem}, cache: {kind: mem}, tagTTL: forever}\n",
		"registry: {kind: select, registry: {kind: mem}, repositories: [\"a**b\", \"[\"]}\n",
		"registry: {kind: fs, dir: users}\nhtpasswd: \"no\\nsuch\"\n",
		"--- \n...\n",
		"registry: !!binary aGVsbG8=\n",
		"htpasswd: users\ntoken: {issuer: me, service: reg, realm: \"https://reg.example/token\", expiry: 10m}\nregistry: {kind: mem}\n",
		"token:\nregistry: {kind: mem}\n",
		"events: {dir: ev, maxPending: 10, endpoints: [{name: a, url: \"http://h/x\", format: cloudevents, headers: {X-T: v}, timeout: 5s}]}\nregistry: {kind: mem}\n",
		"issuers: [{url: \"https://ci.example\", audience: reg, prefix: \"ci:\"}]\naccess: [{users: [\"ci:x\"], repositories: [\"**\"], allow: [pull]}]\ntoken: {}\nregistry: {kind: mem}\n",
	} {
		f.Add([]byte(s))
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		f.Fatal(err)
	}
	// A remote registry without credentials reads docker's config.
	f.Setenv("DOCKER_CONFIG", dir)
	f.Setenv("REGISTRY_AUTH_FILE", "")
	f.Setenv("XDG_RUNTIME_DIR", "")
	name := filepath.Join(dir, "c.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := &serveConfig{configFile: name}
		err := loadConfigFile(cfg, nil)
		if err == nil {
			if cfg.buildRegistry == nil || cfg.backend == "" {
				t.Fatalf("config %q accepted with nothing to build", data)
			}
			if cfg.rules != nil && cfg.htpasswd == "" && cfg.issuers == nil {
				t.Fatalf("config %q accepted with access rules and neither htpasswd nor issuers", data)
			}
			if cfg.issuers != nil && cfg.rules == nil {
				t.Fatalf("config %q accepted with issuers and no access rules", data)
			}
			if tc := cfg.token; tc != nil && (cfg.htpasswd == "" && cfg.issuers == nil || tc.issuer == "" || tc.service == "" || tc.expiry < minTokenExpiry || tc.expiry > maxTokenExpiry) {
				t.Fatalf("config %q accepted with token settings %+v and htpasswd %q", data, *tc, cfg.htpasswd)
			}
			return
		}
		var errs configErrors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("config %q: %v (%T) is not a list of mistakes", data, err, err)
		}
		for i, e := range errs {
			if e.file != name || e.line < 0 || e.column < 1 || e.msg == "" {
				t.Fatalf("config %q: mistake %q is at no place", data, e.Error())
			}
			if strings.Contains(e.Error(), "\n") {
				t.Fatalf("config %q: mistake %q is on more than one line", data, e.Error())
			}
			if i > 0 && (e.line < errs[i-1].line || e.line == errs[i-1].line && e.column < errs[i-1].column) {
				t.Fatalf("config %q: mistakes out of order:\n%v", data, err)
			}
		}
		if cfg.buildRegistry != nil {
			t.Fatalf("config %q has mistakes but a registry to build", data)
		}
	})
}
