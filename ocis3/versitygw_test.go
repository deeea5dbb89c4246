package ocis3_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ocis3"
)

// Credentials of the test gateway's root user.
const (
	testAccess = "ocis3test"
	testSecret = "ocis3testsecret"
	testBucket = "registry"
)

// gateway is a versitygw serving a temporary directory over S3.
type gateway struct {
	endpoint string
	prefixes atomic.Int64
}

// startGateway starts versitygw (found as toolstest.Require finds
// tools) with its posix backend on a temporary directory, on a free port
// of 127.0.0.1, creates the test bucket and returns the gateway. It is
// stopped when the test ends.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	bin := toolstest.Require(t, "versitygw")
	dir := t.TempDir()
	var lastErr error
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		qt.Assert(t, qt.IsNil(err))
		addr := l.Addr().String()
		l.Close()
		var out toolstest.Buffer
		cmd := exec.Command(bin, "--port", addr, "--access", testAccess, "--secret", testSecret,
			"--region", "us-east-1", "--keep-alive", "--quiet", "posix", dir)
		cmd.Stdout, cmd.Stderr = &out, &out
		qt.Assert(t, qt.IsNil(cmd.Start()))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		g := &gateway{endpoint: "http://" + addr}
		if lastErr = g.waitReady(exited); lastErr != nil {
			stop()
			lastErr = fmt.Errorf("%v\n%s", lastErr, out.String())
			continue
		}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("versitygw output:\n%s", out.String())
			}
		})
		_, err = g.client(nil).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(testBucket)})
		qt.Assert(t, qt.IsNil(err))
		return g
	}
	t.Fatalf("starting versitygw: %v", lastErr)
	return nil
}

// waitReady waits until the gateway answers HTTP.
func (g *gateway) waitReady(exited chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(g.endpoint)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("versitygw exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw not ready: %v", err)
		}
	}
}

// awsConfig returns an SDK configuration for the gateway, sending its
// requests through rt when it is not nil.
func (g *gateway) awsConfig(rt http.RoundTripper) *aws.Config {
	cfg := &aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
	}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	return cfg
}

func (g *gateway) client(rt http.RoundTripper) *s3.Client {
	return s3.NewFromConfig(*g.awsConfig(rt), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(g.endpoint)
		o.UsePathStyle = true
	})
}

// config returns a registry configuration over the gateway's bucket
// under a prefix of its own.
func (g *gateway) config() ocis3.Config {
	return ocis3.Config{
		Bucket:    testBucket,
		Prefix:    fmt.Sprintf("t%d", g.prefixes.Add(1)),
		Endpoint:  g.endpoint,
		PathStyle: true,
		AWS:       g.awsConfig(nil),
	}
}

// newRegistry returns a registry over the gateway under a prefix of its
// own.
func (g *gateway) newRegistry(t testing.TB, mod func(*ocis3.Config)) *ocis3.Registry {
	t.Helper()
	cfg := g.config()
	if mod != nil {
		mod(&cfg)
	}
	r, err := ocis3.New(context.Background(), cfg)
	qt.Assert(t, qt.IsNil(err))
	return r
}
