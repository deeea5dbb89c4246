package ocitest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	mathrand "math/rand/v2"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Pushed describes content that a PushRandom function pushed.
type Pushed struct {
	// Manifest describes the manifest (or index) that was pushed.
	// For an artifact it carries the artifact type.
	Manifest ociregistry.Descriptor

	// Content holds the manifest's bytes.
	Content []byte

	// Blobs describes the blobs the manifest refers to directly:
	// its config first, then its layers. It is empty for an index.
	Blobs []ociregistry.Descriptor

	// BlobContent holds the content of every blob that was pushed,
	// including the blobs of Children.
	BlobContent map[ociregistry.Digest][]byte

	// Children describes the manifests an index refers to, in order.
	Children []Pushed
}

// Digest returns the sha256 digest of data.
func Digest(data []byte) ociregistry.Digest {
	return digest.SHA256.FromBytes(data)
}

// PushBlob pushes data to repo in r as a blob with media type
// application/octet-stream and returns its descriptor. It calls t.Fatal
// when the push fails or r answers a descriptor with another digest or
// size.
func PushBlob(t testing.TB, r ociregistry.Interface, repo string, data []byte) ociregistry.Descriptor {
	t.Helper()
	return pushBlob(t, r, repo, "application/octet-stream", data)
}

func pushBlob(t testing.TB, r ociregistry.Interface, repo, mediaType string, data []byte) ociregistry.Descriptor {
	t.Helper()
	return pushBlobAlg(t, r, repo, mediaType, digest.SHA256, data)
}

// pushBlobAlg pushes data to repo with its digest of algorithm alg.
func pushBlobAlg(t testing.TB, r ociregistry.Interface, repo, mediaType string, alg digest.Algorithm, data []byte) ociregistry.Descriptor {
	t.Helper()
	desc := ociregistry.Descriptor{
		MediaType: mediaType,
		Digest:    alg.FromBytes(data),
		Size:      int64(len(data)),
	}
	got, err := r.PushBlob(t.Context(), repo, desc, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("pushing blob %s to %s: %v", desc.Digest, repo, err)
	}
	if got.Digest != desc.Digest || got.Size != desc.Size {
		t.Fatalf("pushing blob to %s: got descriptor %s size %d, want %s size %d", repo, got.Digest, got.Size, desc.Digest, desc.Size)
	}
	return desc
}

// PushRandomImage pushes an OCI image manifest with a random config and
// two random layers to repo in r, tagged with tag unless tag is empty.
// It calls t.Fatal when a push fails.
func PushRandomImage(t testing.TB, r ociregistry.Interface, repo, tag string) Pushed {
	t.Helper()
	p := Pushed{BlobContent: map[ociregistry.Digest][]byte{}}
	var layers []ociregistry.Descriptor
	var diffIDs []digest.Digest
	for range 2 {
		data := randomBytes(512 + randomSize(1024))
		desc := pushBlob(t, r, repo, ocispec.MediaTypeImageLayer, data)
		p.BlobContent[desc.Digest] = data
		layers = append(layers, desc)
		diffIDs = append(diffIDs, desc.Digest)
	}
	config := mustMarshal(t, ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   ocispec.ImageConfig{Labels: map[string]string{"random": randomHex()}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	configDesc := pushBlob(t, r, repo, ocispec.MediaTypeImageConfig, config)
	p.BlobContent[configDesc.Digest] = config
	p.Blobs = append([]ociregistry.Descriptor{configDesc}, layers...)
	m := newManifest(configDesc, layers)
	p.Content = mustMarshal(t, m)
	p.Manifest = pushManifest(t, r, repo, tag, p.Content, ocispec.MediaTypeImageManifest)
	return p
}

// PushRandomIndex pushes an OCI image index of two random images (see
// PushRandomImage), for linux/amd64 and linux/arm64, to repo in r, tagged
// with tag unless tag is empty. The images themselves are not tagged.
// It calls t.Fatal when a push fails.
func PushRandomIndex(t testing.TB, r ociregistry.Interface, repo, tag string) Pushed {
	t.Helper()
	p := Pushed{BlobContent: map[ociregistry.Digest][]byte{}}
	idx := ociregistry.Index{
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ociregistry.Descriptor{},
	}
	idx.SchemaVersion = 2
	for _, arch := range []string{"amd64", "arm64"} {
		child := PushRandomImage(t, r, repo, "")
		p.Children = append(p.Children, child)
		for d, data := range child.BlobContent {
			p.BlobContent[d] = data
		}
		desc := child.Manifest
		desc.Platform = &ocispec.Platform{Architecture: arch, OS: "linux"}
		idx.Manifests = append(idx.Manifests, desc)
	}
	p.Content = mustMarshal(t, idx)
	p.Manifest = pushManifest(t, r, repo, tag, p.Content, ocispec.MediaTypeImageIndex)
	return p
}

// PushRandomArtifact pushes to repo in r, untagged, an OCI image manifest
// for an artifact of the given type: its config is the empty JSON blob
// {} with media type application/vnd.oci.empty.v1+json, it has one random
// layer, and its subject is subject (none when subject.Digest is empty).
// The subject need not be in r. It calls t.Fatal when a push fails.
func PushRandomArtifact(t testing.TB, r ociregistry.Interface, repo string, subject ociregistry.Descriptor, artifactType string) Pushed {
	t.Helper()
	p := Pushed{BlobContent: map[ociregistry.Digest][]byte{}}
	configDesc := pushBlob(t, r, repo, ocispec.MediaTypeEmptyJSON, []byte("{}"))
	p.BlobContent[configDesc.Digest] = []byte("{}")
	data := randomBytes(256 + randomSize(256))
	layer := pushBlob(t, r, repo, "application/octet-stream", data)
	p.BlobContent[layer.Digest] = data
	p.Blobs = []ociregistry.Descriptor{configDesc, layer}
	m := newManifest(configDesc, []ociregistry.Descriptor{layer})
	m.ArtifactType = artifactType
	if subject.Digest != "" {
		m.Subject = &subject
	}
	p.Content = mustMarshal(t, m)
	p.Manifest = pushManifest(t, r, repo, "", p.Content, ocispec.MediaTypeImageManifest)
	p.Manifest.ArtifactType = artifactType
	return p
}

// newManifest returns an OCI image manifest with the given config and
// layers. Layers is never nil, so that it marshals as [] and not null.
func newManifest(config ociregistry.Descriptor, layers []ociregistry.Descriptor) ociregistry.Manifest {
	if layers == nil {
		layers = []ociregistry.Descriptor{}
	}
	m := ociregistry.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    layers,
	}
	m.SchemaVersion = 2
	return m
}

// pushManifest pushes a manifest and returns its descriptor as computed
// from content, having checked that r answered the same digest and size.
func pushManifest(t testing.TB, r ociregistry.Interface, repo, tag string, content []byte, mediaType string) ociregistry.Descriptor {
	t.Helper()
	want := ociregistry.Descriptor{
		MediaType: mediaType,
		Digest:    Digest(content),
		Size:      int64(len(content)),
	}
	got, err := r.PushManifest(t.Context(), repo, tag, content, mediaType)
	if err != nil {
		t.Fatalf("pushing manifest %s to %s (tag %q): %v", want.Digest, repo, tag, err)
	}
	if got.Digest != want.Digest || got.Size != want.Size || got.MediaType != want.MediaType {
		t.Fatalf("pushing manifest to %s: got descriptor %s size %d type %q, want %s size %d type %q", repo, got.Digest, got.Size, got.MediaType, want.Digest, want.Size, want.MediaType)
	}
	return want
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshaling %T: %v", v, err)
	}
	return data
}

// randomBytes returns n random bytes. Random content keeps the digests of
// different pushes apart, so that tests cannot pass by accident on
// content another test left behind.
func randomBytes(n int) []byte {
	data := make([]byte, n)
	rand.Read(data)
	return data
}

func randomHex() string {
	return hex.EncodeToString(randomBytes(16))
}

// randomSize returns a random int in [0, n).
func randomSize(n int) int {
	return mathrand.IntN(n)
}
