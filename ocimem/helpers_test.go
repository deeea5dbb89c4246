package ocimem_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var ctx = context.Background()

// pushBlob pushes data to repo with a digest of the given algorithm.
func pushBlob(t *testing.T, r ociregistry.Interface, repo string, alg digest.Algorithm, data string) ociregistry.Descriptor {
	t.Helper()
	desc := ociregistry.Descriptor{
		MediaType: "application/octet-stream",
		Digest:    alg.FromString(data),
		Size:      int64(len(data)),
	}
	got, err := r.PushBlob(ctx, repo, desc, bytes.NewReader([]byte(data)))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, desc))
	return desc
}

// imageManifest returns the JSON of an OCI image manifest.
func imageManifest(t *testing.T, m ocispec.Manifest) []byte {
	t.Helper()
	m.SchemaVersion = 2
	if m.MediaType == "" {
		m.MediaType = ocispec.MediaTypeImageManifest
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	data, err := json.Marshal(m)
	qt.Assert(t, qt.IsNil(err))
	return data
}

// indexManifest returns the JSON of an OCI index.
func indexManifest(t *testing.T, idx ocispec.Index) []byte {
	t.Helper()
	idx.SchemaVersion = 2
	if idx.MediaType == "" {
		idx.MediaType = ocispec.MediaTypeImageIndex
	}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	data, err := json.Marshal(idx)
	qt.Assert(t, qt.IsNil(err))
	return data
}

// pushImage pushes a config, one layer and an image manifest to repo and
// returns the manifest's descriptor. Distinct values of seed give distinct
// images.
func pushImage(t *testing.T, r ociregistry.Interface, repo, tag, seed string) ociregistry.Descriptor {
	t.Helper()
	config := pushBlob(t, r, repo, digest.SHA256, `{"seed":"`+seed+`"}`)
	config.MediaType = ocispec.MediaTypeImageConfig
	layer := pushBlob(t, r, repo, digest.SHA256, "layer "+seed)
	layer.MediaType = ocispec.MediaTypeImageLayer
	data := imageManifest(t, ocispec.Manifest{Config: config, Layers: []ocispec.Descriptor{layer}})
	desc, err := r.PushManifest(ctx, repo, tag, data, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(desc, ociregistry.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromBytes(data),
		Size:      int64(len(data)),
	}))
	return desc
}

// pushImageErr is pushImage for goroutines other than the test's: it
// returns an error instead of failing the test, since t.Fatal may only
// be called from the test's goroutine.
func pushImageErr(r ociregistry.Interface, repo, tag, seed string) (ociregistry.Descriptor, error) {
	var layers []ocispec.Descriptor
	for _, data := range []string{`{"seed":"` + seed + `"}`, "layer " + seed} {
		desc := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString(data), Size: int64(len(data))}
		if _, err := r.PushBlob(ctx, repo, desc, bytes.NewReader([]byte(data))); err != nil {
			return ociregistry.Descriptor{}, err
		}
		layers = append(layers, desc)
	}
	config := layers[0]
	config.MediaType = ocispec.MediaTypeImageConfig
	data, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    layers[1:],
	})
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	desc, err := r.PushManifest(ctx, repo, tag, data, ocispec.MediaTypeImageManifest)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	if want := digest.FromBytes(data); desc.Digest != want {
		return ociregistry.Descriptor{}, fmt.Errorf("pushed manifest has digest %s, want %s", desc.Digest, want)
	}
	return desc, nil
}

// readAll reads and closes br, checking its descriptor.
func readAll(t *testing.T, br ociregistry.BlobReader, wantDesc ociregistry.Descriptor) string {
	t.Helper()
	defer br.Close()
	qt.Assert(t, qt.DeepEquals(br.Descriptor(), wantDesc))
	data, err := io.ReadAll(br)
	qt.Assert(t, qt.IsNil(err))
	return string(data)
}

func mustAll[T any](t *testing.T, seq iter.Seq2[T, error]) []T {
	t.Helper()
	xs, err := ociregistry.All(seq)
	qt.Assert(t, qt.IsNil(err))
	return xs
}

func seedOf(i int) string { return fmt.Sprint("seed-", i) }

// pieceReader reads data at most piece bytes at a time.
type pieceReader struct {
	data  []byte
	piece int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.piece)], r.data)
	r.data = r.data[n:]
	return n, nil
}
