package ocilayout

import (
	"context"
	"iter"
	"os"
	"slices"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
)

// Tags yields the tags of index.json's entries that sort after
// startAfter, in lexical order. It yields an error when index.json
// cannot be read.
func (l *Layout) Tags(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
	if err := checkRepo(repo); err != nil {
		return ociregistry.ErrorSeq[string](err)
	}
	l.mu.Lock()
	idx, err := l.readIndex()
	l.mu.Unlock()
	if err != nil {
		return ociregistry.ErrorSeq[string](err)
	}
	var tags []string
	for _, e := range idx.Manifests {
		if t := tagOf(e); t != "" && t > startAfter {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return ociregistry.SliceSeq(slices.Compact(tags))
}

// Referrers yields the descriptors of the manifests listed in index.json
// whose subject is dig, ordered by digest, with their artifact type and
// annotations; only those of artifactType when it is not empty. It
// yields an error when index.json cannot be read.
func (l *Layout) Referrers(ctx context.Context, repo string, dig ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	if err := checkRepo(repo); err != nil {
		return ociregistry.ErrorSeq[ociregistry.Descriptor](err)
	}
	if err := ociregistry.CheckDigest(dig); err != nil {
		return ociregistry.ErrorSeq[ociregistry.Descriptor](err)
	}
	l.mu.Lock()
	idx, err := l.readIndex()
	l.mu.Unlock()
	if err != nil {
		return ociregistry.ErrorSeq[ociregistry.Descriptor](err)
	}
	var found []ociregistry.Descriptor
	seen := map[ociregistry.Digest]bool{}
	for _, e := range idx.Manifests {
		if seen[e.Digest] {
			continue
		}
		seen[e.Digest] = true
		data, err := os.ReadFile(l.blobPath(e.Digest))
		if err != nil {
			continue // a dangling entry refers to nothing
		}
		pm, err := ocimanifest.Parse(data, e.MediaType)
		if err != nil || pm.Subject == nil || pm.Subject.Digest != dig {
			continue
		}
		if artifactType != "" && pm.ArtifactType != artifactType {
			continue
		}
		found = append(found, ociregistry.Descriptor{
			MediaType:    pm.MediaType,
			ArtifactType: pm.ArtifactType,
			Digest:       e.Digest,
			Size:         e.Size,
			Annotations:  pm.Annotations,
		})
	}
	slices.SortFunc(found, func(a, b ociregistry.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return ociregistry.SliceSeq(found)
}
