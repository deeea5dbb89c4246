package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/ocireg/ociregistry/ocitest"
)

// TestConfigErrorsMakeNothing checks that serve exits with exitUsage for
// a config with a mistake, and that the fs directory it names, which
// does not exist, is not made: parsing only checks the file.
func TestConfigErrorsMakeNothing(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "bad.yaml")
	err := os.WriteFile(config, []byte(`
addr: 127.0.0.1:0
registry:
  kind: unify
  registries:
    - {kind: fs, dir: newdir/sub}
    - {kind: nosuch}
`), 0o666)
	qt.Assert(t, qt.IsNil(err))
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", config}, &stdout, &stderr)
	qt.Check(t, qt.Equals(code, exitUsage))
	qt.Check(t, qt.Equals(stdout.String(), ""))
	qt.Check(t, qt.Equals(stderr.String(), config+`:7:14: unknown kind "nosuch" (want one of mem, fs, s3, remote, proxy, unify, readonly, immutable, select, sub)`+"\n"))
	_, err = os.Stat(filepath.Join(dir, "newdir"))
	qt.Check(t, qt.ErrorIs(err, os.ErrNotExist))
}

// TestConfigBuildMakesDir checks that a good config's fs directory is
// made when the registry is built, and not before.
func TestConfigBuildMakesDir(t *testing.T) {
	dir := t.TempDir()
	cfg := &serveConfig{configFile: filepath.Join(dir, "good.yaml")}
	err := os.WriteFile(cfg.configFile, []byte("registry: {kind: fs, dir: newdir/sub}\n"), 0o666)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(loadConfigFile(cfg, nil)))
	_, err = os.Stat(filepath.Join(dir, "newdir"))
	qt.Check(t, qt.ErrorIs(err, os.ErrNotExist))

	reg, err := cfg.buildRegistry(slog.New(slog.DiscardHandler))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.IsNotNil(reg))
	qt.Check(t, qt.Equals(cfg.backend, "fs "+filepath.Join(dir, "newdir/sub")))
	fi, err := os.Stat(filepath.Join(dir, "newdir/sub/blobs"))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.IsTrue(fi.IsDir()))
}

// TestConfigBuildUsesLogger checks that the remote clients and proxies a
// config builds log to the server's logger.
func TestConfigBuildUsesLogger(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	upReg := ocimem.New()
	img := ocitest.PushRandomImage(t, upReg, "app", "v1")
	host, stop, err := serveForScript(ociserver.New(upReg, nil))
	qt.Assert(t, qt.IsNil(err))
	defer stop()

	dir := t.TempDir()
	cfg := &serveConfig{configFile: filepath.Join(dir, "proxy.yaml")}
	err = os.WriteFile(cfg.configFile, []byte(`
registry:
  kind: proxy
  upstream: {kind: remote, url: http://`+host+`}
  cache: {kind: mem}
  tagTTL: 1ns
`), 0o666)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(loadConfigFile(cfg, nil)))
	var logBuf toolstest.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg, err := cfg.buildRegistry(logger)
	qt.Assert(t, qt.IsNil(err))

	ctx := context.Background()
	desc, err := reg.ResolveTag(ctx, "app", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Digest, img.Manifest.Digest))
	// ociclient logs each request at debug level.
	qt.Check(t, qt.StringContains(logBuf.String(), `msg="ociclient request"`))

	// With upstream gone, the proxy answers the tag from its cache
	// and warns about it.
	stop()
	desc, err = reg.ResolveTag(ctx, "app", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Digest, img.Manifest.Digest))
	qt.Check(t, qt.StringContains(logBuf.String(), `level=WARN msg="ociproxy: upstream failed; serving cached tag"`))
	qt.Check(t, qt.IsFalse(strings.Contains(logBuf.String(), "level=ERROR")), qt.Commentf("%s", logBuf.String()))
}

// TestConfigSyntaxErrors checks that serve reports a config file that is
// not well-formed YAML at the line and column of the mistake (or of the
// bracket or quote left open), and exits with exitUsage.
func TestConfigSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{{
		name:   "ControlCharacter",
		config: "addr: 127.0.0.1:0\nregistry: {kind: \x01mem}\n",
		want:   `2:18: control character U+0001 is not allowed`,
	}, {
		name:   "ControlCharacterAfterUnicode",
		config: "# é\n  x: \"ü\x7f\"\n",
		want:   `2:8: control character U+007F is not allowed`,
	}, {
		name:   "InvalidUTF8",
		config: "registry: {kind: mem}\naddr: \xff\n",
		want:   `2:7: invalid UTF-8 (byte 0xff)`,
	}, {
		name:   "UnclosedFlowSequence",
		config: "addr: 127.0.0.1:0\nregistry:\n  registries: [{kind: mem}, {kind: mem}\n",
		want:   `3:15: did not find expected ',' or ']' before the end of the file (while parsing a flow sequence that starts here)`,
	}, {
		name:   "UnclosedQuote",
		config: "addr: \"127.0.0.1:0\nregistry: {kind: mem}\n",
		want:   `1:7: found unexpected end of stream before the end of the file (while scanning a quoted scalar that starts here)`,
	}, {
		name:   "BadIndentation",
		config: "registry:\n  kind: mem\n laxReferences: true\n",
		want:   `3:2: did not find expected key (while parsing a block mapping that starts at 1:1)`,
	}, {
		name:   "MappingInScalar",
		config: "addr: 127.0.0.1:0\n  registry: x\n",
		want:   `2:11: mapping values are not allowed in this context`,
	}, {
		name:   "UnknownAnchor",
		config: "addr: 127.0.0.1:0\nregistry: *nope\n",
		want:   `2:11: unknown anchor 'nope' referenced`,
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			config := filepath.Join(t.TempDir(), "c.yaml")
			qt.Assert(t, qt.IsNil(os.WriteFile(config, []byte(test.config), 0o666)))
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"serve", "--config", config}, &stdout, &stderr)
			qt.Check(t, qt.Equals(code, exitUsage))
			qt.Check(t, qt.Equals(stdout.String(), ""))
			qt.Check(t, qt.Equals(stderr.String(), config+":"+test.want+"\n"))
		})
	}
}

// TestConfigRemoteResponseTimeout checks that a remote registry that
// takes connections and never answers, or stops in the middle of an
// answer, fails a request after its responseTimeout, also inside a
// unify, rather than hold it.
func TestConfigRemoteResponseTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	qt.Assert(t, qt.IsNil(err))
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	done := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"name":`))
		w.(http.Flusher).Flush()
		select {
		case <-done:
		case <-req.Context().Done():
		}
	}))
	defer stalled.Close()
	defer close(done)
	for name, addr := range map[string]string{"Silent": ln.Addr().String(), "Stalled": stalled.Listener.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := &serveConfig{configFile: filepath.Join(dir, "unify.yaml")}
			config := fmt.Sprintf("registry: {kind: unify, registries: [{kind: mem}, {kind: remote, url: \"http://%s\", username: u, password: p, responseTimeout: 500ms}]}\n", addr)
			qt.Assert(t, qt.IsNil(os.WriteFile(cfg.configFile, []byte(config), 0o666)))
			qt.Assert(t, qt.IsNil(loadConfigFile(cfg, nil)))
			reg, err := cfg.buildRegistry(slog.New(slog.DiscardHandler))
			qt.Assert(t, qt.IsNil(err))
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, err = ociregistry.All(reg.Tags(ctx, "a/b", ""))
			qt.Assert(t, qt.IsNotNil(err))
			qt.Assert(t, qt.IsNil(ctx.Err()), qt.Commentf("the listing waited for the caller's deadline: %v", err))
		})
	}
}

// TestRemoteTransportReusedConnection checks that a remote's timeout
// bounds each answer, not a connection: a request sent on a connection
// that waited in the pool for longer than the timeout, answered within
// it, succeeds.
func TestRemoteTransportReusedConnection(t *testing.T) {
	// Wide margins: a loaded machine must not make the answer late.
	const timeout = time.Second
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		time.Sleep(timeout / 10)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	client := &http.Client{Transport: remoteTransport(timeout)}
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * timeout / 2)
		}
		resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("data"))
		qt.Assert(t, qt.IsNil(err), qt.Commentf("request %d", i))
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		qt.Assert(t, qt.IsNil(err), qt.Commentf("request %d", i))
		qt.Assert(t, qt.Equals(string(body), "ok"))
	}
}
