package ocilayout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ocireg/ociregistry"
)

// DeleteBlob removes the content with the given digest from blobs/. It
// returns an error that Is ociregistry.ErrBlobUnknown when there is none.
func (l *Layout) DeleteBlob(ctx context.Context, repo string, dig ociregistry.Digest) error {
	if err := checkRepo(repo); err != nil {
		return err
	}
	if err := ociregistry.CheckDigest(dig); err != nil {
		return err
	}
	if err := os.Remove(l.blobPath(dig)); err != nil {
		return blobError(dig, err)
	}
	return nil
}

// DeleteManifest removes the manifest with the given digest and every
// index.json entry for it. The blobs it refers to stay. It returns an
// error that Is ociregistry.ErrManifestUnknown when there is no such
// manifest.
func (l *Layout) DeleteManifest(ctx context.Context, repo string, dig ociregistry.Digest) error {
	if err := checkRepo(repo); err != nil {
		return err
	}
	data, _, err := l.manifest(dig, "")
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	idx, err := l.readIndex()
	if err != nil {
		return err
	}
	entries := idx.Manifests[:0]
	for _, e := range idx.Manifests {
		if e.Digest != dig {
			entries = append(entries, e)
		}
	}
	idx.Manifests = entries
	if err := l.writeIndex(idx); err != nil {
		return err
	}
	// Both files of a manifest go: see PushManifest.
	for _, d := range manifestDigests(dig, data) {
		if err := os.Remove(l.blobPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ocilayout: %w", err)
		}
	}
	return nil
}

// DeleteTag removes the index.json entry of the tag. The manifest's
// content stays under blobs/. It returns an error that Is
// ociregistry.ErrManifestUnknown when there is no such tag.
func (l *Layout) DeleteTag(ctx context.Context, repo string, name string) error {
	if err := checkRepo(repo); err != nil {
		return err
	}
	if err := ociregistry.CheckTag(name); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	idx, err := l.readIndex()
	if err != nil {
		return err
	}
	entries := idx.Manifests[:0]
	for _, e := range idx.Manifests {
		if tagOf(e) != name {
			entries = append(entries, e)
		}
	}
	if len(entries) == len(idx.Manifests) {
		return fmt.Errorf("tag %q: %w", name, ociregistry.ErrManifestUnknown)
	}
	idx.Manifests = entries
	return l.writeIndex(idx)
}
