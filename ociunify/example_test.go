package ociunify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociunify"
	"github.com/opencontainers/go-digest"
)

// Example shows that a write reaches both registries, that content
// held by either can be read, and that a tag the two disagree on is
// reported.
func Example() {
	ctx := context.Background()
	r0, r1 := ocimem.New(), ocimem.New()
	u := ociunify.New(r0, r1, &ociunify.Options{ReadPolicy: ociunify.ReadConcurrent})

	data := "hello"
	desc := ociregistry.Descriptor{Digest: digest.FromString(data), Size: int64(len(data))}
	if _, err := u.PushBlob(ctx, "greetings", desc, strings.NewReader(data)); err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range []ociregistry.Interface{r0, r1} {
		rd, _ := r.GetBlob(ctx, "greetings", desc.Digest)
		got, _ := io.ReadAll(rd)
		rd.Close()
		fmt.Println(string(got))
	}

	// The same tag pushed to each registry directly, at different
	// manifests.
	r0.PushManifest(ctx, "greetings", "latest", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), "application/vnd.oci.image.index.v1+json")
	r1.PushManifest(ctx, "greetings", "latest", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"a":"b"}}`), "application/vnd.oci.image.index.v1+json")
	_, err := u.ResolveTag(ctx, "greetings", "latest")
	fmt.Println(errors.Is(err, ociunify.ErrInconsistent))
	// Output:
	// hello
	// hello
	// true
}
