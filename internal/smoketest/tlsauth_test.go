package smoketest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

// The user that the clients log in as.
const (
	tlsUser     = "smoke"
	tlsPassword = "smoke-secret"
	// tlsPasswordHash is tlsPassword hashed with bcrypt at its minimum
	// cost: a fixed fixture keeps golang.org/x/crypto (a dependency of
	// the binary's module) out of the library module.
	tlsPasswordHash = "$2a$04$cEjcqbepmqktEed96hdWTOZbRxVX3W6B3HiADIzPtQByxqDrXypXm"
)

// tlsServer is an "ocireg serve" with TLS and Basic authentication on.
type tlsServer struct {
	host   string // 127.0.0.1:port
	caFile string // the server's self-signed certificate, which is its own CA
	client *http.Client
}

// TestTLSAuth drives crane, oras, regctl and skopeo against "ocireg
// serve" with HTTPS and Basic authentication, and with its token service
// (the bearer-token protocol): each logs in with its own login command,
// given the server's certificate as a CA, pushes and pulls, and the
// bytes are checked.
func TestTLSAuth(t *testing.T) {
	t.Parallel()
	tools := map[string]string{}
	for _, name := range []string{"crane", "oras", "regctl", "skopeo"} {
		tools[name] = toolstest.Require(t, name)
	}
	for _, token := range []bool{false, true} {
		name := "Basic"
		if token {
			name = "Token"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testTLSAuth(t, tools, token)
		})
	}
}

func testTLSAuth(t *testing.T, tools map[string]string, token bool) {
	srv := startTLSOcireg(t, token)

	// Without credentials nothing is served.
	resp, err := srv.client.Get("https://" + srv.host + "/v2/")
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusUnauthorized))
	challenge := `Basic realm="ocireg"`
	if token {
		challenge = `Bearer realm="https://` + srv.host + `/token",service="ocireg"`
	}
	qt.Assert(t, qt.Equals(resp.Header.Get("WWW-Authenticate"), challenge))

	src := randomImage(t, "linux/amd64")
	srv.pushImage(t, "smoke/src", "v1", src)
	ref := func(s string) string { return srv.host + "/" + s }

	t.Run("crane", func(t *testing.T) {
		defer srv.assertTokensIssued(t, token)()
		crane := newTool(t, tools["crane"])
		crane.env = append(crane.env, "SSL_CERT_FILE="+srv.caFile)
		// Before logging in, crane is refused.
		crane.fail("digest", ref("smoke/src:v1"))
		crane.run("auth", "login", srv.host, "-u", tlsUser, "-p", tlsPassword)

		qt.Assert(t, qt.Equals(strings.TrimSpace(string(crane.run("digest", ref("smoke/src:v1")))), src.digest.String()))
		img := randomImage(t, "linux/amd64")
		layout := writeLayout(t, filepath.Join(crane.dir, "layout"), img)
		crane.run("push", layout, ref("crane/img:v1"))
		srv.assertSameImage(t, "crane/img", "v1", img)

		pulled := filepath.Join(crane.dir, "pulled")
		crane.run("pull", "--format", "oci", ref("crane/img:v1"), pulled)
		assertLayoutBlobs(t, pulled, img)
	})
	t.Run("oras", func(t *testing.T) {
		defer srv.assertTokensIssued(t, token)()
		oras := newTool(t, tools["oras"])
		ca := "--ca-file=" + srv.caFile
		stdout, stderr, err := oras.exec([]byte(tlsPassword+"\n"), "login", ca, "-u", tlsUser, "--password-stdin", srv.host)
		qt.Assert(t, qt.IsNil(err), qt.Commentf("oras login: %s%s", stdout, stderr))

		oras.run("cp", "--from-ca-file="+srv.caFile, "--to-ca-file="+srv.caFile, ref("smoke/src:v1"), ref("oras/copy:v1"))
		srv.assertSameImage(t, "oras/copy", "v1", src)

		content := randomBytes(t, 5000)
		oras.writeFile("artifact.bin", content)
		oras.run("push", ca, ref("oras/art:v1"), "artifact.bin:application/octet-stream")
		dg := strings.TrimSpace(string(oras.run("resolve", ca, ref("oras/art:v1"))))
		manifest := srv.get(t, "oras/art", "manifests", "v1")
		qt.Assert(t, qt.Equals(dg, digest.FromBytes(manifest).String()))
		qt.Assert(t, qt.DeepEquals(srv.get(t, "oras/art", "blobs", digest.FromBytes(content).String()), content))

		oras.run("pull", ca, "-o", "out", ref("oras/art:v1"))
		qt.Assert(t, qt.DeepEquals(oras.readFile("out/artifact.bin"), content))
	})
	t.Run("regctl", func(t *testing.T) {
		defer srv.assertTokensIssued(t, token)()
		regctl := newTool(t, tools["regctl"])
		ca, err := os.ReadFile(srv.caFile)
		qt.Assert(t, qt.IsNil(err))
		regctl.run("registry", "set", srv.host, "--skip-check", "--tls", "enabled", "--cacert", string(ca))
		stdout, stderr, err := regctl.exec([]byte(tlsPassword+"\n"), "registry", "login", srv.host, "-u", tlsUser, "--pass-stdin")
		qt.Assert(t, qt.IsNil(err), qt.Commentf("regctl registry login: %s%s", stdout, stderr))

		regctl.run("image", "copy", ref("smoke/src:v1"), ref("regctl/copy:v1"))
		srv.assertSameImage(t, "regctl/copy", "v1", src)
		qt.Assert(t, qt.Equals(strings.TrimSpace(string(regctl.run("image", "digest", ref("regctl/copy:v1")))), src.digest.String()))
		qt.Assert(t, qt.DeepEquals(regctl.run("manifest", "get", "--format", "raw-body", ref("regctl/copy:v1")), src.manifest))
		qt.Assert(t, qt.DeepEquals(regctl.run("blob", "get", ref("regctl/copy"), digest.FromBytes(src.layer).String()), src.layer))
	})
	t.Run("skopeo", func(t *testing.T) {
		defer srv.assertTokensIssued(t, token)()
		skopeo := newTool(t, tools["skopeo"])
		authFile := filepath.Join(skopeo.dir, "auth.json")
		skopeo.env = append(skopeo.env, "REGISTRY_AUTH_FILE="+authFile)
		// skopeo takes CAs from a directory of *.crt files.
		certDir := filepath.Join(skopeo.dir, "certs")
		qt.Assert(t, qt.IsNil(os.Mkdir(certDir, 0o777)))
		ca, err := os.ReadFile(srv.caFile)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(certDir, "ca.crt"), ca, 0o666)))
		stdout, stderr, err := skopeo.exec([]byte(tlsPassword+"\n"), "login", "--cert-dir", certDir, "-u", tlsUser, "--password-stdin", srv.host)
		qt.Assert(t, qt.IsNil(err), qt.Commentf("skopeo login: %s%s", stdout, stderr))

		policy := skopeo.writeFile("policy.json", []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`))
		copyArgs := []string{"--policy", policy, "copy", "--src-cert-dir", certDir, "--dest-cert-dir", certDir, "--preserve-digests"}
		img := randomImage(t, "linux/arm64")
		layout := writeLayout(t, filepath.Join(skopeo.dir, "layout"), img)
		skopeo.run(append(copyArgs, "oci:"+layout+":v1", "docker://"+ref("skopeo/img:v1"))...)
		srv.assertSameImage(t, "skopeo/img", "v1", img)

		pulled := filepath.Join(skopeo.dir, "pulled")
		skopeo.run(append(copyArgs, "docker://"+ref("smoke/src:v1"), "oci:"+pulled+":v1")...)
		assertLayoutBlobs(t, pulled, src)
		qt.Assert(t, qt.DeepEquals(skopeo.run("inspect", "--raw", "--cert-dir", certDir, "docker://"+ref("skopeo/img:v1")), img.manifest))
	})
}

// startTLSOcireg starts "ocireg serve" in memory with a fresh
// self-signed certificate and an htpasswd file holding tlsUser, with the
// token service when token is set, and stops it when the test ends.
func startTLSOcireg(t *testing.T, token bool) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, err := toolstest.SelfSignedCert()
	qt.Assert(t, qt.IsNil(err))
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	qt.Assert(t, qt.IsNil(os.WriteFile(certFile, certPEM, 0o666)))
	qt.Assert(t, qt.IsNil(os.WriteFile(keyFile, keyPEM, 0o600)))
	htpasswd := filepath.Join(dir, "htpasswd")
	qt.Assert(t, qt.IsNil(os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", tlsUser, tlsPasswordHash), 0o666)))

	args := []string{"serve", "--mem"}
	if token {
		config := filepath.Join(dir, "config.yaml")
		qt.Assert(t, qt.IsNil(os.WriteFile(config, []byte("token: {expiry: 1m}\nregistry: {kind: mem}\n"), 0o666)))
		args = []string{"serve", "--config", config}
	}
	args = append(args, "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--htpasswd", htpasswd)
	cmd := exec.Command(toolstest.BuildOcireg(t), args...)
	var logBuf toolstest.Buffer
	cmd.Stderr = &logBuf
	stdout, err := cmd.StdoutPipe()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(cmd.Start()))
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("ocireg serve did not exit cleanly: %v", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("ocireg serve did not exit within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("ocireg serve log:\n%s", logBuf.String())
		}
	})
	var host string
	select {
	case line := <-lines:
		var ok bool
		host, ok = strings.CutPrefix(line, "https://")
		qt.Assert(t, qt.IsTrue(ok), qt.Commentf("ocireg serve printed %q, want https://HOST:PORT", line))
	case <-time.After(60 * time.Second):
		t.Fatalf("ocireg serve did not print its address\n%s", logBuf.String())
	}
	pool := x509.NewCertPool()
	qt.Assert(t, qt.IsTrue(pool.AppendCertsFromPEM(certPEM)))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return &tlsServer{host: host, caFile: certFile, client: client}
}

// assertTokensIssued returns a func that, when token is set, checks
// that the token endpoint issued tokens since assertTokensIssued was
// called: the client took the bearer-token route rather than sending
// its password with every request.
func (s *tlsServer) assertTokensIssued(t *testing.T, token bool) func() {
	if !token {
		return func() {}
	}
	before := s.tokensIssued(t)
	return func() {
		qt.Check(t, qt.IsTrue(s.tokensIssued(t) > before), qt.Commentf("no token issued"))
	}
}

// tokensIssued returns the count of token requests answered 200, from
// the server's metrics.
func (s *tlsServer) tokensIssued(t *testing.T) int {
	t.Helper()
	resp, err := s.client.Get("https://" + s.host + "/metrics")
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	n := 0
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "ocireg_http_requests_total{") && strings.Contains(line, `route="token"`) && strings.Contains(line, `status="200"`) {
			var v float64
			_, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			qt.Assert(t, qt.IsNil(err))
			n += int(v)
		}
	}
	return n
}

// do sends a request with the test user's credentials.
func (s *tlsServer) do(t *testing.T, method, repo, kind, ref, contentType string, body []byte) (int, []byte) {
	t.Helper()
	url := fmt.Sprintf("https://%s/v2/%s/%s/%s", s.host, repo, kind, ref)
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	qt.Assert(t, qt.IsNil(err))
	req.SetBasicAuth(tlsUser, tlsPassword)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest+", "+ocispec.MediaTypeImageIndex)
	resp, err := s.client.Do(req)
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	return resp.StatusCode, data
}

func (s *tlsServer) get(t *testing.T, repo, kind, ref string) []byte {
	t.Helper()
	status, data := s.do(t, http.MethodGet, repo, kind, ref, "", nil)
	qt.Assert(t, qt.Equals(status, http.StatusOK), qt.Commentf("GET %s/%s/%s: %s", repo, kind, ref, data))
	return data
}

func (s *tlsServer) pushImage(t *testing.T, repo, tag string, img image) {
	t.Helper()
	for dg, data := range img.blobs() {
		status, body := s.do(t, http.MethodPost, repo, "blobs", "uploads/?digest="+dg.String(), "application/octet-stream", data)
		qt.Assert(t, qt.Equals(status, http.StatusCreated), qt.Commentf("%s", body))
	}
	status, body := s.do(t, http.MethodPut, repo, "manifests", tag, ocispec.MediaTypeImageManifest, img.manifest)
	qt.Assert(t, qt.Equals(status, http.StatusCreated), qt.Commentf("%s", body))
}

// assertSameImage checks that repo holds img at tag, byte for byte.
func (s *tlsServer) assertSameImage(t *testing.T, repo, tag string, img image) {
	t.Helper()
	qt.Assert(t, qt.DeepEquals(s.get(t, repo, "manifests", tag), img.manifest))
	for dg, data := range img.blobs() {
		qt.Assert(t, qt.DeepEquals(s.get(t, repo, "blobs", dg.String()), data), qt.Commentf("blob %s", dg))
	}
}

// writeLayout writes img as an OCI image layout in dir, tagged v1, and
// returns dir.
func writeLayout(t *testing.T, dir string, img image) string {
	t.Helper()
	blobs := img.blobs()
	blobs[img.digest] = img.manifest
	for dg, data := range blobs {
		p := filepath.Join(dir, "blobs", dg.Algorithm().String(), dg.Encoded())
		qt.Assert(t, qt.IsNil(os.MkdirAll(filepath.Dir(p), 0o777)))
		qt.Assert(t, qt.IsNil(os.WriteFile(p, data, 0o666)))
	}
	desc := descriptorOf(ocispec.MediaTypeImageManifest, img.manifest)
	desc.Annotations = map[string]string{ocispec.AnnotationRefName: "v1"}
	index := mustJSON(t, ocispec.Index{Versioned: versioned, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{desc}})
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(dir, "index.json"), index, 0o666)))
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o666)))
	return dir
}

// assertLayoutBlobs checks that the layout in dir holds img's manifest
// and blobs.
func assertLayoutBlobs(t *testing.T, dir string, img image) {
	t.Helper()
	blobs := img.blobs()
	blobs[img.digest] = img.manifest
	for dg, data := range blobs {
		got, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", dg.Encoded()))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(got, data), qt.Commentf("blob %s", dg))
	}
}
