package ocis3

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/auth"
	"github.com/go-quicktest/qt"
	"github.com/google/go-cmp/cmp"
)

// TestEndpointKeyFields fails when s3.EndpointParameters or
// smithyauth.Option holds a field that endpointKey or copyEndpoint does
// not know, which would make endpointCache answer for parameters with an
// endpoint resolved for others, or share what the SDK changes.
func TestEndpointKeyFields(t *testing.T) {
	qt.Assert(t, qt.Equals(reflect.TypeOf(s3.EndpointParameters{}).NumField(), reflect.TypeOf(endpointKey{}).NumField()))
	qt.Assert(t, qt.Equals(reflect.TypeOf(auth.Option{}).NumField(), 3))
}

// TestEndpointCache checks that the cache answers as the SDK's resolver
// does, for parameters that differ in one field at a time, and that
// what it returns shares no auth options with what it holds.
func TestEndpointCache(t *testing.T) {
	ctx := context.Background()
	c := newEndpointCache(s3.NewDefaultEndpointResolverV2())
	base := s3.EndpointParameters{Bucket: aws.String("registry"), Region: aws.String("us-east-1"), Key: aws.String("k")}
	variants := []s3.EndpointParameters{base}
	for _, mod := range []func(*s3.EndpointParameters){
		func(p *s3.EndpointParameters) { p.Bucket = aws.String("another") },
		func(p *s3.EndpointParameters) { p.Region = aws.String("eu-west-1") },
		func(p *s3.EndpointParameters) { p.Endpoint = aws.String("http://127.0.0.1:7070") },
		func(p *s3.EndpointParameters) {
			p.Endpoint = aws.String("http://127.0.0.1:7070")
			p.ForcePathStyle = aws.Bool(true)
		},
		func(p *s3.EndpointParameters) { p.UseDualStack = aws.Bool(true) },
		func(p *s3.EndpointParameters) { p.UseFIPS = aws.Bool(true) },
		func(p *s3.EndpointParameters) { p.Accelerate = aws.Bool(true) },
		func(p *s3.EndpointParameters) {
			p.Bucket = aws.String("arn:aws:s3:us-west-2:123456789012:accesspoint/ap")
		},
	} {
		p := base
		mod(&p)
		variants = append(variants, p)
	}
	for range 2 {
		for _, p := range variants {
			want, err := s3.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, p)
			qt.Assert(t, qt.IsNil(err))
			got, err := c.ResolveEndpoint(ctx, p)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(got.URI.String(), want.URI.String()))
			wantOpts, _ := auth.GetAuthOptions(&want.Properties)
			gotOpts, _ := auth.GetAuthOptions(&got.Properties)
			qt.Assert(t, qt.CmpEquals(gotOpts, wantOpts, cmp.AllowUnexported(smithy.Properties{})))
			// Changing what came back changes nothing held.
			for _, o := range gotOpts {
				o.SignerProperties.Set("changed", true)
			}
		}
	}
	qt.Assert(t, qt.HasLen(c.entries, len(variants)))
	for _, e := range c.entries {
		opts, _ := auth.GetAuthOptions(&e.Properties)
		for _, o := range opts {
			qt.Assert(t, qt.IsNil(o.SignerProperties.Get("changed")))
		}
	}
}
