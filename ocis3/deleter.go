package ocis3

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
)

// DeleteBlob removes a blob from repo by removing the repository's link
// to it; the content goes when the garbage collector finds nothing
// linking to it. It returns an error that Is ociregistry.ErrNameInvalid
// or ociregistry.ErrDigestInvalid for a bad name or digest, and
// ociregistry.ErrBlobUnknown when repo does not hold the blob.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, d ociregistry.Digest) error {
	if err := ociregistry.CheckRepositoryDigest(repo, d); err != nil {
		return err
	}
	key := r.blobLinkKey(repo, d)
	if _, err := r.head(ctx, key); err != nil {
		return blobError(repo, d, err)
	}
	if err := r.del(ctx, key, ""); err != nil {
		return blobError(repo, d, err)
	}
	return nil
}

// maxCASRetries bounds the attempts at a conditional delete of a tag
// that keeps changing under it.
const maxCASRetries = 10

// DeleteManifest removes a manifest, given by its sha256 or sha512
// digest, from repo: first every tag that names it, each by a delete
// conditional on the ETag it was read with (a tag moved meanwhile to
// another manifest stays), then the manifest, then its entry among its
// subject's referrers, so that a deletion cut short leaves the manifest
// to be deleted again rather than tags naming nothing. It goes on when
// ctx is cancelled, and runs under a marker that makes a PushManifest of
// the same content that overlaps it wait and write everything again (see
// PushManifest). It returns an error that Is ociregistry.ErrNameInvalid
// or ociregistry.ErrDigestInvalid for a bad name or digest, and
// ociregistry.ErrManifestUnknown when repo does not hold the manifest.
func (r *Registry) DeleteManifest(ctx context.Context, repo string, d ociregistry.Digest) (err error) {
	if err := ociregistry.CheckRepositoryDigest(repo, d); err != nil {
		return err
	}
	data, obj, err := r.get(ctx, r.manifestKey(repo, d))
	if err != nil {
		return manifestError(repo, string(d), err)
	}
	// A client that goes away must not leave the deletion half done.
	ctx = context.WithoutCancel(ctx)
	d256 := digest.SHA256.FromBytes(data)
	d512 := digest.SHA512.FromBytes(data)
	mark, err := r.markDeletion(ctx, repo, d256)
	if err != nil {
		return err
	}
	defer func() { mark.end(ctx, err == nil) }()
	if err := r.removeTagsOf(ctx, repo, d256, d512, mark); err != nil {
		return fmt.Errorf("ocis3: deleting manifest %s: %w", d, err)
	}
	// The sha256 object goes last: it is the one the others go by.
	for _, k := range []string{r.manifestKey(repo, d512), r.manifestKey(repo, d256)} {
		if err := mark.remove(ctx, func(ctx context.Context) error { return r.del(ctx, k, "") }); err != nil {
			return fmt.Errorf("ocis3: deleting manifest %s: %w", d, err)
		}
	}
	for _, k := range r.referrerKeys(repo, data, obj.meta[metaMediaType], d256, d512) {
		if err := mark.remove(ctx, func(ctx context.Context) error { return r.del(ctx, k, "") }); err != nil {
			return fmt.Errorf("ocis3: deleting manifest %s: %w", d, err)
		}
	}
	return nil
}

// referrerKeys returns the keys of the referrer entries that pushes of
// the manifest data, stored as mediaType, may have made: the one its
// type gives, or, when that type has no subject but the content names
// one (content pushed as an index after an opaque type, which it kept),
// one for each digest.
func (r *Registry) referrerKeys(repo string, data []byte, mediaType string, d256, d512 ociregistry.Digest) []string {
	if pm, err := ocimanifest.Parse(data, mediaType); err == nil && pm.Subject != nil {
		if ociregistry.CheckDigest(pm.Subject.Digest) != nil {
			return nil
		}
		primary := d256
		if pm.Algorithm == digest.SHA512 {
			primary = d512
		}
		return []string{r.referrerKey(repo, pm.Subject.Digest, primary)}
	}
	if s := ocimanifest.AnySubject(data); s != nil {
		return []string{r.referrerKey(repo, s.Digest, d256), r.referrerKey(repo, s.Digest, d512)}
	}
	return nil
}

// removeTagsOf removes the tags in repo that name the manifest with the
// given digests, each by compare-and-swap on the ETag it was read with,
// under the deletion's marker.
func (r *Registry) removeTagsOf(ctx context.Context, repo string, d256, d512 ociregistry.Digest, mark *deletion) error {
	for o, err := range r.list(ctx, r.tagsPrefix(repo), "") {
		if err != nil {
			return err
		}
		key := aws.ToString(o.Key)
		for range maxCASRetries {
			obj, err := r.head(ctx, key)
			if err != nil {
				if isNotFound(err) {
					break
				}
				return err
			}
			if td := ociregistry.Digest(obj.meta[metaDigest]); td != d256 && td != d512 {
				break
			}
			err = mark.remove(ctx, func(ctx context.Context) error { return r.del(ctx, key, obj.etag) })
			if err == nil || isNotFound(err) {
				break
			}
			if !isConflict(err) {
				return err
			}
		}
	}
	return nil
}

// DeleteTag removes a tag from repo; the manifest it pointed to stays.
// It returns an error that Is ociregistry.ErrNameInvalid for a bad
// repository name, ociregistry.ErrManifestInvalid for a bad tag and
// ociregistry.ErrManifestUnknown when repo has no such tag.
func (r *Registry) DeleteTag(ctx context.Context, repo string, name string) error {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return err
	}
	if err := checkTag(name); err != nil {
		return err
	}
	key := r.tagKey(repo, name)
	if _, err := r.head(ctx, key); err != nil {
		return manifestError(repo, "tag "+name, err)
	}
	if err := r.del(ctx, key, ""); err != nil {
		return manifestError(repo, "tag "+name, err)
	}
	return nil
}

// keyDigest returns the digest that the last two components of a key
// (<alg>/<hex>) name.
func keyDigest(key string) (ociregistry.Digest, bool) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return "", false
	}
	j := strings.LastIndexByte(key[:i], '/')
	d := ociregistry.Digest(key[j+1:i] + ":" + key[i+1:])
	return d, ociregistry.CheckDigest(d) == nil
}
