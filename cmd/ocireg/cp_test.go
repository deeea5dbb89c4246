package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// slowSource is a registry whose GetBlob waits, for a while, until
// another GetBlob is under way too, and records how many ran at once.
type slowSource struct {
	ociregistry.Interface
	wait time.Duration

	mu           sync.Mutex
	active, most int
}

func (s *slowSource) GetBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	s.mu.Lock()
	s.active++
	s.most = max(s.most, s.active)
	deadline := time.Now().Add(s.wait)
	for s.active < 2 && time.Now().Before(deadline) {
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
		s.mu.Lock()
	}
	s.active--
	s.mu.Unlock()
	return s.Interface.GetBlob(ctx, repo, dig)
}

func TestCopyJobs(t *testing.T) {
	for _, jobs := range []int{1, 2} {
		t.Run(fmt.Sprint("jobs", jobs), func(t *testing.T) {
			ctx := context.Background()
			mem := ocimem.New()
			img := ocitest.PushRandomImage(t, mem, "src", "v1") // three blobs
			src := &slowSource{Interface: mem, wait: 300 * time.Millisecond}
			dst := ocimem.New()
			c := &copier{
				src:      &target{name: "src", reg: src, repo: "src", tag: "v1"},
				dst:      &target{name: "dst", reg: dst, repo: "dst"},
				jobs:     jobs,
				progress: newProgress(&bytes.Buffer{}, true),
				warn:     &bytes.Buffer{},
			}
			desc, err := c.copy(ctx)
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(desc.Digest, img.Manifest.Digest))
			qt.Check(t, qt.Equals(src.most, jobs))
			got, err := dst.ResolveTag(ctx, "dst", "v1")
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(got.Digest, img.Manifest.Digest))
			qt.Check(t, qt.Equals(c.progress.doneBlobs.Load(), int64(3)))
		})
	}
}

// TestCopyBlobThatIsAManifest checks that content that is both a
// manifest and a blob is copied as both: an index whose first child is
// the image M, and whose second child is an artifact carrying M's bytes
// as its layer.
func TestCopyBlobThatIsAManifest(t *testing.T) {
	ctx := context.Background()
	src := ocimem.New()
	img := ocitest.PushRandomImage(t, src, "src", "")
	push := func(mediaType string, data []byte) ociregistry.Descriptor {
		desc := ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		_, err := src.PushBlob(ctx, "src", desc, bytes.NewReader(data))
		qt.Assert(t, qt.IsNil(err))
		return desc
	}
	manifest := func(v any) []byte {
		data, err := json.Marshal(v)
		qt.Assert(t, qt.IsNil(err))
		return data
	}
	// The artifact's layer is M's manifest, pushed as a blob.
	layer := push("application/vnd.test.manifest-copy", img.Content)
	artifact := manifest(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.test.backup",
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
	})
	push(ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	artifactDesc, err := src.PushManifest(ctx, "src", "", artifact, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	index := manifest(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{img.Manifest, artifactDesc},
	})
	indexDesc, err := src.PushManifest(ctx, "src", "v1", index, ocispec.MediaTypeImageIndex)
	qt.Assert(t, qt.IsNil(err))

	dst := ocimem.New()
	c := &copier{
		src:      &target{name: "src", reg: src, repo: "src", tag: "v1"},
		dst:      &target{name: "dst", reg: dst, repo: "dst"},
		jobs:     2,
		progress: newProgress(&bytes.Buffer{}, true),
		warn:     &bytes.Buffer{},
	}
	desc, err := c.copy(ctx)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Digest, indexDesc.Digest))
	// M is there as a manifest and as a blob.
	r, err := dst.GetManifest(ctx, "dst", img.Manifest.Digest)
	qt.Assert(t, qt.IsNil(err))
	r.Close()
	r, err = dst.GetBlob(ctx, "dst", img.Manifest.Digest)
	qt.Assert(t, qt.IsNil(err))
	r.Close()
	for _, b := range img.Blobs {
		_, err := dst.ResolveBlob(ctx, "dst", b.Digest)
		qt.Check(t, qt.IsNil(err))
	}
}
