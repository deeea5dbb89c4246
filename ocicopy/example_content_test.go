package ocicopy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushIndex pushes to repo in r an index, tagged tag, of two images
// for linux/amd64 and linux/arm64, each with a config and a layer. It is
// for examples, which have no *testing.T for ocitest's helpers.
func pushIndex(r ociregistry.Interface, repo, tag string) {
	ctx := context.Background()
	push := func(mediaType string, data []byte) ociregistry.Descriptor {
		desc := ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		if _, err := r.PushBlob(ctx, repo, desc, bytes.NewReader(data)); err != nil {
			log.Fatal(err)
		}
		return desc
	}
	pushManifest := func(tag string, v any, mediaType string) ociregistry.Descriptor {
		data, err := json.Marshal(v)
		if err != nil {
			log.Fatal(err)
		}
		desc, err := r.PushManifest(ctx, repo, tag, data, mediaType)
		if err != nil {
			log.Fatal(err)
		}
		return desc
	}
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
	for _, arch := range []string{"amd64", "arm64"} {
		desc := pushManifest("", ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    push(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"`+arch+`","os":"linux"}`)),
			Layers:    []ociregistry.Descriptor{push(ocispec.MediaTypeImageLayer, []byte("layer for "+arch))},
		}, ocispec.MediaTypeImageManifest)
		desc.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
		index.Manifests = append(index.Manifests, desc)
	}
	pushManifest(tag, index, ocispec.MediaTypeImageIndex)
}
