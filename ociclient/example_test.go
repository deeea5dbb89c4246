package ociclient_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ociref"
)

// This example reads an image's manifest from Docker Hub with the
// credentials docker or podman keep, if any.
func Example() {
	ctx := context.Background()
	ref, err := ociref.ParseDocker("alpine:3.20")
	if err != nil {
		log.Fatal(err)
	}
	creds, err := ociauth.Load()
	if err != nil {
		log.Fatal(err)
	}
	r, err := ociclient.New(ref.RegistryHost(), &ociclient.Options{Auth: creds})
	if err != nil {
		log.Fatal(err)
	}
	m, err := r.GetTag(ctx, ref.Repository, ref.Tag)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	data, err := io.ReadAll(m)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Descriptor().Digest, m.Descriptor().MediaType, len(data))
}
