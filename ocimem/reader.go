package ocimem

import (
	"context"
	"fmt"

	"github.com/ocireg/ociregistry"
)

// GetBlob returns the content of a blob in repo. It returns an error that
// Is ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for a bad
// repository name or digest, and ociregistry.ErrBlobUnknown when repo
// does not hold the blob, whether or not repo exists.
func (r *Registry) GetBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	b, err := r.blob(repo, dig)
	if err != nil {
		return nil, err
	}
	return newReader(b.data, b.descriptor(dig)), nil
}

// GetBlobRange returns the bytes of a blob in repo from offset0 up to, not
// including, offset1; a negative offset1 or one past the end means the
// end. It returns the errors GetBlob does, and an error that Is
// ociregistry.ErrRangeInvalid when offset0 is negative, past the end of
// the blob, or greater than a non-negative offset1.
func (r *Registry) GetBlobRange(ctx context.Context, repo string, dig ociregistry.Digest, offset0, offset1 int64) (ociregistry.BlobReader, error) {
	b, err := r.blob(repo, dig)
	if err != nil {
		return nil, err
	}
	size := b.data.size
	if offset1 < 0 || offset1 > size {
		offset1 = size
	}
	if offset0 < 0 || offset0 > size || offset0 > offset1 {
		return nil, fmt.Errorf("range %d-%d of blob %s of size %d: %w", offset0, offset1, dig, size, ociregistry.ErrRangeInvalid)
	}
	return newReader(b.data.slice(offset0, offset1), b.descriptor(dig)), nil
}

// ResolveBlob returns the descriptor of a blob in repo, or the errors
// GetBlob does.
func (r *Registry) ResolveBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	b, err := r.blob(repo, dig)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return b.descriptor(dig), nil
}

// GetManifest returns the manifest with the given sha256 or sha512 digest
// in repo. It returns an error that Is ociregistry.ErrNameInvalid or
// ociregistry.ErrDigestInvalid for a bad repository name or digest, and
// ociregistry.ErrManifestUnknown when repo does not hold the manifest,
// whether or not repo exists.
func (r *Registry) GetManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	m, err := r.manifest(repo, dig)
	if err != nil {
		return nil, err
	}
	return ociregistry.NewBytesReader(m.data, m.descriptor(dig)), nil
}

// ResolveManifest returns the descriptor of a manifest in repo, or the
// errors GetManifest does.
func (r *Registry) ResolveManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	m, err := r.manifest(repo, dig)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return m.descriptor(dig), nil
}

// GetTag returns the manifest that a tag in repo points to. It returns an
// error that Is ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrManifestInvalid for a bad tag (as ociregistry.CheckTag
// does), and ociregistry.ErrManifestUnknown when repo has no such tag.
func (r *Registry) GetTag(ctx context.Context, repo string, tagName string) (ociregistry.BlobReader, error) {
	m, err := r.tag(repo, tagName)
	if err != nil {
		return nil, err
	}
	return ociregistry.NewBytesReader(m.data, m.descriptor(m.digest)), nil
}

// ResolveTag returns the descriptor of the manifest that a tag in repo
// points to, or the errors GetTag does.
func (r *Registry) ResolveTag(ctx context.Context, repo string, tagName string) (ociregistry.Descriptor, error) {
	m, err := r.tag(repo, tagName)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return m.descriptor(m.digest), nil
}

// blob looks up a blob after checking its arguments.
func (r *Registry) blob(repo string, dig ociregistry.Digest) (*blob, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp := r.repo(repo); rp != nil {
		if b := rp.blobs[dig]; b != nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("blob %s in repository %s: %w", dig, repo, ociregistry.ErrBlobUnknown)
}

// manifest looks up a manifest after checking its arguments.
func (r *Registry) manifest(repo string, dig ociregistry.Digest) (*manifest, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp := r.repo(repo); rp != nil {
		if m := rp.manifests[dig]; m != nil {
			return m, nil
		}
	}
	return nil, fmt.Errorf("manifest %s in repository %s: %w", dig, repo, ociregistry.ErrManifestUnknown)
}

// tag looks up the manifest a tag points to after checking its arguments.
func (r *Registry) tag(repo, tagName string) (*manifest, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	if err := ociregistry.CheckTag(tagName); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rp := r.repo(repo); rp != nil {
		if d, ok := rp.tags[tagName]; ok {
			// A tag always names a stored manifest (see
			// repository.tags), but answering a nil manifest
			// would make the caller panic, so a dangling tag is
			// reported as the missing manifest it points to.
			if m := rp.manifests[d]; m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("tag %q in repository %s points to missing manifest %s: %w", tagName, repo, d, ociregistry.ErrManifestUnknown)
		}
	}
	return nil, fmt.Errorf("tag %q in repository %s: %w", tagName, repo, ociregistry.ErrManifestUnknown)
}
