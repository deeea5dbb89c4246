package ociclient

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
)

// Referrers yields the manifests whose subject is dig, through the
// registry's referrers API, page by page. A registry that answers 404 to
// that API has none, and then the referrers are read from the tag schema
// of the specification: an index tagged <alg>-<hex>. The descriptors are
// yielded in digest order, and filtered by artifactType here when the
// registry did not filter them.
func (c *client) Referrers(ctx context.Context, repo string, dig ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return ociregistry.ErrorSeq[ociregistry.Descriptor](err)
	}
	return func(yield func(ociregistry.Descriptor, error) bool) {
		descs, err := c.referrersAPI(ctx, repo, dig, artifactType)
		if ociregistry.HTTPStatus(err) == http.StatusNotFound {
			descs, err = c.referrersTag(ctx, repo, dig, artifactType)
		}
		if err != nil {
			yield(ociregistry.Descriptor{}, err)
			return
		}
		slices.SortStableFunc(descs, func(a, b ociregistry.Descriptor) int {
			return strings.Compare(string(a.Digest), string(b.Digest))
		})
		for _, desc := range descs {
			if !yield(desc, nil) {
				return
			}
		}
	}
}

// referrersAPI reads every page of the referrers API's answer.
func (c *client) referrersAPI(ctx context.Context, repo string, dig ociregistry.Digest, artifactType string) ([]ociregistry.Descriptor, error) {
	var q url.Values
	if artifactType != "" {
		q = url.Values{"artifactType": {artifactType}}
	}
	next := c.url(ctx, repoPath(repo, "referrers", string(dig)), q)
	var all []ociregistry.Descriptor
	seen := map[string]bool{}
	for next != "" {
		if seen[next] {
			return nil, fmt.Errorf("referrers of %s: registry's Link points back to %s", dig, next)
		}
		seen[next] = true
		resp, err := c.do(ctx, &request{
			method:     "GET",
			url:        next,
			kind:       kindReferrers,
			header:     http.Header{"Accept": {ocispec.MediaTypeImageIndex}},
			idempotent: true,
		})
		if err != nil {
			return nil, err
		}
		var index ociregistry.Index
		err = json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxListBody)).Decode(&index)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("referrers of %s: bad response: %v", dig, err)
		}
		filtered := strings.Contains(resp.Header.Get("OCI-Filters-Applied"), "artifactType")
		all = append(all, filter(index.Manifests, artifactType, filtered)...)
		if next, err = nextLink(resp); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// referrersTag reads the referrers of dig from the tag schema.
func (c *client) referrersTag(ctx context.Context, repo string, dig ociregistry.Digest, artifactType string) ([]ociregistry.Descriptor, error) {
	index, err := c.referrersIndex(ctx, repo, dig)
	if err != nil {
		return nil, err
	}
	return filter(index.Manifests, artifactType, false), nil
}

// referrersIndex returns the index tagged with the referrers tag of dig,
// or an empty one when there is none.
func (c *client) referrersIndex(ctx context.Context, repo string, dig ociregistry.Digest) (*ociregistry.Index, error) {
	r, err := c.getManifest(ctx, repo, referrersTagName(dig), "")
	if err != nil {
		if ociregistry.HTTPStatus(err) == http.StatusNotFound {
			return &ociregistry.Index{
				Versioned: specsVersioned,
				MediaType: ocispec.MediaTypeImageIndex,
			}, nil
		}
		return nil, err
	}
	defer r.Close()
	var index ociregistry.Index
	if err := json.NewDecoder(r).Decode(&index); err != nil {
		return nil, fmt.Errorf("referrers tag of %s: bad index: %v", dig, err)
	}
	return &index, nil
}

// referrersTagName returns the tag of the tag schema for dig:
// <alg>-<hex>, cut to the longest tag allowed.
func referrersTagName(dig ociregistry.Digest) string {
	tag := dig.Algorithm().String() + "-" + dig.Encoded()
	if len(tag) > ociregistry.MaxTagLength {
		tag = tag[:ociregistry.MaxTagLength]
	}
	return tag
}

// filter returns the descriptors of descs that name a manifest, and
// with artifactType set, when the registry has not filtered them
// (filtered), only those of that artifact type.
func filter(descs []ociregistry.Descriptor, artifactType string, filtered bool) []ociregistry.Descriptor {
	var out []ociregistry.Descriptor
	for _, d := range descs {
		// A descriptor that names no manifest is dropped, as no
		// registry could hold one.
		if ociregistry.CheckDigest(d.Digest) != nil || d.Size < 0 {
			continue
		}
		if artifactType == "" || filtered || d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out
}

// referringManifest holds the fields of a manifest that its referrers
// descriptor is made from.
type referringManifest struct {
	MediaType    string                  `json:"mediaType"`
	ArtifactType string                  `json:"artifactType"`
	Config       *ociregistry.Descriptor `json:"config"`
	Subject      *ociregistry.Descriptor `json:"subject"`
	Annotations  map[string]string       `json:"annotations"`
}

// addToReferrersTag adds the manifest desc, whose fields are in m, to
// the referrers tag of its subject, if it has one.
func (c *client) addToReferrersTag(ctx context.Context, repo string, desc ociregistry.Descriptor, m *referringManifest) error {
	if m.Subject == nil || m.Subject.Digest == "" {
		return nil
	}
	if ociregistry.CheckDigest(m.Subject.Digest) != nil {
		return nil
	}
	ref := ociregistry.Descriptor{
		MediaType:    desc.MediaType,
		Digest:       desc.Digest,
		Size:         desc.Size,
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
	if ref.ArtifactType == "" && m.Config != nil {
		ref.ArtifactType = m.Config.MediaType
	}
	if ref.MediaType == "" {
		ref.MediaType = m.MediaType
	}
	index, err := c.referrersIndex(ctx, repo, m.Subject.Digest)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(index.Manifests, func(d ociregistry.Descriptor) bool { return d.Digest == ref.Digest }) {
		return nil
	}
	index.Manifests = append(index.Manifests, ref)
	return c.putReferrersIndex(ctx, repo, m.Subject.Digest, index)
}

// removeFromReferrersTag removes dig from the referrers tag of subject,
// when that tag exists and lists it.
func (c *client) removeFromReferrersTag(ctx context.Context, repo string, subject, dig ociregistry.Digest) error {
	if ociregistry.CheckDigest(subject) != nil {
		return nil
	}
	index, err := c.referrersIndex(ctx, repo, subject)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(index.Manifests, func(d ociregistry.Descriptor) bool { return d.Digest == dig })
	if i < 0 {
		return nil
	}
	index.Manifests = slices.Delete(index.Manifests, i, i+1)
	return c.putReferrersIndex(ctx, repo, subject, index)
}

// putReferrersIndex pushes index as the referrers tag of subject.
func (c *client) putReferrersIndex(ctx context.Context, repo string, subject ociregistry.Digest, index *ociregistry.Index) error {
	if index.Manifests == nil {
		// The specification wants an empty list, not null.
		index.Manifests = []ociregistry.Descriptor{}
	}
	data, err := json.Marshal(index)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, &request{
		method:     "PUT",
		url:        repoPath(repo, "manifests", referrersTagName(subject)),
		kind:       kindManifest,
		header:     http.Header{"Content-Type": {ocispec.MediaTypeImageIndex}},
		body:       data,
		idempotent: true,
	})
	if err != nil {
		return fmt.Errorf("cannot push referrers index: %w", err)
	}
	resp.Body.Close()
	return nil
}

var specsVersioned = specs.Versioned{SchemaVersion: 2}
