package ocilayout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocilayout"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This example writes an image into a new layout directory and reads it
// back by its tag, which index.json records as the entry's
// org.opencontainers.image.ref.name annotation.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "layout")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := ocilayout.Create(filepath.Join(dir, "image"))
	if err != nil {
		log.Fatal(err)
	}
	// The repository name is ignored: a layout holds one repository.
	const repo = ""
	push := func(mediaType string, data []byte) ociregistry.Descriptor {
		desc := ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		if _, err := l.PushBlob(ctx, repo, desc, bytes.NewReader(data)); err != nil {
			log.Fatal(err)
		}
		return desc
	}
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    push(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`)),
		Layers:    []ociregistry.Descriptor{push(ocispec.MediaTypeImageLayerGzip, []byte("not really gzip"))},
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := l.PushManifest(ctx, repo, "v1", manifest, ocispec.MediaTypeImageManifest); err != nil {
		log.Fatal(err)
	}

	// Another program (or ocireg cp oci:DIR:v1 ...) sees the tag.
	l2, err := ocilayout.Open(filepath.Join(dir, "image"))
	if err != nil {
		log.Fatal(err)
	}
	tags, err := ociregistry.All(l2.Tags(ctx, repo, ""))
	if err != nil {
		log.Fatal(err)
	}
	desc, err := l2.ResolveTag(ctx, repo, "v1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tags:", tags)
	fmt.Println("media type:", desc.MediaType)
	fmt.Println("same digest:", desc.Digest == digest.FromBytes(manifest))
	// Output:
	// tags: [v1]
	// media type: application/vnd.oci.image.manifest.v1+json
	// same digest: true
}
