package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocicopy"
)

// maxConfigSize bounds what is read of an image config: configs are
// small, and a registry that sends more is not to be believed.
const maxConfigSize = 8 << 20

// manifestSummary is what ls -l and inspect say about a manifest.
type manifestSummary struct {
	Tag          string            `json:"tag,omitempty"`
	Digest       string            `json:"digest"`
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Size         int64             `json:"size"`
	Platform     string            `json:"platform,omitempty"`
	Config       *blobSummary      `json:"config,omitempty"`
	Layers       []blobSummary     `json:"layers,omitempty"`
	LayersSize   int64             `json:"layersSize,omitempty"`
	Manifests    []childSummary    `json:"manifests,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Subject      string            `json:"subject,omitempty"`
	Referrers    []referrerGroup   `json:"referrers,omitempty"`
}

type blobSummary struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

type childSummary struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	Platform  string `json:"platform,omitempty"`
}

// referrerGroup is the referrers of a manifest with one artifact type.
type referrerGroup struct {
	ArtifactType string   `json:"artifactType"`
	Digests      []string `json:"digests"`
}

// manifestJSON is the part of a manifest or index that a summary shows.
type manifestJSON struct {
	MediaType    string                   `json:"mediaType"`
	ArtifactType string                   `json:"artifactType"`
	Config       *ociregistry.Descriptor  `json:"config"`
	Layers       []ociregistry.Descriptor `json:"layers"`
	Manifests    []ociregistry.Descriptor `json:"manifests"`
	Subject      *ociregistry.Descriptor  `json:"subject"`
	Annotations  map[string]string        `json:"annotations"`
}

// summarize returns the summary of the manifest data, with descriptor
// desc, in t's repository. For an image it reads the config to find the
// platform. It returns an error when the manifest is not JSON or the
// config cannot be read.
func (t *target) summarize(ctx context.Context, data []byte, desc ociregistry.Descriptor) (*manifestSummary, error) {
	var m manifestJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s is not JSON: %w", desc.Digest, ociregistry.ErrManifestInvalid)
	}
	s := &manifestSummary{
		Digest:       string(desc.Digest),
		MediaType:    cmp.Or(desc.MediaType, m.MediaType),
		ArtifactType: m.ArtifactType,
		Size:         int64(len(data)),
		Annotations:  m.Annotations,
	}
	if m.Subject != nil {
		s.Subject = string(m.Subject.Digest)
	}
	for _, c := range m.Manifests {
		s.Manifests = append(s.Manifests, childSummary{
			Digest: string(c.Digest), MediaType: c.MediaType, Size: c.Size, Platform: platformOf(c.Platform),
		})
	}
	for _, l := range m.Layers {
		s.Layers = append(s.Layers, blobSummary{Digest: string(l.Digest), MediaType: l.MediaType, Size: l.Size})
		s.LayersSize += l.Size
	}
	if m.Config != nil {
		s.Config = &blobSummary{Digest: string(m.Config.Digest), MediaType: m.Config.MediaType, Size: m.Config.Size}
		if m.Config.MediaType == ocispec.MediaTypeImageConfig || m.Config.MediaType == dockerConfigType {
			p, err := t.configPlatform(ctx, m.Config.Digest)
			if err != nil {
				return nil, err
			}
			s.Platform = p
		}
	}
	return s, nil
}

const dockerConfigType = "application/vnd.docker.container.image.v1+json"

// configPlatform reads the image config with digest dg and returns its
// platform as os/arch[/variant].
func (t *target) configPlatform(ctx context.Context, dg ociregistry.Digest) (string, error) {
	data, err := t.readConfig(ctx, dg)
	if err != nil {
		return "", err
	}
	var p ocispec.Platform
	if err := json.Unmarshal(data, &p); err != nil {
		return "", fmt.Errorf("config %s is not JSON: %v", dg, err)
	}
	return platformOf(&p), nil
}

// readConfig reads the blob dg, an image config, and checks its digest.
func (t *target) readConfig(ctx context.Context, dg ociregistry.Digest) ([]byte, error) {
	r, err := t.reg.GetBlob(ctx, t.repo, dg)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config %s is larger than %d bytes", dg, maxConfigSize)
	}
	if checkedDigest(dg, data) != dg {
		return nil, fmt.Errorf("config content does not match %s: %w", dg, ociregistry.ErrDigestInvalid)
	}
	return data, nil
}

// platformOf returns p as os/arch[/variant], or "" for nil or an empty
// platform.
func platformOf(p *ocispec.Platform) string {
	if p == nil || p.OS == "" && p.Architecture == "" {
		return ""
	}
	return ocicopy.PlatformString(p)
}

// choosePlatform returns the manifest for plat: data itself when it is
// no index, else the index's child for plat, read from t's repository.
// It returns an *ocicopy.NoPlatformError, which Is ErrManifestUnknown,
// when the index has none for plat.
func (t *target) choosePlatform(ctx context.Context, data []byte, desc ociregistry.Descriptor, plat *ocispec.Platform) ([]byte, ociregistry.Descriptor, error) {
	var m manifestJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, ociregistry.Descriptor{}, fmt.Errorf("manifest %s is not JSON: %w", desc.Digest, ociregistry.ErrManifestInvalid)
	}
	if !isIndex(cmp.Or(desc.MediaType, m.MediaType)) {
		return data, desc, nil
	}
	npe := &ocicopy.NoPlatformError{Platform: *plat}
	for _, child := range m.Manifests {
		p := child.Platform
		if p == nil {
			continue
		}
		npe.Have = append(npe.Have, *p)
		if p.OS == plat.OS && p.Architecture == plat.Architecture && (plat.Variant == "" || p.Variant == plat.Variant) {
			c := *t
			c.tag, c.digest = "", child.Digest
			return c.getManifest(ctx)
		}
	}
	return nil, ociregistry.Descriptor{}, &verbError{msg: t.name + ": " + npe.Error(), err: npe}
}

func isIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}

// referrerGroups returns the referrers of dg in t's repository, grouped
// by artifact type in the order the registry lists them.
func (t *target) referrerGroups(ctx context.Context, dg ociregistry.Digest) ([]referrerGroup, error) {
	var groups []referrerGroup
	index := map[string]int{}
	for desc, err := range t.reg.Referrers(ctx, t.repo, dg, "") {
		if err != nil {
			return nil, err
		}
		i, ok := index[desc.ArtifactType]
		if !ok {
			i = len(groups)
			index[desc.ArtifactType] = i
			groups = append(groups, referrerGroup{ArtifactType: desc.ArtifactType})
		}
		groups[i].Digests = append(groups[i].Digests, string(desc.Digest))
	}
	return groups, nil
}
