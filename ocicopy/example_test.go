package ocicopy_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocicopy"
	"github.com/ocireg/ociregistry/ocilayout"
	"github.com/ocireg/ociregistry/ocimem"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This example copies the arm64 image of a multi-platform index from one
// registry into an OCI image layout on disk, then copies it again: the
// second copy finds everything there and transfers nothing. A registry
// reached through ociclient is used the same way.
func Example() {
	ctx := context.Background()
	src := ocimem.New()
	pushIndex(src, "library/app", "v1") // linux/amd64 and linux/arm64

	dir, err := os.MkdirTemp("", "layout")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dst, err := ocilayout.Create(dir)
	if err != nil {
		log.Fatal(err)
	}

	counts := map[ocicopy.EventKind]int{}
	opts := &ocicopy.Options{
		Platform:    &ocispec.Platform{OS: "linux", Architecture: "arm64"},
		Concurrency: 8,
		Progress:    func(ev ocicopy.Event) { counts[ev.Kind]++ },
	}
	for range 2 {
		clear(counts)
		desc, err := ocicopy.Copy(ctx, src, "library/app", dst, "", "v1", opts)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d blobs copied, %d already there, %d manifests pushed\n",
			desc.MediaType, counts[ocicopy.BlobCopied], counts[ocicopy.BlobSkipped], counts[ocicopy.ManifestPushed])
	}
	tags, err := ociregistry.All(dst.Tags(ctx, "", ""))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tags in the layout:", tags)
	// Output:
	// application/vnd.oci.image.manifest.v1+json: 2 blobs copied, 0 already there, 1 manifests pushed
	// application/vnd.oci.image.manifest.v1+json: 0 blobs copied, 0 already there, 0 manifests pushed
	// tags in the layout: [v1]
}

// This example mirrors every tag of a repository into another registry
// with CopyAll, the transfers of all the images sharing one bound, as
// "ocireg cp --all-tags" does.
func ExampleCopyAll() {
	ctx := context.Background()
	src, dst := ocimem.New(), ocimem.New()
	pushIndex(src, "library/app", "v1")
	pushIndex(src, "library/app", "v2")

	tags, err := ociregistry.All(src.Tags(ctx, "library/app", ""))
	if err != nil {
		log.Fatal(err)
	}
	var images []ocicopy.Image
	for _, tag := range tags {
		images = append(images, ocicopy.Image{
			Src: src, SrcRepo: "library/app", Ref: tag,
			Dst: dst, DstRepo: "mirror/app",
		})
	}
	var blobs int
	descs, err := ocicopy.CopyAll(ctx, images, &ocicopy.Options{
		Concurrency: 8,
		Progress: func(ev ocicopy.Event) {
			if ev.Kind == ocicopy.BlobCopied {
				blobs++
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i, desc := range descs {
		fmt.Println(tags[i], desc.MediaType)
	}
	// Both indexes have the same images: their blobs were copied once.
	fmt.Println("blobs copied:", blobs)
	// Output:
	// v1 application/vnd.oci.image.index.v1+json
	// v2 application/vnd.oci.image.index.v1+json
	// blobs copied: 4
}
