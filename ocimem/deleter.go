package ocimem

import (
	"context"
	"fmt"

	"github.com/ocireg/ociregistry"
)

// DeleteBlob removes a blob from repo; other repositories that hold it
// keep it. It returns an error that Is ociregistry.ErrNameInvalid or
// ociregistry.ErrDigestInvalid for a bad repository name or digest, and
// ociregistry.ErrBlobUnknown when repo does not hold the blob. Manifests
// that refer to the blob are left as they are.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, dig ociregistry.Digest) error {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo)
	if rp == nil || rp.blobs[dig] == nil {
		return fmt.Errorf("deleting blob %s from %s: %w", dig, repo, ociregistry.ErrBlobUnknown)
	}
	r.removeBlob(rp, dig)
	r.dropIfEmpty(repo)
	return nil
}

// DeleteManifest removes a manifest, given by its sha256 or sha512
// digest, from repo, together with the tags that point to it and its
// entry in the referrers of its subject. It returns an error that Is
// ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for a bad
// repository name or digest, and ociregistry.ErrManifestUnknown when repo
// does not hold the manifest.
func (r *Registry) DeleteManifest(ctx context.Context, repo string, dig ociregistry.Digest) error {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo)
	if rp == nil || rp.manifests[dig] == nil {
		return fmt.Errorf("deleting manifest %s from %s: %w", dig, repo, ociregistry.ErrManifestUnknown)
	}
	m := rp.manifests[dig]
	delete(rp.manifests, m.digest)
	delete(rp.manifests, m.other)
	for tag, d := range rp.tags {
		// Tags hold m.digest, but matching m.other as well costs
		// nothing and leaves no tag dangling whatever digest it
		// was recorded with.
		if d == m.digest || d == m.other {
			rp.deleteTag(tag)
		}
	}
	rp.removeReferrer(m)
	r.dropIfEmpty(repo)
	return nil
}

// DeleteTag removes a tag from repo; the manifest it pointed to stays. It
// returns an error that Is ociregistry.ErrNameInvalid for a bad
// repository name, ociregistry.ErrManifestInvalid for a bad tag, and
// ociregistry.ErrManifestUnknown when repo has no such tag.
func (r *Registry) DeleteTag(ctx context.Context, repo string, name string) error {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return err
	}
	if err := ociregistry.CheckTag(name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo)
	if rp == nil {
		return fmt.Errorf("deleting tag %q from %s: %w", name, repo, ociregistry.ErrManifestUnknown)
	}
	if _, ok := rp.tags[name]; !ok {
		return fmt.Errorf("deleting tag %q from %s: %w", name, repo, ociregistry.ErrManifestUnknown)
	}
	rp.deleteTag(name)
	return nil
}
