package ocis3_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ocis3"
)

// testBucket is the bucket that toolstest.StartVersitygw makes.
const testBucket = "registry"

// gateway is a versitygw serving a temporary directory over S3, which
// tests share by giving each registry a prefix of its own.
type gateway struct {
	*toolstest.Versitygw
	endpoint string
	prefixes atomic.Int64
}

// startGateway starts versitygw for the test; it stops when the test
// ends.
func startGateway(t testing.TB) *gateway {
	t.Helper()
	v := toolstest.StartVersitygw(t)
	qt.Assert(t, qt.Equals(v.Bucket, testBucket))
	return &gateway{Versitygw: v, endpoint: v.Endpoint}
}

// awsConfig returns an SDK configuration for the gateway, sending its
// requests through rt when it is not nil.
func (g *gateway) awsConfig(rt http.RoundTripper) *aws.Config {
	cfg := &aws.Config{
		Region:      g.Region,
		Credentials: credentials.NewStaticCredentialsProvider(g.AccessKey, g.SecretKey, ""),
	}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	return cfg
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
