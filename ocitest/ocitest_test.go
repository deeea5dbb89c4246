package ocitest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestOCIMem(t *testing.T) {
	ocitest.Run(t, ocitest.Suite{
		New: func(t *testing.T) ociregistry.Interface { return ocimem.New() },
	})
}

func TestNewServer(t *testing.T) {
	r := ocimem.New()
	host := ocitest.NewServer(t, r)
	p := ocitest.PushRandomImage(t, r, "foo/bar", "latest")

	req, err := http.NewRequestWithContext(t.Context(), "GET", "http://"+host+"/v2/foo/bar/manifests/latest", nil)
	qt.Assert(t, qt.IsNil(err))
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	qt.Assert(t, qt.Equals(resp.Header.Get("Content-Type"), ocispec.MediaTypeImageManifest))
	qt.Assert(t, qt.Equals(resp.Header.Get("Docker-Content-Digest"), string(p.Manifest.Digest)))
	qt.Assert(t, qt.DeepEquals(body, p.Content))

	// The layers are served too.
	layer := p.Blobs[1]
	resp, err = http.Get("http://" + host + "/v2/foo/bar/blobs/" + string(layer.Digest))
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	qt.Assert(t, qt.DeepEquals(body, p.BlobContent[layer.Digest]))
}

func TestOCIMemLaxReferences(t *testing.T) {
	ocitest.Run(t, ocitest.Suite{
		New: func(t *testing.T) ociregistry.Interface {
			return ocimem.NewWithConfig(&ocimem.Config{LaxChildReferences: true})
		},
		LaxReferences: true,
	})
}

// TestRestricted runs the suite with every capability flag set against a
// registry that lacks those capabilities, to check that the flags make
// the suite expect what such a registry does.
func TestRestricted(t *testing.T) {
	ocitest.Run(t, ocitest.Suite{
		New:             func(t *testing.T) ociregistry.Interface { return restricted(ocimem.New()) },
		NoDelete:        true,
		ImmutableTags:   true,
		NoChunkedResume: true,
		NoMount:         true,
		NoRepositories:  true,
		NoReferrers:     true,
	})
}

// restricted returns a registry that answers from r except that it
// cannot delete, mount, resume uploads, list repositories or referrers,
// and that refuses to move a tag.
func restricted(r ociregistry.Interface) ociregistry.Interface {
	return &ociregistry.Funcs{
		GetBlob_:         r.GetBlob,
		GetBlobRange_:    r.GetBlobRange,
		GetManifest_:     r.GetManifest,
		GetTag_:          r.GetTag,
		ResolveBlob_:     r.ResolveBlob,
		ResolveManifest_: r.ResolveManifest,
		ResolveTag_:      r.ResolveTag,
		PushBlob_:        r.PushBlob,
		PushBlobChunked_: r.PushBlobChunked,
		PushManifest_: func(ctx context.Context, repo, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
			if tag != "" {
				desc, err := r.ResolveTag(ctx, repo, tag)
				// The tag may hold either digest of the same
				// content (sha512 for sha512 content), and
				// pushing that again does not move it.
				if err == nil && desc.Digest != ocitest.Digest(contents) && desc.Digest != digest.SHA512.FromBytes(contents) {
					return ociregistry.Descriptor{}, fmt.Errorf("tag %s is immutable: %w", tag, ociregistry.ErrDenied)
				}
			}
			return r.PushManifest(ctx, repo, tag, contents, mediaType)
		},
		Tags_: r.Tags,
	}
}

func TestPushRandom(t *testing.T) {
	r := ocimem.New()
	image := ocitest.PushRandomImage(t, r, "foo", "v1")
	qt.Assert(t, qt.HasLen(image.Blobs, 3))
	qt.Assert(t, qt.HasLen(image.BlobContent, 3))
	qt.Assert(t, qt.Equals(image.Blobs[0].MediaType, ocispec.MediaTypeImageConfig))
	var m ociregistry.Manifest
	qt.Assert(t, qt.IsNil(json.Unmarshal(image.Content, &m)))
	qt.Assert(t, qt.DeepEquals(append([]ociregistry.Descriptor{m.Config}, m.Layers...), image.Blobs))

	// Two random images differ.
	other := ocitest.PushRandomImage(t, r, "foo", "")
	qt.Assert(t, qt.Not(qt.Equals(other.Manifest.Digest, image.Manifest.Digest)))

	index := ocitest.PushRandomIndex(t, r, "foo", "multi")
	qt.Assert(t, qt.Equals(index.Manifest.MediaType, ocispec.MediaTypeImageIndex))
	qt.Assert(t, qt.HasLen(index.Children, 2))
	qt.Assert(t, qt.HasLen(index.BlobContent, 6))
	var idx ociregistry.Index
	qt.Assert(t, qt.IsNil(json.Unmarshal(index.Content, &idx)))
	qt.Assert(t, qt.HasLen(idx.Manifests, 2))
	for i, desc := range idx.Manifests {
		qt.Assert(t, qt.Equals(desc.Digest, index.Children[i].Manifest.Digest))
		qt.Assert(t, qt.IsNotNil(desc.Platform))
	}

	art := ocitest.PushRandomArtifact(t, r, "foo", image.Manifest, "application/vnd.example.sig")
	qt.Assert(t, qt.Equals(art.Manifest.ArtifactType, "application/vnd.example.sig"))
	qt.Assert(t, qt.IsNil(json.Unmarshal(art.Content, &m)))
	qt.Assert(t, qt.Equals(m.Config.MediaType, ocispec.MediaTypeEmptyJSON))
	qt.Assert(t, qt.DeepEquals(art.BlobContent[m.Config.Digest], []byte("{}")))
	qt.Assert(t, qt.HasLen(m.Layers, 1))
	qt.Assert(t, qt.Equals(m.Subject.Digest, image.Manifest.Digest))
	refs, err := ociregistry.All(r.Referrers(t.Context(), "foo", image.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 1))
	qt.Assert(t, qt.Equals(refs[0].Digest, art.Manifest.Digest))
}
