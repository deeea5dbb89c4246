package ociproxy_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociproxy"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
)

// Example pulls a blob through a proxy: the first pull fetches it from
// upstream and keeps it in the cache.
func Example() {
	ctx := context.Background()
	upstream := ocimem.New()
	data := "layer content"
	desc := ociregistry.Descriptor{Digest: digest.FromString(data), Size: int64(len(data))}
	if _, err := upstream.PushBlob(ctx, "library/app", desc, strings.NewReader(data)); err != nil {
		fmt.Println(err)
		return
	}

	// The cache must accept manifests whose blobs it has not pulled yet.
	cache := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
	p := ociproxy.New(upstream, cache, nil)

	rd, err := p.GetBlob(ctx, "library/app", desc.Digest)
	if err != nil {
		fmt.Println(err)
		return
	}
	got, _ := io.ReadAll(rd)
	rd.Close()
	fmt.Println(string(got))

	_, err = cache.ResolveBlob(ctx, "library/app", desc.Digest)
	fmt.Println("cached:", err == nil)
	// Output:
	// layer content
	// cached: true
}

// Example_readOnlyMirror serves a read-only mirror of a remote registry
// that keeps what it pulls in memory.
func Example_readOnlyMirror() {
	upstream, err := ociclient.New("registry.example.com", nil)
	if err != nil {
		log.Fatal(err)
	}
	cache := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
	mirror := ocifilter.ReadOnly(ociproxy.New(upstream, cache, nil))
	log.Fatal(http.ListenAndServe("127.0.0.1:5000", ociserver.New(mirror, nil)))
}
