package ocilayout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/ocireg/ociregistry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// GetBlob returns the content with the given digest. It returns an error
// that Is ociregistry.ErrBlobUnknown when the layout does not hold it and
// ociregistry.ErrDigestInvalid when dig is not a valid digest.
func (l *Layout) GetBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	return l.GetBlobRange(ctx, repo, dig, 0, -1)
}

// GetBlobRange returns the bytes from offset0 up to offset1 of the
// content with the given digest (to the end when offset1 is negative or
// past it). It returns the errors of GetBlob, and one that Is
// ociregistry.ErrRangeInvalid for a bad range.
func (l *Layout) GetBlobRange(ctx context.Context, repo string, dig ociregistry.Digest, offset0, offset1 int64) (ociregistry.BlobReader, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	if err := ociregistry.CheckDigest(dig); err != nil {
		return nil, err
	}
	f, err := os.Open(l.blobPath(dig))
	if err != nil {
		return nil, blobError(dig, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ocilayout: %w", err)
	}
	size := fi.Size()
	if offset1 < 0 || offset1 > size {
		offset1 = size
	}
	if offset0 < 0 || offset0 > size || offset0 > offset1 {
		f.Close()
		return nil, fmt.Errorf("range %d-%d of blob %s of size %d: %w", offset0, offset1, dig, size, ociregistry.ErrRangeInvalid)
	}
	desc := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: dig, Size: size}
	return &fileReader{Reader: io.NewSectionReader(f, offset0, offset1-offset0), f: f, desc: desc}, nil
}

// ResolveBlob returns the descriptor of the content with the given
// digest, or the errors of GetBlob.
func (l *Layout) ResolveBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := checkRepo(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := ociregistry.CheckDigest(dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	fi, err := os.Stat(l.blobPath(dig))
	if err != nil {
		return ociregistry.Descriptor{}, blobError(dig, err)
	}
	return ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: dig, Size: fi.Size()}, nil
}

// GetManifest returns the manifest with the given digest. Its media type
// is the one its index.json entry gives, or else the one its content
// names. It returns an error that Is ociregistry.ErrManifestUnknown when
// the layout holds no such manifest.
func (l *Layout) GetManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	data, desc, err := l.manifest(dig, "")
	if err != nil {
		return nil, err
	}
	return ociregistry.NewBytesReader(data, desc), nil
}

// ResolveManifest returns the descriptor of the manifest with the given
// digest, or the errors of GetManifest.
func (l *Layout) ResolveManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := checkRepo(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	_, desc, err := l.manifest(dig, "")
	return desc, err
}

// GetTag returns the manifest of the index.json entry whose
// org.opencontainers.image.ref.name annotation is tagName. It returns an
// error that Is ociregistry.ErrManifestUnknown when there is none.
func (l *Layout) GetTag(ctx context.Context, repo string, tagName string) (ociregistry.BlobReader, error) {
	desc, err := l.ResolveTag(ctx, repo, tagName)
	if err != nil {
		return nil, err
	}
	return l.GetManifest(ctx, repo, desc.Digest)
}

// ResolveTag returns the descriptor of the manifest that tagName points
// to, or the errors of GetTag.
func (l *Layout) ResolveTag(ctx context.Context, repo string, tagName string) (ociregistry.Descriptor, error) {
	if err := checkRepo(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := ociregistry.CheckTag(tagName); err != nil {
		return ociregistry.Descriptor{}, err
	}
	l.mu.Lock()
	idx, err := l.readIndex()
	l.mu.Unlock()
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	for _, desc := range idx.Manifests {
		if tagOf(desc) == tagName {
			_, d, err := l.manifest(desc.Digest, desc.MediaType)
			return d, err
		}
	}
	return ociregistry.Descriptor{}, fmt.Errorf("tag %q: %w", tagName, ociregistry.ErrManifestUnknown)
}

// manifest reads the manifest with digest dig and returns it with its
// descriptor. mediaType, when not empty, is its media type; otherwise
// the media type is looked up in index.json or in the content.
func (l *Layout) manifest(dig ociregistry.Digest, mediaType string) ([]byte, ociregistry.Descriptor, error) {
	if err := ociregistry.CheckDigest(dig); err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	data, err := os.ReadFile(l.blobPath(dig))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ociregistry.Descriptor{}, fmt.Errorf("manifest %s: %w", dig, ociregistry.ErrManifestUnknown)
	}
	if err != nil {
		return nil, ociregistry.Descriptor{}, fmt.Errorf("ocilayout: %w", err)
	}
	if mediaType == "" {
		l.mu.Lock()
		idx, err := l.readIndex()
		l.mu.Unlock()
		if err != nil {
			return nil, ociregistry.Descriptor{}, err
		}
		for _, desc := range idx.Manifests {
			if desc.Digest == dig {
				mediaType = desc.MediaType
				break
			}
		}
	}
	if mediaType == "" {
		mediaType = sniffMediaType(data)
		if mediaType == "" {
			// Layers and configs share the blob store: what does
			// not look like a manifest is not one.
			return nil, ociregistry.Descriptor{}, fmt.Errorf("manifest %s: content is not a manifest: %w", dig, ociregistry.ErrManifestUnknown)
		}
	}
	return data, ociregistry.Descriptor{MediaType: mediaType, Digest: dig, Size: int64(len(data))}, nil
}

// sniffMediaType returns the media type of a manifest from its content:
// its mediaType field, or for OCI manifests that omit it, the kind its
// fields show. It returns "" for content that is not a manifest.
func sniffMediaType(data []byte) string {
	var m struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if json.Unmarshal(data, &m) != nil || m.SchemaVersion != 2 {
		return ""
	}
	switch {
	case m.MediaType != "":
		return m.MediaType
	case m.Manifests != nil:
		return ocispec.MediaTypeImageIndex
	case m.Config != nil:
		return ocispec.MediaTypeImageManifest
	}
	return ""
}

// blobError turns the error of opening a blob's file into the error that
// GetBlob returns.
func blobError(dig ociregistry.Digest, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s: %w", dig, ociregistry.ErrBlobUnknown)
	}
	return fmt.Errorf("ocilayout: %w", err)
}

// fileReader reads part of a blob's file.
type fileReader struct {
	io.Reader
	f    *os.File
	desc ociregistry.Descriptor
}

func (r *fileReader) Close() error                       { return r.f.Close() }
func (r *fileReader) Descriptor() ociregistry.Descriptor { return r.desc }
