package ocilayout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PushBlob stores the content read from r under blobs/, checking it
// against desc.Digest and desc.Size. Content that is already there is not
// read again. It returns an error that Is ociregistry.ErrDigestInvalid or
// ociregistry.ErrSizeInvalid when the content does not match, in which
// case nothing is stored.
func (l *Layout) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, r io.Reader) (ociregistry.Descriptor, error) {
	if err := checkRepo(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := ociregistry.CheckDigest(desc.Digest); err != nil {
		return ociregistry.Descriptor{}, err
	}
	stored := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: desc.Digest, Size: desc.Size}
	if fi, err := os.Stat(l.blobPath(desc.Digest)); err == nil && fi.Size() == desc.Size {
		return stored, nil
	}
	if err := l.writeBlob(desc.Digest, desc.Size, r); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return stored, nil
}

// writeBlob writes the content read from r to the file of dig, through a
// temporary file that is renamed into place only when the content has
// the given digest and size.
func (l *Layout) writeBlob(dig ociregistry.Digest, size int64, r io.Reader) error {
	dst := l.blobPath(dig)
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return fmt.Errorf("ocilayout: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return fmt.Errorf("ocilayout: %w", err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	v := dig.Verifier()
	// One byte more than size, to notice content that is too long
	// without reading all of it.
	n, err := io.Copy(io.MultiWriter(f, v), io.LimitReader(r, size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("ocilayout: writing blob %s: %w", dig, err)
	case n != size:
		return fmt.Errorf("blob %s: content is %s bytes long, descriptor says %d: %w", dig, lengthString(n, size), size, ociregistry.ErrSizeInvalid)
	case !v.Verified():
		return fmt.Errorf("blob %s: content does not match digest: %w", dig, ociregistry.ErrDigestInvalid)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("ocilayout: %w", err)
	}
	return nil
}

func lengthString(n, size int64) string {
	if n > size {
		return "more than " + fmt.Sprint(size)
	}
	return fmt.Sprint(n)
}

// MountBlob returns the descriptor of the blob when the layout holds it:
// a layout has one repository, so there is nothing to mount. It returns
// an error that Is ociregistry.ErrBlobUnknown when it does not.
func (l *Layout) MountBlob(ctx context.Context, fromRepo, toRepo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := checkRepo(fromRepo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := checkRepo(toRepo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return l.ResolveBlob(ctx, toRepo, dig)
}

// PushManifest stores a manifest's exact bytes under blobs/ and records
// it in index.json: tagged with the org.opencontainers.image.ref.name
// annotation when tag is not empty (replacing the entry that had the
// tag), untagged otherwise. An untagged entry is dropped when an index
// that refers to the manifest is pushed, so that index.json lists only
// what nothing else reaches. It returns an error that Is
// ociregistry.ErrManifestInvalid when the content does not parse as
// mediaType or the tag is invalid, and ociregistry.ErrManifestBlobUnknown
// when a blob or child manifest it refers to is missing.
func (l *Layout) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if err := checkRepo(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if tag != "" {
		if err := ociregistry.CheckTag(tag); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	pm, err := ocimanifest.Parse(contents, mediaType)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	for _, ref := range slices.Concat(pm.Blobs, pm.Children) {
		fi, err := os.Stat(l.blobPath(ref.Digest))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return ociregistry.Descriptor{}, fmt.Errorf("manifest refers to %s: %w", ref.Digest, ociregistry.ErrManifestBlobUnknown)
			}
			return ociregistry.Descriptor{}, fmt.Errorf("ocilayout: %w", err)
		}
		if fi.Size() != ref.Size {
			return ociregistry.Descriptor{}, fmt.Errorf("%s has size %d, not the %d its descriptor says: %w", ref.Digest, fi.Size(), ref.Size, ociregistry.ErrManifestInvalid)
		}
	}
	desc := ociregistry.Descriptor{
		MediaType: pm.MediaType,
		Digest:    pm.Algorithm.FromBytes(contents),
		Size:      int64(len(contents)),
	}
	// The layout is not told the digest the manifest is pushed by. It
	// is filed under the digest of the algorithm its content uses, and
	// also under its sha256 digest, so that either finds it.
	for _, d := range manifestDigests(desc.Digest, contents) {
		if _, err := os.Stat(l.blobPath(d)); err != nil {
			if err := l.writeBlob(d, desc.Size, bytes.NewReader(contents)); err != nil {
				return ociregistry.Descriptor{}, err
			}
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	idx, err := l.readIndex()
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	if !pm.Declared {
		// The content names no media type, so an earlier push may
		// have given it another: the manifest keeps the first.
		for _, e := range idx.Manifests {
			if e.Digest == desc.Digest && e.MediaType != "" {
				desc.MediaType = e.MediaType
				break
			}
		}
	}
	children := map[ociregistry.Digest]bool{}
	for _, c := range pm.Children {
		children[c.Digest] = true
	}
	entries := idx.Manifests[:0]
	present := false
	for _, e := range idx.Manifests {
		t := tagOf(e)
		switch {
		case tag != "" && t == tag:
			continue // retagged
		case t == "" && children[e.Digest]:
			continue // now reached through this index
		case t == "" && e.Digest == desc.Digest:
			if tag != "" {
				continue // replaced by the tagged entry
			}
			present = true
		case t != "" && e.Digest == desc.Digest && tag == "":
			present = true // already reachable by a tag
		}
		entries = append(entries, e)
	}
	if !present {
		entry := desc
		if tag != "" {
			entry.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
		}
		entries = append(entries, entry)
	}
	idx.Manifests = entries
	if err := l.writeIndex(idx); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return desc, nil
}

// manifestDigests returns the digests a manifest of content is filed
// under: dig, and its sha256 digest when dig is of another algorithm.
func manifestDigests(dig ociregistry.Digest, content []byte) []ociregistry.Digest {
	if dig.Algorithm() == digest.SHA256 {
		return []ociregistry.Digest{dig}
	}
	return []ociregistry.Digest{dig, digest.SHA256.FromBytes(content)}
}
