// Package ocilayout implements ociregistry.Interface over an OCI image
// layout directory, as described by the image specification: an
// "oci-layout" file, an "index.json" whose entries are the layout's
// manifests (tagged by their org.opencontainers.image.ref.name
// annotation) and the content under blobs/<algorithm>/<hex>.
//
// A layout holds one repository: the repo arguments of the methods may be
// "" or any valid repository name, and all reach the same content (an
// invalid name is refused with ociregistry.ErrNameInvalid, as a registry
// would). Repositories answers ociregistry.ErrUnsupported. Blobs pushed
// whole or in chunks (kept under .ocilayout-uploads until committed) are
// checked against their digest before they appear under blobs/.
// Manifests are stored byte for byte, so digests never change: with
// package ocicopy a layout is a place to keep images on disk, to move
// them between registries without a network in between, or to hand them
// to tools that read layouts (skopeo, oras, regctl, buildkit).
// "ocireg cp" reads and writes layouts for oci:DIR references.
//
// Which manifests index.json lists: a manifest pushed with a tag gets an
// entry with that tag; one pushed without a tag gets an untagged entry,
// which goes when an index that refers to it is pushed, so that
// index.json lists what nothing else reaches (the tagged images and
// indexes, and the referrers).
package ocilayout

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/ocireg/ociregistry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Layout is an OCI image layout directory seen as a registry with a
// single repository. It is safe for concurrent use within one process;
// two processes writing the same layout at once may lose each other's
// index.json entries.
type Layout struct {
	// Funcs answers ErrUnsupported for Repositories: a layout is one
	// repository, without a name.
	*ociregistry.Funcs

	dir string

	// mu guards index.json: each change reads, edits and rewrites it.
	mu sync.Mutex
}

var _ ociregistry.Interface = (*Layout)(nil)

// Open opens the image layout in dir. It returns an error that Is
// fs.ErrNotExist when dir holds no oci-layout file, and an error when the
// file names a layout version other than 1.x.
func Open(dir string) (*Layout, error) {
	data, err := os.ReadFile(filepath.Join(dir, ocispec.ImageLayoutFile))
	if err != nil {
		return nil, fmt.Errorf("ocilayout: %s is not an OCI image layout: %w", dir, err)
	}
	var il ocispec.ImageLayout
	if err := json.Unmarshal(data, &il); err != nil {
		return nil, fmt.Errorf("ocilayout: cannot parse %s: %v", filepath.Join(dir, ocispec.ImageLayoutFile), err)
	}
	if len(il.Version) < 2 || il.Version[:2] != "1." {
		return nil, fmt.Errorf("ocilayout: %s: unsupported image layout version %q", dir, il.Version)
	}
	return &Layout{dir: dir}, nil
}

// Create opens the image layout in dir, first making dir, its oci-layout
// file and an empty index.json when dir holds no layout yet. It returns
// an error when they cannot be made, or as Open does.
func Create(dir string) (*Layout, error) {
	_, err := os.Stat(filepath.Join(dir, ocispec.ImageLayoutFile))
	if err == nil {
		return Open(dir)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ocilayout: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ocispec.ImageBlobsDir), 0o777); err != nil {
		return nil, fmt.Errorf("ocilayout: %w", err)
	}
	l := &Layout{dir: dir}
	if _, err := os.Stat(filepath.Join(dir, ocispec.ImageIndexFile)); errors.Is(err, fs.ErrNotExist) {
		if err := l.writeIndex(&ociregistry.Index{}); err != nil {
			return nil, err
		}
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := writeFileAtomic(filepath.Join(dir, ocispec.ImageLayoutFile), layout); err != nil {
		return nil, err
	}
	return l, nil
}

// Dir returns the layout's directory.
func (l *Layout) Dir() string { return l.dir }

// blobPath returns the path of the content with digest d, which must be
// valid.
func (l *Layout) blobPath(d ociregistry.Digest) string {
	return filepath.Join(l.dir, ocispec.ImageBlobsDir, string(d.Algorithm()), d.Encoded())
}

// readIndex reads index.json. A missing index.json is an empty index, as
// a layout that was never written to may lack one.
func (l *Layout) readIndex() (*ociregistry.Index, error) {
	data, err := os.ReadFile(filepath.Join(l.dir, ocispec.ImageIndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &ociregistry.Index{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ocilayout: %w", err)
	}
	var idx ociregistry.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("ocilayout: cannot parse %s: %v", filepath.Join(l.dir, ocispec.ImageIndexFile), err)
	}
	return &idx, nil
}

// writeIndex replaces index.json with idx.
func (l *Layout) writeIndex(idx *ociregistry.Index) error {
	idx.SchemaVersion = 2
	idx.MediaType = ocispec.MediaTypeImageIndex
	if idx.Manifests == nil {
		idx.Manifests = []ociregistry.Descriptor{}
	}
	data, err := json.MarshalIndent(idx, "", "\t")
	if err != nil {
		return fmt.Errorf("ocilayout: %w", err)
	}
	return writeFileAtomic(filepath.Join(l.dir, ocispec.ImageIndexFile), append(data, '\n'))
}

// writeFileAtomic writes data to a temporary file next to path and
// renames it into place, so that readers never see part of it.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("ocilayout: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("ocilayout: %w", err)
	}
	return nil
}

// tagOf returns the tag that an index.json entry carries, or "".
func tagOf(desc ociregistry.Descriptor) string {
	return desc.Annotations[ocispec.AnnotationRefName]
}

// checkRepo checks a repository name. A layout has one repository, which
// may be named by any valid name or by "", but an invalid name is refused
// as a registry would refuse it, so that code tested against a layout
// behaves the same against a registry.
func checkRepo(repo string) error {
	if repo == "" {
		return nil
	}
	return ociregistry.CheckRepository(repo)
}
