package ocimem

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// Repositories yields, in lexical order, the names of the repositories
// that hold a blob, a manifest or a tag and sort after startAfter.
func (r *Registry) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	r.mu.Lock()
	names := r.repoIndex.list(maps.Keys(r.repos), func(name string) bool { return r.repos[name] != nil })
	r.mu.Unlock()
	return ociregistry.SliceSeq(after(names, startAfter))
}

// Tags yields, in lexical order, the tags in repo that sort after
// startAfter. It yields an error that Is ociregistry.ErrNameInvalid for a
// bad repository name and ociregistry.ErrNameUnknown when repo does not
// exist.
func (r *Registry) Tags(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return ociregistry.ErrorSeq[string](err)
	}
	r.mu.Lock()
	rp := r.repo(repo)
	if rp == nil {
		r.mu.Unlock()
		return ociregistry.ErrorSeq[string](fmt.Errorf("listing tags of %s: %w", repo, ociregistry.ErrNameUnknown))
	}
	tags := rp.tagIndex.list(maps.Keys(rp.tags), func(tag string) bool {
		_, ok := rp.tags[tag]
		return ok
	})
	r.mu.Unlock()
	return ociregistry.SliceSeq(after(tags, startAfter))
}

// setTag points tag at d. It must be called with the registry's lock
// held.
func (rp *repository) setTag(tag string, d digest.Digest) {
	if _, ok := rp.tags[tag]; !ok {
		rp.tagIndex.add(tag, len(rp.tags)+1)
	}
	rp.tags[tag] = d
}

// deleteTag removes tag. It must be called with the registry's lock
// held.
func (rp *repository) deleteTag(tag string) {
	delete(rp.tags, tag)
	rp.tagIndex.remove()
}

// Referrers yields, ordered by digest, the descriptors of the manifests
// in repo whose subject is dig and, when artifactType is not empty, whose
// artifact type is artifactType. An image manifest without an
// artifactType field has its config's media type as artifact type. Each
// descriptor carries the manifest's media type, digest, size, artifact
// type and annotations. A digest that nothing refers to, in a repository
// that may not exist, yields nothing. It yields an error that Is
// ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for a bad
// repository name or digest.
func (r *Registry) Referrers(ctx context.Context, repo string, dig ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return ociregistry.ErrorSeq[ociregistry.Descriptor](err)
	}
	return func(yield func(ociregistry.Descriptor, error) bool) {
		// The referrers are read a page at a time under the lock,
		// each page starting after the last digest the one before
		// looked at, so that neither the lock nor memory is held in
		// proportion to their number, and none is yielded twice when
		// some come or go between pages.
		var last digest.Digest
		for {
			page, next := r.referrersPage(repo, dig, artifactType, last)
			for _, desc := range page {
				if !yield(desc, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			last = next
		}
	}
}

// referrersPageSize is the most referrers that Referrers looks at under
// the lock at once.
const referrersPageSize = 256

// referrersPage returns the descriptors of the referrers of dig in repo
// of artifactType (any when it is empty) among the next
// referrersPageSize in digest order after the digest after (from the
// first when after is empty), and the last digest it looked at when
// more may follow, else "". A filter that matches few referrers can
// make a page empty that is not the last.
func (r *Registry) referrersPage(repo string, dig ociregistry.Digest, artifactType string, after digest.Digest) (page []ociregistry.Descriptor, next digest.Digest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo)
	if rp == nil {
		return nil, ""
	}
	refs := rp.referrers[dig]
	if after != "" {
		i, found := slices.BinarySearchFunc(refs, after, compareManifestDigest)
		if found {
			i++
		}
		refs = refs[i:]
	}
	if len(refs) > referrersPageSize {
		refs = refs[:referrersPageSize]
		next = refs[len(refs)-1].digest
	}
	for _, m := range refs {
		if artifactType == "" || m.artifactType == artifactType {
			page = append(page, m.referrerDescriptor())
		}
	}
	return page, next
}
