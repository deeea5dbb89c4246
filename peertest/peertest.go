// Package peertest drives ociserver with independent client libraries
// (oras-go, go-containerregistry and regclient), so that our server is
// checked against what real clients send and expect rather than only
// against our own reading of the specification. It is a separate module
// so that the main module does not depend on those libraries.
//
// Every test runs against each entry of stacks: a named way to start a
// server under test. Adding a stack is one more entry there.
package peertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
)

// stack is a server under test.
type stack struct {
	name string
	// start starts a server that is stopped when t ends. It returns the
	// server's host ("127.0.0.1:port") and the registry holding what
	// the server stores, so that tests can check it without HTTP.
	start func(t *testing.T) (host string, backend ociregistry.Interface)
}

// stacks lists the servers every peer test runs against.
var stacks = []stack{
	// mem is ociserver over ocimem.
	{"mem", func(t *testing.T) (string, ociregistry.Interface) {
		r := ocimem.New()
		return serve(t, r), r
	}},
	// proxy is ociserver over ociclient over ociserver over ocimem, so
	// that what a peer sends also goes through our client, and what our
	// client gets back goes out again through our server.
	{"proxy", func(t *testing.T) (string, ociregistry.Interface) {
		r := ocimem.New()
		c, err := ociclient.New(serve(t, r), &ociclient.Options{MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		return serve(t, c), r
	}},
}

// serve serves r over HTTP until t ends and returns the server's host.
func serve(t *testing.T, r ociregistry.Interface) string {
	return ocitest.NewServer(t, r)
}

// forEachStack runs f as a subtest against a fresh server of each stack.
func forEachStack(t *testing.T, f func(t *testing.T, host string, backend ociregistry.Interface)) {
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			host, backend := s.start(t)
			f(t, host, backend)
		})
	}
}

// object is a blob or manifest with its descriptor.
type object struct {
	Desc ocispec.Descriptor
	Data []byte
}

func newObject(mediaType string, data []byte) object {
	return object{
		Desc: ocispec.Descriptor{
			MediaType: mediaType,
			Digest:    digest.FromBytes(data),
			Size:      int64(len(data)),
		},
		Data: data,
	}
}

// image is an image manifest with its config and layers.
type image struct {
	Config   object
	Layers   []object
	Manifest object
}

// blobs returns the config and layers.
func (img image) blobs() []object {
	return append([]object{img.Config}, img.Layers...)
}

// pseudoRandom returns n bytes that depend on seed, so that different
// seeds give different digests and failures are reproducible.
func pseudoRandom(seed string, n int) []byte {
	buf := make([]byte, 0, n+sha256.Size)
	sum := sha256.Sum256([]byte(seed))
	for len(buf) < n {
		buf = append(buf, sum[:]...)
		sum = sha256.Sum256(sum[:])
	}
	return buf[:n]
}

// newImage returns an image with a config and nlayers layers of
// layerSize bytes each, all derived from seed.
func newImage(seed string, nlayers, layerSize int) image {
	var img image
	img.Config = newObject(ocispec.MediaTypeImageConfig,
		fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","seed":%q}`, seed))
	for i := range nlayers {
		img.Layers = append(img.Layers, newObject(ocispec.MediaTypeImageLayer,
			pseudoRandom(fmt.Sprintf("%s/layer%d", seed, i), layerSize)))
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    img.Config.Desc,
	}
	for _, l := range img.Layers {
		m.Layers = append(m.Layers, l.Desc)
	}
	img.Manifest = newObject(ocispec.MediaTypeImageManifest, mustMarshal(m))
	return img
}

// newIndex returns an image index of the given manifests.
func newIndex(manifests ...object) object {
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
	}
	for i, m := range manifests {
		d := m.Desc
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: fmt.Sprintf("arch%d", i)}
		idx.Manifests = append(idx.Manifests, d)
	}
	return newObject(ocispec.MediaTypeImageIndex, mustMarshal(idx))
}

// newArtifact returns an artifact manifest with the given subject and
// artifact type, with the empty config and one layer, and that layer.
func newArtifact(seed string, subject ocispec.Descriptor, artifactType string) (manifest object, blobs []object) {
	cfg := newObject(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	layer := newObject("application/octet-stream", pseudoRandom(seed, 100))
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       cfg.Desc,
		Layers:       []ocispec.Descriptor{layer.Desc},
		Subject:      &subject,
		Annotations:  map[string]string{"seed": seed},
	}
	return newObject(ocispec.MediaTypeImageManifest, mustMarshal(m)), []object{cfg, layer}
}

func mustMarshal(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// backendManifest returns the bytes the backend holds for the manifest
// with the given digest in repo, failing t when it holds none.
func backendManifest(t *testing.T, backend ociregistry.Interface, repo string, dig digest.Digest) []byte {
	t.Helper()
	return readAll(t, func() (ociregistry.BlobReader, error) {
		return backend.GetManifest(t.Context(), repo, dig)
	})
}

// backendBlob returns the bytes the backend holds for the blob with the
// given digest in repo, failing t when it holds none.
func backendBlob(t *testing.T, backend ociregistry.Interface, repo string, dig digest.Digest) []byte {
	t.Helper()
	return readAll(t, func() (ociregistry.BlobReader, error) {
		return backend.GetBlob(t.Context(), repo, dig)
	})
}

func readAll(t *testing.T, get func() (ociregistry.BlobReader, error)) []byte {
	t.Helper()
	r, err := get()
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	return data
}

// recorder is an http.RoundTripper that records the method and path of
// each request, so that tests can check how a client talked to the
// server (for example that a mount really was a mount).
type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	s := req.Method + " " + req.URL.Path
	if req.URL.RawQuery != "" {
		s += "?" + req.URL.RawQuery
	}
	r.reqs = append(r.reqs, s)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// requests returns the requests recorded so far and forgets them.
func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.reqs
	r.reqs = nil
	return reqs
}

// countPrefix returns how many of reqs start with prefix.
func countPrefix(reqs []string, prefix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// assertSameBytes fails t when got and want differ. It compares with
// bytes.Equal because a structural diff of large blobs is slow and
// unreadable.
func assertSameBytes(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes with digest %s, want %d bytes with digest %s",
			len(got), digest.FromBytes(got), len(want), digest.FromBytes(want))
	}
}
