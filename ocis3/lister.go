package ocis3

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
)

// Repositories yields, in lexical order, the repositories that sort after
// startAfter, from the catalog's own namespace with ListObjectsV2 page by
// page: no blob or repository content is listed. A repository stays
// listed once something has been pushed to it.
func (r *Registry) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		prefix := r.catalogPrefix()
		after := ""
		if startAfter != "" {
			after = prefix + catalogName(startAfter)
		}
		for o, err := range r.list(ctx, prefix, after) {
			if err != nil {
				yield("", fmt.Errorf("ocis3: listing repositories: %w", err))
				return
			}
			name, ok := repoFromCatalogName(strings.TrimPrefix(aws.ToString(o.Key), prefix))
			if !ok || !ociregistry.IsValidRepository(name) {
				continue
			}
			if !yield(name, nil) {
				return
			}
		}
	}
}

// Tags yields, in lexical order, the tags in repo that sort after
// startAfter, page by page. It yields an error that Is
// ociregistry.ErrNameInvalid for a bad repository name and
// ociregistry.ErrNameUnknown when repo does not exist.
func (r *Registry) Tags(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := ociregistry.CheckRepository(repo); err != nil {
			yield("", err)
			return
		}
		prefix := r.tagsPrefix(repo)
		after := ""
		if startAfter != "" {
			after = prefix + startAfter
		}
		found := false
		for o, err := range r.list(ctx, prefix, after) {
			if err != nil {
				yield("", fmt.Errorf("ocis3: listing tags: %w", err))
				return
			}
			found = true
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if !ociregistry.IsValidTag(name) {
				continue
			}
			if !yield(name, nil) {
				return
			}
		}
		if !found {
			ok, err := r.repoExists(ctx, repo)
			if err != nil {
				yield("", fmt.Errorf("ocis3: listing tags: %w", err))
			} else if !ok {
				yield("", fmt.Errorf("repository %s: %w", repo, ociregistry.ErrNameUnknown))
			}
		}
	}
}

// Referrers yields the descriptors of the manifests in repo whose subject
// is d, ordered by digest, keeping only those of the given artifact type
// when it is not empty: it lists the subject's markers and reads each
// referrer's manifest, skipping markers whose manifest is gone. A
// repository or digest that nothing refers to yields nothing. It yields
// an error that Is ociregistry.ErrNameInvalid or
// ociregistry.ErrDigestInvalid for a bad name or digest.
func (r *Registry) Referrers(ctx context.Context, repo string, d ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	return func(yield func(ociregistry.Descriptor, error) bool) {
		if err := ociregistry.CheckRepositoryDigest(repo, d); err != nil {
			yield(ociregistry.Descriptor{}, err)
			return
		}
		prefix := r.referrersPrefix(repo, d)
		for o, err := range r.list(ctx, prefix, "") {
			if err != nil {
				yield(ociregistry.Descriptor{}, fmt.Errorf("ocis3: listing referrers: %w", err))
				return
			}
			alg, hex, ok := strings.Cut(strings.TrimPrefix(aws.ToString(o.Key), prefix), "-")
			rd := ociregistry.Digest(alg + ":" + hex)
			if !ok || ociregistry.CheckDigest(rd) != nil {
				continue
			}
			data, obj, err := r.get(ctx, r.manifestKey(repo, rd))
			if err != nil {
				if isNotFound(err) {
					continue
				}
				yield(ociregistry.Descriptor{}, fmt.Errorf("ocis3: reading referrer %s: %w", rd, err))
				return
			}
			pm, err := ocimanifest.Parse(data, obj.meta[metaMediaType])
			if err != nil {
				continue
			}
			if artifactType != "" && pm.ArtifactType != artifactType {
				continue
			}
			desc := ociregistry.Descriptor{
				MediaType:    pm.MediaType,
				Digest:       rd,
				Size:         int64(len(data)),
				ArtifactType: pm.ArtifactType,
				Annotations:  pm.Annotations,
			}
			if !yield(desc, nil) {
				return
			}
		}
	}
}
