package ocifs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
)

// DeleteBlob removes a blob from repo by removing the repository's link
// to it: the blob is unknown there at once, while other repositories that
// hold it keep it. Its content goes when the garbage collector finds
// nothing referring to it. It returns an error that Is
// ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for a bad
// name or digest, and ociregistry.ErrBlobUnknown when repo does not hold
// the blob.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, dig ociregistry.Digest) error {
	rdir, dp, err := checkRepoDigest(r.dir, repo, dig)
	if err != nil {
		return err
	}
	if err := r.removeDurable(blobLink(rdir, dp)); err != nil {
		return blobError(repo, dig, err)
	}
	return nil
}

// DeleteManifest removes a manifest, given by its sha256 or sha512
// digest, from repo, with every tag that points to it and its entry among
// its subject's referrers. The tags go first, so that a crash never
// leaves a tag pointing at a missing manifest. It returns an error that
// Is ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for a bad
// name or digest, and ociregistry.ErrManifestUnknown when repo does not
// hold the manifest.
func (r *Registry) DeleteManifest(ctx context.Context, repo string, dig ociregistry.Digest) error {
	rdir, dp, err := checkRepoDigest(r.dir, repo, dig)
	if err != nil {
		return err
	}
	unlock, err := r.lockRepo(ctx, repo)
	if err != nil {
		return err
	}
	defer unlock()
	sd, err := readDescriptor(manifestLink(rdir, dp))
	if err != nil {
		return manifestError(repo, string(dig), err)
	}
	d256 := sd.content()
	links := []ociregistry.Digest{d256}
	var subject, primary ociregistry.Digest
	cdp, _ := digestPath(d256)
	if data, err := os.ReadFile(r.blobFile(cdp)); err == nil {
		links = append(links, digest.SHA512.FromBytes(data))
		if pm, err := ocimanifest.Parse(data, sd.MediaType); err == nil && pm.Subject != nil {
			subject = pm.Subject.Digest
			primary = pm.Algorithm.FromBytes(data)
		}
	} else if dig != d256 {
		links = append(links, dig)
	}
	if err := r.removeTagsOf(rdir, d256); err != nil {
		return fmt.Errorf("ocifs: deleting manifest %s: %w", dig, err)
	}
	// The sha256 link goes last: it is the one the garbage collector
	// goes by, so a crash before it leaves the manifest whole.
	slices.Reverse(links)
	for _, d := range links {
		ldp, _ := digestPath(d)
		if err := r.removeDurable(manifestLink(rdir, ldp)); err != nil && !notFound(err) {
			return fmt.Errorf("ocifs: deleting manifest %s: %w", dig, err)
		}
	}
	if subject != "" {
		sdp, _ := digestPath(subject)
		err := r.removeDurable(filepath.Join(referrerDir(rdir, sdp), referrerName(primary)))
		if err != nil && !notFound(err) {
			return fmt.Errorf("ocifs: deleting manifest %s: %w", dig, err)
		}
	}
	return nil
}

// removeTagsOf removes the tags in the repository at rdir that point to
// the manifest with the given sha256 digest. It must be called with the
// repository locked.
func (r *Registry) removeTagsOf(rdir string, d256 ociregistry.Digest) error {
	tdir := filepath.Join(rdir, "_tags")
	entries, err := os.ReadDir(tdir)
	if err != nil && !notFound(err) {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(tdir, e.Name())
		sd, err := readDescriptor(p)
		if err == nil && sd.content() == d256 {
			if err := r.removeDurable(p); err != nil && !notFound(err) {
				return err
			}
		}
	}
	return nil
}

// DeleteTag removes a tag from repo; the manifest it pointed to stays,
// reachable by digest. It returns an error that Is
// ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrManifestInvalid for a bad tag and
// ociregistry.ErrManifestUnknown when repo has no such tag.
func (r *Registry) DeleteTag(ctx context.Context, repo string, name string) error {
	rdir, err := repoDir(r.dir, repo)
	if err != nil {
		return err
	}
	tp, err := tagPath(rdir, name)
	if err != nil {
		return err
	}
	unlock, err := r.lockRepo(ctx, repo)
	if err != nil {
		return err
	}
	defer unlock()
	if err := r.removeDurable(tp); err != nil {
		return manifestError(repo, "tag "+name, err)
	}
	return nil
}
