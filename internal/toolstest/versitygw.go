package toolstest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Versitygw is a running versitygw: an S3 server over a temporary
// directory, with one bucket.
type Versitygw struct {
	// Endpoint is the server's URL, "http://127.0.0.1:PORT".
	Endpoint string
	// AccessKey and SecretKey are the root user's credentials.
	AccessKey, SecretKey string
	// Bucket is the name of the bucket, which exists and is empty.
	Bucket string
	// Region is the region the server answers for.
	Region string
}

// StartVersitygw starts versitygw (the tool "versitygw", see Require)
// with its posix backend over a temporary directory, on a free port of
// 127.0.0.1, with one bucket, and waits until it answers. It is stopped
// when the test ends, its output logged if the test failed.
func StartVersitygw(t testing.TB) *Versitygw {
	t.Helper()
	bin := Require(t, "versitygw")
	dir := t.TempDir()
	v := &Versitygw{AccessKey: "ocireg-test", SecretKey: "ocireg-test-secret", Bucket: "registry", Region: "us-east-1"}
	// The posix backend serves each directory of its root as a bucket.
	if err := os.Mkdir(filepath.Join(dir, v.Bucket), 0o777); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 3 {
		host, err := freeHost()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--port", host, "--access", v.AccessKey, "--secret", v.SecretKey,
			"--region", v.Region, "--keep-alive", "--quiet", "posix", dir)
		p := startProcess(t, "versitygw", cmd)
		if lastErr = waitListening(p, host); lastErr == nil {
			t.Cleanup(func() { p.stop() })
			v.Endpoint = "http://" + host
			return v
		}
		p.stop()
		lastErr = fmt.Errorf("%w\n%s", lastErr, p.output())
	}
	t.Fatalf("starting versitygw: %v", lastErr)
	return nil
}

// waitListening waits until host answers HTTP (with any status), p
// exits, or startTimeout passes.
func waitListening(p *process, host string) error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get("http://" + host + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before answering: %v", p.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering after %v: %v", startTimeout, err)
		}
	}
}

// S3Config starts versitygw (see StartVersitygw) and writes a config
// file for "ocireg serve --config" whose registry is of kind s3 on its
// bucket, under the prefix "ocireg/", and returns the file's path. The
// credentials go where the standard AWS chain finds them, in the
// environment, which t.Setenv restores when the test ends (so the test
// must not be parallel); the user's own AWS files and the instance
// metadata service are kept out.
func S3Config(t *testing.T) string {
	t.Helper()
	v := StartVersitygw(t)
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", v.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", v.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "nosuch-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "nosuch-credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	config := filepath.Join(dir, "config.yaml")
	data := fmt.Sprintf(`registry:
  kind: s3
  bucket: %s
  prefix: ocireg/
  endpoint: %s
  region: %s
  pathStyle: true
`, v.Bucket, v.Endpoint, v.Region)
	if err := os.WriteFile(config, []byte(data), 0o666); err != nil {
		t.Fatal(err)
	}
	return config
}
