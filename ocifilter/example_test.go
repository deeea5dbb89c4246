package ocifilter_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This example wraps a registry twice: Select shows only the
// repositories under team/, and ReadOnly refuses writes to them.
func Example() {
	ctx := context.Background()
	base := ocimem.New()
	data := "hello"
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString(data), Size: int64(len(data))}
	for _, repo := range []string{"team/app", "secret/app"} {
		if _, err := base.PushBlob(ctx, repo, desc, strings.NewReader(data)); err != nil {
			panic(err)
		}
	}

	r := ocifilter.ReadOnly(ocifilter.Select(base, func(repo string) bool {
		return strings.HasPrefix(repo, "team/")
	}))
	_, err := r.ResolveBlob(ctx, "team/app", desc.Digest)
	fmt.Println("team/app:", err)
	_, err = r.ResolveBlob(ctx, "secret/app", desc.Digest)
	fmt.Println("secret/app hidden:", errors.Is(err, ociregistry.ErrBlobUnknown))
	_, err = r.PushBlob(ctx, "team/app", desc, strings.NewReader(data))
	fmt.Println("push denied:", errors.Is(err, ociregistry.ErrDenied))
	// Output:
	// team/app: <nil>
	// secret/app hidden: true
	// push denied: true
}
