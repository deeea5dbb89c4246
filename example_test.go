package ociregistry_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/ocireg/ociregistry"
)

// This example makes a test double from Funcs: only GetTag is set, and
// every other method answers ErrUnsupported. Errors carry the spec's
// codes, so callers test them with errors.Is whatever wrapped them.
func Example() {
	ctx := context.Background()
	r := &ociregistry.Funcs{
		GetTag_: func(ctx context.Context, repo, tag string) (ociregistry.BlobReader, error) {
			return nil, fmt.Errorf("%s:%s: %w", repo, tag, ociregistry.ErrManifestUnknown)
		},
	}
	_, err := r.GetTag(ctx, "library/app", "v1")
	fmt.Println(err)
	fmt.Println(errors.Is(err, ociregistry.ErrManifestUnknown), ociregistry.HTTPStatus(err))

	_, err = r.GetBlob(ctx, "library/app", "sha256:0000000000000000000000000000000000000000000000000000000000000000")
	fmt.Println(errors.Is(err, ociregistry.ErrUnsupported))

	// Names are checked against the spec's grammar.
	err = ociregistry.CheckRepository("library/App")
	fmt.Println(errors.Is(err, ociregistry.ErrNameInvalid))
	// Output:
	// library/app:v1: manifest unknown to registry
	// true 404
	// true
	// true
}
