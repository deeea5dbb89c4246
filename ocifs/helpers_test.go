package ocifs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func newRegistry(t *testing.T) (*ocifs.Registry, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	return r, dir
}

func randBytes(rnd *rand.Rand, n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	return data
}

func descOf(data []byte, mediaType string) ociregistry.Descriptor {
	return ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func pushBlob(t *testing.T, r ociregistry.Interface, repo string, data []byte) ociregistry.Descriptor {
	t.Helper()
	desc, err := r.PushBlob(context.Background(), repo, descOf(data, "application/octet-stream"), bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	return desc
}

// image is what pushImage pushed.
type image struct {
	repo     string
	tag      string
	manifest ociregistry.Descriptor
	blobs    []ociregistry.Descriptor
}

// pushImageErr pushes an OCI image with a config and the given number of
// random layers, the last of them through a chunked upload, and tags it
// when tag is not empty.
func pushImageErr(ctx context.Context, r ociregistry.Interface, repo, tag string, layers int, rnd *rand.Rand) (image, error) {
	img := image{repo: repo[1:], tag: tag}
	config := []byte(`{"architecture":"amd64","os":"linux","n":` + string(randHex(rnd)) + `}`)
	cdesc := descOf(config, ocispec.MediaTypeImageConfig)
	if _, err := r.PushBlob(ctx, repo, cdesc, bytes.NewReader(config)); err != nil {
		return img, err
	}
	img.blobs = append(img.blobs, cdesc)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cdesc}
	m.SchemaVersion = 2
	for i := range layers {
		data := randBytes(rnd, 4<<10+rnd.IntN(60<<10))
		desc := descOf(data, ocispec.MediaTypeImageLayerGzip)
		if i == layers-1 {
			w, err := r.PushBlobChunked(ctx, repo, 0)
			if err != nil {
				return img, err
			}
			half := len(data) / 2
			_, err = w.Write(data[:half])
			if err == nil {
				_, err = w.Write(data[half:])
			}
			if err == nil {
				_, err = w.Commit(desc.Digest)
			}
			if err != nil {
				w.Cancel()
				return img, err
			}
		} else if _, err := r.PushBlob(ctx, repo, desc, bytes.NewReader(data)); err != nil {
			return img, err
		}
		img.blobs = append(img.blobs, desc)
		m.Layers = append(m.Layers, desc)
	}
	data, _ := json.Marshal(m)
	desc, err := r.PushManifest(ctx, repo, tag, data, ocispec.MediaTypeImageManifest)
	img.manifest = desc
	return img, err
}

func randHex(rnd *rand.Rand) []byte {
	return []byte(`"` + digest.FromBytes(randBytes(rnd, 8)).Encoded()[:16] + `"`)
}

func pushImage(t *testing.T, r ociregistry.Interface, repo, tag string, layers int) image {
	t.Helper()
	img, err := pushImageErr(context.Background(), r, repo, tag, layers, rand.New(rand.NewPCG(rand.Uint64(), 1)))
	qt.Assert(t, qt.IsNil(err))
	return img
}

// pushArtifact pushes a manifest whose subject is subject.
func pushArtifact(t *testing.T, r ociregistry.Interface, repo string, subject ociregistry.Descriptor) ociregistry.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg := ocispec.DescriptorEmptyJSON
	_, err := r.PushBlob(ctx, repo, cfg, bytes.NewReader(cfg.Data))
	qt.Assert(t, qt.IsNil(err))
	cfg.Data = nil
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x-sig", Config: cfg, Subject: &subject}
	m.SchemaVersion = 2
	m.Layers = []ociregistry.Descriptor{}
	data, _ := json.Marshal(m)
	desc, err := r.PushManifest(ctx, repo, "", data, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	return desc
}

// files returns the paths, relative to dir and slash-separated, of the
// regular files under dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	qt.Assert(t, qt.IsNil(err))
	slices.Sort(out)
	return out
}

func filesUnder(t *testing.T, dir, sub string) []string {
	var out []string
	for _, f := range files(t, dir) {
		if len(f) > len(sub) && f[:len(sub)+1] == sub+"/" {
			out = append(out, f)
		}
	}
	return out
}

func readAll(t *testing.T, rd ociregistry.BlobReader) []byte {
	t.Helper()
	defer rd.Close()
	data, err := io.ReadAll(rd)
	qt.Assert(t, qt.IsNil(err))
	return data
}

// age sets the modification time of every file and directory under dir
// to an hour and a half ago, as if everything had been there a while.
func age(t *testing.T, dir string) {
	t.Helper()
	old := timeAgo(90)
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Chtimes(path, old, old)
		}
		return nil
	})
}
