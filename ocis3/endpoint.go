package ocis3

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyauth "github.com/aws/smithy-go/auth"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// maxCachedEndpoints bounds the endpoints an endpointCache holds.
const maxCachedEndpoints = 4096

// endpointCache remembers what an S3 endpoint resolver answers for each
// set of parameters: the SDK's resolver runs a rules engine (regular
// expressions, URL parsing) twice per request, which profiles of
// manifest GETs showed to cost as much as the rest of the client's work
// on a HEAD, and its answer depends on nothing but the parameters.
type endpointCache struct {
	next s3.EndpointResolverV2

	mu      sync.Mutex
	entries map[endpointKey]smithyendpoints.Endpoint
}

func newEndpointCache(next s3.EndpointResolverV2) *endpointCache {
	return &endpointCache{next: next, entries: make(map[endpointKey]smithyendpoints.Endpoint)}
}

// endpointKey is s3.EndpointParameters by value. TestEndpointKeyFields
// fails when the SDK adds a parameter that it does not hold.
type endpointKey struct {
	bucket, region, endpoint, key, prefix, copySource string

	useFIPS, useDualStack, forcePathStyle, accelerate, useGlobalEndpoint,
	useObjectLambdaEndpoint, disableAccessPoints,
	disableMultiRegionAccessPoints, useArnRegion,
	useS3ExpressControlEndpoint, disableS3ExpressSessionAuth optionalBool
}

// optionalBool is a *bool by value: unset, false or true.
type optionalBool int8

func optBool(b *bool) optionalBool {
	switch {
	case b == nil:
		return 0
	case *b:
		return 2
	}
	return 1
}

func newEndpointKey(p s3.EndpointParameters) endpointKey {
	return endpointKey{
		bucket:                         aws.ToString(p.Bucket),
		region:                         aws.ToString(p.Region),
		endpoint:                       aws.ToString(p.Endpoint),
		key:                            aws.ToString(p.Key),
		prefix:                         aws.ToString(p.Prefix),
		copySource:                     aws.ToString(p.CopySource),
		useFIPS:                        optBool(p.UseFIPS),
		useDualStack:                   optBool(p.UseDualStack),
		forcePathStyle:                 optBool(p.ForcePathStyle),
		accelerate:                     optBool(p.Accelerate),
		useGlobalEndpoint:              optBool(p.UseGlobalEndpoint),
		useObjectLambdaEndpoint:        optBool(p.UseObjectLambdaEndpoint),
		disableAccessPoints:            optBool(p.DisableAccessPoints),
		disableMultiRegionAccessPoints: optBool(p.DisableMultiRegionAccessPoints),
		useArnRegion:                   optBool(p.UseArnRegion),
		useS3ExpressControlEndpoint:    optBool(p.UseS3ExpressControlEndpoint),
		disableS3ExpressSessionAuth:    optBool(p.DisableS3ExpressSessionAuth),
	}
}

// ResolveEndpoint returns the endpoint for p, resolving it only the
// first time. What it returns is a copy the caller may change: the SDK
// writes into the auth options of an endpoint's properties.
func (c *endpointCache) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	k := newEndpointKey(p)
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok {
		return copyEndpoint(e), nil
	}
	e, err := c.next.ResolveEndpoint(ctx, p)
	if err != nil {
		return e, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedEndpoints {
		clear(c.entries)
	}
	c.entries[k] = e
	c.mu.Unlock()
	return copyEndpoint(e), nil
}

// copyEndpoint returns a copy of e that shares nothing with it that the
// SDK changes: its properties, and the auth options among them with
// their own properties.
func copyEndpoint(e smithyendpoints.Endpoint) smithyendpoints.Endpoint {
	var props smithy.Properties
	props.SetAll(&e.Properties)
	if opts, ok := smithyauth.GetAuthOptions(&e.Properties); ok {
		cp := make([]*smithyauth.Option, len(opts))
		for i, o := range opts {
			c := &smithyauth.Option{SchemeID: o.SchemeID}
			c.IdentityProperties.SetAll(&o.IdentityProperties)
			c.SignerProperties.SetAll(&o.SignerProperties)
			cp[i] = c
		}
		smithyauth.SetAuthOptions(&props, cp)
	}
	e.Properties = props
	e.Headers = e.Headers.Clone()
	return e
}
