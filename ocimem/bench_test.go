package ocimem_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func BenchmarkPushBlob1MiB(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	r := ocimem.New()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := r.PushBlob(ctx, "repo", desc, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolveTagParallel(b *testing.B) {
	r := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
	config := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("{}"), Size: 2}
	for i := range 100 {
		data := []byte(fmt.Sprintf(`{"schemaVersion":2,"config":%s,"layers":[],"annotations":{"i":"%d"}}`, jsonOf(b, config), i))
		if _, err := r.PushManifest(ctx, "repo", fmt.Sprint("t", i), data, ocispec.MediaTypeImageManifest); err != nil {
			b.Fatal(err)
		}
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.ResolveTag(ctx, "repo", "t42"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReferrers lists the one referrer of a subject in a repository
// with many other referrers: its cost does not grow with them.
func BenchmarkReferrers(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
			config := ociregistry.Descriptor{MediaType: "application/x", Digest: digest.FromString("{}"), Size: 2}
			var subject ociregistry.Digest
			for i := range n {
				subject = digest.FromString(fmt.Sprint(i))
				data := []byte(fmt.Sprintf(`{"schemaVersion":2,"config":%s,"layers":[],"subject":{"mediaType":"application/x","digest":"%s","size":1}}`, jsonOf(b, config), subject))
				if _, err := r.PushManifest(ctx, "repo", "", data, ocispec.MediaTypeImageManifest); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				descs, err := ociregistry.All(r.Referrers(ctx, "repo", subject, ""))
				if err != nil || len(descs) != 1 {
					b.Fatal(err, len(descs))
				}
			}
		})
	}
}

// BenchmarkPushBlobStream pushes 64 MiB that arrive 64 KiB per read, as
// from a connection.
func BenchmarkPushBlobStream(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	r := ocimem.New()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := r.PushBlob(ctx, "repo", desc, &pieceReader{data: data, piece: 64 << 10}); err != nil {
			b.Fatal(err)
		}
		if err := r.DeleteBlob(ctx, "repo", desc.Digest); err != nil {
			b.Fatal(err)
		}
	}
}
