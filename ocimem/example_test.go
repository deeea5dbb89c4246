package ocimem_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This example pushes an image (a config blob and a manifest that refers
// to it) and reads it back by tag.
func Example() {
	ctx := context.Background()
	r := ocimem.New()

	config := []byte(`{}`)
	configDesc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageConfig,
		Digest:    digest.FromBytes(config),
		Size:      int64(len(config)),
	}
	if _, err := r.PushBlob(ctx, "library/hello", configDesc, strings.NewReader(string(config))); err != nil {
		panic(err)
	}
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + string(configDesc.Digest) + `","size":2},` +
		`"layers":[]}`
	if _, err := r.PushManifest(ctx, "library/hello", "latest", []byte(manifest), ocispec.MediaTypeImageManifest); err != nil {
		panic(err)
	}

	desc, err := r.ResolveTag(ctx, "library/hello", "latest")
	if err != nil {
		panic(err)
	}
	fmt.Println(desc.MediaType, desc.Size)

	// Blobs belong to repositories: another repository cannot see it.
	_, err = r.ResolveBlob(ctx, "other", configDesc.Digest)
	fmt.Println(errors.Is(err, ociregistry.ErrBlobUnknown))
	// Output:
	// application/vnd.oci.image.manifest.v1+json 246
	// true
}
