package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ocicopy"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/rogpeppe/go-internal/testscript"
)

// The user that the registry $AUTHREG lets in.
const (
	authUser     = "alice"
	authPassword = "s3cret"
)

// TestVerbScripts runs the scripts in testdata/verbs, which drive the
// client verbs. Each script gets three fresh registries served on
// 127.0.0.1: $REG1 and $REG2, in memory, and $AUTHREG, which wants Basic
// credentials alice:s3cret. HOME and DOCKER_CONFIG point into the
// script's work directory, so that no user's credentials leak in.
func TestVerbScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/verbs",
		RequireExplicitExec: true,
		Setup:               setupRegistries,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"seed":      cmdSeed,
			"reqlog":    cmdReqLog,
			"http":      cmdHTTP,
			"stdoutenv": cmdStdoutEnv,
			"gencert":   cmdGencert,
			"waitaddr":  cmdWaitAddr,
			"subst":     cmdSubst,
			"exitcode":  cmdExitCode,
		},
	})
}

// testRegistry is a registry served to a script, with a log of the
// requests it answered.
type testRegistry struct {
	reg *ocimem.Registry

	mu  sync.Mutex
	log []string
}

func setupRegistries(env *testscript.Env) error {
	home := filepath.Join(env.WorkDir, "home")
	env.Setenv("HOME", home)
	env.Setenv("DOCKER_CONFIG", filepath.Join(home, ".docker"))
	env.Setenv("XDG_RUNTIME_DIR", "")
	env.Setenv("REGISTRY_AUTH_FILE", "")
	env.Setenv("DOCKER_AUTH_CONFIG", "")
	env.Setenv("XDG_CONFIG_HOME", "")
	env.Setenv("OCIREG_HOSTS", "")
	// Under -race, every ocireg run would otherwise sleep a second as
	// it exits (the race detector's default atexit_sleep_ms).
	env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	for _, name := range []string{"REG1", "REG2", "AUTHREG"} {
		tr := &testRegistry{reg: ocimem.New()}
		var h http.Handler = ociserver.New(tr.reg, nil)
		if name == "AUTHREG" {
			h = basicAuth(h)
		}
		host, stop, err := serveForScript(tr.logged(h))
		if err != nil {
			return err
		}
		env.Defer(stop)
		env.Setenv(name, host)
		env.Values[name] = tr
	}
	return nil
}

// basicAuth lets through requests with alice's credentials, and answers
// others with the challenge that registries send.
func basicAuth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); ok && u == authUser && p == authPassword {
			h.ServeHTTP(w, req)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	})
}

// logged records each request's method, URL and status.
func (tr *testRegistry) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		sw := &loggedStatusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(sw, req)
		tr.mu.Lock()
		tr.log = append(tr.log, fmt.Sprintf("%s %s %d", req.Method, req.URL.RequestURI(), sw.status))
		tr.mu.Unlock()
	})
}

type loggedStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *loggedStatusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// serveForScript serves h on a loopback port and returns its host and a func
// that stops it.
func serveForScript(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return l.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	}, nil
}

func registryOf(ts *testscript.TestScript, name string) *testRegistry {
	tr, ok := ts.Value(name).(*testRegistry)
	if !ok {
		ts.Fatalf("no registry %s (want REG1, REG2 or AUTHREG)", name)
	}
	return tr
}

// cmdReqLog implements "reqlog REG": it writes the requests that REG
// answered since the last reqlog to stdout, one a line, as
// "METHOD URI STATUS", and forgets them.
func cmdReqLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: reqlog REG")
	}
	tr := registryOf(ts, args[0])
	tr.mu.Lock()
	log := tr.log
	tr.log = nil
	tr.mu.Unlock()
	for _, l := range log {
		fmt.Fprintln(ts.Stdout(), l)
	}
}

// cmdSeed implements "seed KIND REG REPO[:TAG] VAR [SUBJECT]": it pushes
// random content of the given kind straight into the registry REG's
// store and sets $VAR to the digest of its manifest. KIND is image (a
// config and two layers), index (two images, linux/amd64 and
// linux/arm64/v8) or artifact (an image manifest with artifactType
// application/vnd.test.sig and the manifest SUBJECT as its subject).
func cmdSeed(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 || len(args) > 5 {
		ts.Fatalf("usage: seed image|index|artifact REG REPO[:TAG] VAR [SUBJECT]")
	}
	r := registryOf(ts, args[1]).reg
	repo, tag, _ := strings.Cut(args[2], ":")
	ctx := context.Background()
	var desc ociregistry.Descriptor
	var err error
	switch args[0] {
	case "image":
		desc, err = seedImage(ctx, r, repo, tag, nil)
	case "index":
		desc, err = seedIndex(ctx, r, repo, tag)
	case "artifact":
		if len(args) != 5 {
			ts.Fatalf("seed artifact needs a SUBJECT")
		}
		var subject ociregistry.Descriptor
		subject, err = r.ResolveManifest(ctx, repo, ociregistry.Digest(args[4]))
		if err == nil {
			desc, err = seedArtifact(ctx, r, repo, subject)
		}
	default:
		ts.Fatalf("unknown kind %q", args[0])
	}
	ts.Check(err)
	ts.Setenv(args[3], string(desc.Digest))
}

// cmdStdoutEnv implements "stdoutenv VAR [REGEXP]": it sets $VAR to the
// last command's standard output without surrounding space or, with
// REGEXP, to the first submatch of REGEXP in it.
func cmdStdoutEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: stdoutenv VAR [REGEXP]")
	}
	out := ts.ReadFile("stdout")
	if len(args) == 1 {
		ts.Setenv(args[0], strings.TrimSpace(out))
		return
	}
	m := regexp.MustCompile(args[1]).FindStringSubmatch(out)
	if len(m) < 2 {
		ts.Fatalf("no match for %q in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}

func seedBlob(ctx context.Context, r ociregistry.Interface, repo, mediaType string, data []byte) (ociregistry.Descriptor, error) {
	desc := ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	_, err := r.PushBlob(ctx, repo, desc, bytes.NewReader(data))
	return desc, err
}

func seedManifest(ctx context.Context, r ociregistry.Interface, repo, tag, mediaType string, v any) (ociregistry.Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	if _, err := r.PushManifest(ctx, repo, tag, data, mediaType); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}, nil
}

func seedImage(ctx context.Context, r ociregistry.Interface, repo, tag string, platform *ocispec.Platform) (ociregistry.Descriptor, error) {
	if platform == nil {
		platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	}
	var layers []ociregistry.Descriptor
	var diffIDs []digest.Digest
	for _, size := range []int{3000, 70000} {
		data := make([]byte, size)
		rand.Read(data)
		desc, err := seedBlob(ctx, r, repo, ocispec.MediaTypeImageLayer, data)
		if err != nil {
			return desc, err
		}
		layers = append(layers, desc)
		diffIDs = append(diffIDs, desc.Digest)
	}
	config, _ := json.Marshal(ocispec.Image{
		Platform: *platform,
		Config:   ocispec.ImageConfig{Labels: map[string]string{"random": rand.Text()}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	configDesc, err := seedBlob(ctx, r, repo, ocispec.MediaTypeImageConfig, config)
	if err != nil {
		return configDesc, err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: configDesc, Layers: layers}
	m.SchemaVersion = 2
	return seedManifest(ctx, r, repo, tag, m.MediaType, m)
}

func seedIndex(ctx context.Context, r ociregistry.Interface, repo, tag string) (ociregistry.Descriptor, error) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
	idx.SchemaVersion = 2
	for _, p := range []ocispec.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		desc, err := seedImage(ctx, r, repo, "", &p)
		if err != nil {
			return desc, err
		}
		desc.Platform = &p
		idx.Manifests = append(idx.Manifests, desc)
	}
	return seedManifest(ctx, r, repo, tag, idx.MediaType, idx)
}

func seedArtifact(ctx context.Context, r ociregistry.Interface, repo string, subject ociregistry.Descriptor) (ociregistry.Descriptor, error) {
	configDesc, err := seedBlob(ctx, r, repo, ocispec.MediaTypeEmptyJSON, []byte("{}"))
	if err != nil {
		return configDesc, err
	}
	layer, err := seedBlob(ctx, r, repo, "application/octet-stream", []byte(rand.Text()))
	if err != nil {
		return layer, err
	}
	subject = ociregistry.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.test.sig",
		Config:       configDesc,
		Layers:       []ociregistry.Descriptor{layer},
		Subject:      &subject,
	}
	m.SchemaVersion = 2
	return seedManifest(ctx, r, repo, "", m.MediaType, m)
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    target
		wantErr error
	}{
		{in: "127.0.0.1:5000/foo/bar:v1", want: target{name: "127.0.0.1:5000/foo/bar:v1", host: "127.0.0.1:5000", repo: "foo/bar", tag: "v1"}},
		{in: "localhost/foo@sha256:" + strings.Repeat("a", 64), want: target{name: "localhost/foo@sha256:" + strings.Repeat("a", 64), host: "localhost", repo: "foo", digest: ociregistry.Digest("sha256:" + strings.Repeat("a", 64))}},
		{in: "alpine", want: target{name: "docker.io/library/alpine", host: "registry-1.docker.io", repo: "library/alpine"}},
		{in: "oci:dir", want: target{name: "oci:dir", layout: "dir"}},
		{in: "oci:/a:b/dir:v2", want: target{name: "oci:/a:b/dir:v2", layout: "/a:b/dir", tag: "v2"}},
		{in: "oci:dir@sha256:" + strings.Repeat("b", 64), want: target{name: "oci:dir@sha256:" + strings.Repeat("b", 64), layout: "dir", digest: ociregistry.Digest("sha256:" + strings.Repeat("b", 64))}},
		{in: "oci:", wantErr: ociregistry.ErrNameInvalid},
		{in: "oci:dir:bad!tag", wantErr: ociregistry.ErrManifestInvalid},
		{in: "localhost/Foo", wantErr: ociregistry.ErrNameInvalid},
		{in: "localhost/foo@sha256:short", wantErr: ociregistry.ErrDigestInvalid},
	}
	for _, test := range tests {
		t.Run(test.in, func(t *testing.T) {
			got, err := parseTarget(test.in)
			if test.wantErr != nil {
				qt.Assert(t, qt.ErrorIs(err, test.wantErr))
				return
			}
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(got, test.want))
		})
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		qt.Check(t, qt.Equals(byteSize(n), want))
	}
}

func TestProgressLine(t *testing.T) {
	p := newProgress(&bytes.Buffer{}, false)
	qt.Check(t, qt.IsFalse(p.enabled)) // a buffer is no terminal
	for _, size := range []int64{1000, 500, 1500} {
		p.event(ocicopy.Event{Kind: ocicopy.BlobPlanned, Descriptor: ociregistry.Descriptor{Size: size}})
	}
	p.start()
	p.event(ocicopy.Event{Kind: ocicopy.BlobSkipped, Descriptor: ociregistry.Descriptor{Size: 1000}})
	p.event(ocicopy.Event{Kind: ocicopy.BlobMounted, Descriptor: ociregistry.Descriptor{Size: 500}})
	p.event(ocicopy.Event{Kind: ocicopy.BlobBytes, Bytes: 1500})
	p.event(ocicopy.Event{Kind: ocicopy.BlobCopied, Descriptor: ociregistry.Descriptor{Size: 1500}})
	p.finish()
	qt.Check(t, qt.Equals(p.line(), "copying: 3/3 blobs, 2.9 KiB / 2.9 KiB, 1 already there, 1 mounted"))
}

func TestSaveLoginKeepsOtherEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docker", "config.json")
	qt.Assert(t, qt.IsNil(os.MkdirAll(filepath.Dir(path), 0o700)))
	qt.Assert(t, qt.IsNil(os.WriteFile(path, []byte(`{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"gcr.io":"gcloud"},"psFormat":"table"}`), 0o644)))
	qt.Assert(t, qt.IsNil(saveLogin(path, "localhost:5000", ociCreds("bob", "pw"))))
	data, err := os.ReadFile(path)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.JSONEquals(data, map[string]any{
		"auths": map[string]any{
			"other.io":       map[string]any{"auth": "eDp5"},
			"localhost:5000": map[string]any{"auth": "Ym9iOnB3"},
		},
		"credHelpers": map[string]any{"gcr.io": "gcloud"},
		"psFormat":    "table",
	}))
	fi, err := os.Stat(path)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(fi.Mode().Perm(), os.FileMode(0o600)))

	// A file that is not JSON is left alone.
	qt.Assert(t, qt.IsNil(os.WriteFile(path, []byte("{"), 0o600)))
	err = saveLogin(path, "localhost:5000", ociCreds("bob", "pw"))
	qt.Check(t, qt.ErrorMatches(err, `cannot parse .*config.json: .*`))
	data, _ = os.ReadFile(path)
	qt.Check(t, qt.Equals(string(data), "{"))
}

func TestDescribe(t *testing.T) {
	tg := target{name: "127.0.0.1:5000/foo:bar", host: "127.0.0.1:5000", repo: "foo", tag: "bar"}
	tests := []struct {
		err      error
		wantMsg  string
		wantCode int
	}{
		{ociregistry.ErrManifestUnknown, "127.0.0.1:5000/foo:bar: manifest unknown", exitNotFound},
		{ociregistry.ErrBlobUnknown, "127.0.0.1:5000/foo:bar: blob unknown", exitNotFound},
		{ociregistry.ErrNameUnknown, "127.0.0.1:5000/foo:bar: repository unknown", exitNotFound},
		{ociregistry.NewHTTPError(ociregistry.ErrUnauthorized, 401), "127.0.0.1:5000/foo:bar: authentication required (401 Unauthorized) (run: ocireg login 127.0.0.1:5000)", exitFailure},
		{ociregistry.NewHTTPError(nil, 401), "127.0.0.1:5000/foo:bar: registry responded 401 Unauthorized (run: ocireg login 127.0.0.1:5000)", exitFailure},
		{ociregistry.NewHTTPError(ociregistry.NewError("tag v1 is immutable", "DENIED", nil), 403), "127.0.0.1:5000/foo:bar: tag v1 is immutable (403 Forbidden)", exitFailure},
		{ociregistry.ErrDenied, "127.0.0.1:5000/foo:bar: requested access to the resource is denied", exitFailure},
		{errors.New("boom"), "127.0.0.1:5000/foo:bar: boom", exitFailure},
	}
	for _, test := range tests {
		err := tg.describe(test.err)
		qt.Check(t, qt.ErrorIs(err, test.err))
		var buf bytes.Buffer
		qt.Check(t, qt.Equals(verbExitCode(&buf, err), test.wantCode))
		qt.Check(t, qt.Equals(buf.String(), "ocireg: "+test.wantMsg+"\n"))
	}
}

func ociCreds(user, password string) ociauth.Credentials {
	return ociauth.Credentials{Username: user, Password: password}
}
