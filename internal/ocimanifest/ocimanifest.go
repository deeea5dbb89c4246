// Package ocimanifest parses and checks manifest content the way a
// registry must before storing it, for the backends that store manifests
// (ocimem and ocifs): that it is valid for its media type, and what it
// refers to.
package ocimanifest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The Docker media types that registries still accept.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// manifestKind says what a manifest media type refers to.
type manifestKind int

const (
	kindOpaque manifestKind = iota // content not checked
	kindImage                      // config and layers
	kindIndex                      // child manifests
)

func kindOf(mediaType string) manifestKind {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		return kindImage
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
		return kindIndex
	}
	return kindOpaque
}

// manifestJSON holds the fields of every manifest kind that the registry
// looks at.
type manifestJSON struct {
	SchemaVersion *int                     `json:"schemaVersion"`
	MediaType     string                   `json:"mediaType"`
	ArtifactType  string                   `json:"artifactType"`
	Config        *ociregistry.Descriptor  `json:"config"`
	Layers        []ociregistry.Descriptor `json:"layers"`
	Manifests     []ociregistry.Descriptor `json:"manifests"`
	Subject       *ociregistry.Descriptor  `json:"subject"`
	Annotations   map[string]string        `json:"annotations"`
}

// Parsed is what the registry keeps from a manifest's content:
// what it refers to and what Referrers reports.
type Parsed struct {
	// MediaType is the manifest's media type: the one it was pushed
	// as, or its content's mediaType field when that was empty.
	MediaType string

	// Declared says that the content's mediaType field names
	// MediaType, so that every push of the content has that type.
	Declared bool

	// ArtifactType is the artifact type that Referrers reports: the
	// artifactType field, else the config's media type for an image
	// manifest.
	ArtifactType string

	// Annotations holds the manifest's annotations field.
	Annotations map[string]string

	// Subject is the manifest's subject, or nil.
	Subject *ociregistry.Descriptor

	// Algorithm is the algorithm of the first digest the manifest
	// holds, in its config, layers, child manifests or subject, or
	// sha256 when it holds none. Registries are not told the digest a
	// manifest was pushed by, and this is the best guess of it.
	Algorithm digest.Algorithm

	// Blobs are the blobs that must exist in the repository: the config
	// and the distributable layers.
	Blobs []ociregistry.Descriptor

	// Children are the manifests that must exist in the repository.
	Children []ociregistry.Descriptor
}

// Parse checks that data is a manifest of the given media type
// and returns what it refers to. An empty mediaType is taken from the
// content's mediaType field. Media types other than the OCI and Docker
// image manifests and indexes are accepted as they are, unless the
// content says it is something else: a JSON object whose mediaType field
// is not mediaType, or one without that field that has the shape of an
// OCI image manifest or index (schemaVersion 2 with config or
// manifests). Stored under a type that is not its own, a manifest would
// be served as that type, which clients cannot read. It returns an error
// that Is ociregistry.ErrManifestInvalid when data is not valid.
func Parse(data []byte, mediaType string) (*Parsed, error) {
	if mediaType != "" && kindOf(mediaType) == kindOpaque {
		if err := checkOpaque(data, mediaType); err != nil {
			return nil, err
		}
		return &Parsed{MediaType: mediaType, Algorithm: digest.SHA256}, nil
	}
	var mj manifestJSON
	if err := json.Unmarshal(data, &mj); err != nil {
		return nil, fmt.Errorf("manifest does not parse as %s: %v: %w", mediaTypeOr(mediaType), err, ociregistry.ErrManifestInvalid)
	}
	if mediaType == "" {
		if mj.MediaType == "" {
			return nil, fmt.Errorf("manifest has no media type: %w", ociregistry.ErrManifestInvalid)
		}
		mediaType = mj.MediaType
		if kindOf(mediaType) == kindOpaque {
			return &Parsed{MediaType: mediaType, Declared: true, Algorithm: digest.SHA256}, nil
		}
	}
	if mj.MediaType != "" && mj.MediaType != mediaType {
		return nil, fmt.Errorf("manifest has media type %q but was pushed as %q: %w", mj.MediaType, mediaType, ociregistry.ErrManifestInvalid)
	}
	if mj.SchemaVersion == nil || *mj.SchemaVersion != 2 {
		return nil, fmt.Errorf("manifest of type %s does not have schemaVersion 2: %w", mediaType, ociregistry.ErrManifestInvalid)
	}
	pm := &Parsed{
		MediaType:    mediaType,
		Declared:     mj.MediaType != "",
		ArtifactType: mj.ArtifactType,
		Annotations:  mj.Annotations,
		Subject:      mj.Subject,
	}
	if mj.Subject != nil {
		if err := checkDescriptor("subject", *mj.Subject); err != nil {
			return nil, err
		}
	}
	switch kindOf(mediaType) {
	case kindImage:
		if mj.Config == nil {
			return nil, fmt.Errorf("image manifest has no config: %w", ociregistry.ErrManifestInvalid)
		}
		if mj.Manifests != nil {
			return nil, fmt.Errorf("image manifest has a manifests field: %w", ociregistry.ErrManifestInvalid)
		}
		if err := checkDescriptor("config", *mj.Config); err != nil {
			return nil, err
		}
		if pm.ArtifactType == "" {
			// The distribution specification's rule for the
			// artifactType of a referrer.
			pm.ArtifactType = mj.Config.MediaType
		}
		pm.Blobs = append(pm.Blobs, *mj.Config)
		for i, l := range mj.Layers {
			if err := checkDescriptor(fmt.Sprintf("layer %d", i), l); err != nil {
				return nil, err
			}
			if len(l.URLs) > 0 || isNonDistributable(l.MediaType) {
				// Its content lives elsewhere.
				continue
			}
			pm.Blobs = append(pm.Blobs, l)
		}
	case kindIndex:
		if mj.Config != nil || mj.Layers != nil {
			return nil, fmt.Errorf("index has a config or layers field: %w", ociregistry.ErrManifestInvalid)
		}
		for i, m := range mj.Manifests {
			if err := checkDescriptor(fmt.Sprintf("manifest %d", i), m); err != nil {
				return nil, err
			}
			pm.Children = append(pm.Children, m)
		}
	}
	pm.Algorithm = firstAlgorithm(&mj)
	return pm, nil
}

// AnySubject returns the subject that data's subject field names,
// whatever media type it was pushed as, or nil when it names none with
// a valid digest. Content without a mediaType field of its own may be
// pushed as more than one type, a referrer under one and opaque under
// another: what a push of either may have listed among a subject's
// referrers, a deletion must find.
func AnySubject(data []byte) *ociregistry.Descriptor {
	var m struct {
		Subject *ociregistry.Descriptor `json:"subject"`
	}
	if json.Unmarshal(data, &m) != nil || m.Subject == nil || ociregistry.CheckDigest(m.Subject.Digest) != nil {
		return nil
	}
	return m.Subject
}

// opaqueJSON holds the fields that say what a JSON document pushed as
// an opaque media type really is.
type opaqueJSON struct {
	SchemaVersion *int            `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        json.RawMessage `json:"config"`
	Manifests     json.RawMessage `json:"manifests"`
}

// checkOpaque checks that content pushed as the opaque media type
// mediaType does not say it is of another type.
func checkOpaque(data []byte, mediaType string) error {
	var oj opaqueJSON
	if json.Unmarshal(data, &oj) != nil {
		// Not a JSON object: it claims no type of its own.
		return nil
	}
	switch {
	case oj.MediaType != "" && oj.MediaType != mediaType:
		return fmt.Errorf("manifest has media type %q but was pushed as %q: %w", oj.MediaType, mediaType, ociregistry.ErrManifestInvalid)
	case oj.MediaType == "" && oj.SchemaVersion != nil && *oj.SchemaVersion == 2 && oj.Config != nil:
		return fmt.Errorf("manifest is an OCI image manifest but was pushed as %q, which is not a manifest media type: %w", mediaType, ociregistry.ErrManifestInvalid)
	case oj.MediaType == "" && oj.SchemaVersion != nil && *oj.SchemaVersion == 2 && oj.Manifests != nil:
		return fmt.Errorf("manifest is an OCI image index but was pushed as %q, which is not a manifest media type: %w", mediaType, ociregistry.ErrManifestInvalid)
	}
	return nil
}

// firstAlgorithm returns the algorithm of the first digest in mj's
// config, layers, child manifests and subject, or sha256 when there is
// none.
func firstAlgorithm(mj *manifestJSON) digest.Algorithm {
	var descs []ociregistry.Descriptor
	if mj.Config != nil {
		descs = append(descs, *mj.Config)
	}
	descs = append(descs, mj.Layers...)
	descs = append(descs, mj.Manifests...)
	if mj.Subject != nil {
		descs = append(descs, *mj.Subject)
	}
	if len(descs) == 0 || descs[0].Digest.Algorithm() != digest.SHA512 {
		return digest.SHA256
	}
	return digest.SHA512
}

func checkDescriptor(what string, desc ociregistry.Descriptor) error {
	if err := ociregistry.CheckDigest(desc.Digest); err != nil {
		return fmt.Errorf("%s: %v: %w", what, err, ociregistry.ErrManifestInvalid)
	}
	if desc.Size < 0 {
		return fmt.Errorf("%s has negative size %d: %w", what, desc.Size, ociregistry.ErrManifestInvalid)
	}
	return nil
}

// isNonDistributable reports whether a layer of the given media type is
// one that registries do not hold: the OCI non-distributable layers and
// Docker's foreign layers.
func isNonDistributable(mediaType string) bool {
	return strings.Contains(mediaType, ".nondistributable.") || strings.Contains(mediaType, ".foreign.")
}

func mediaTypeOr(mediaType string) string {
	if mediaType == "" {
		return "a manifest"
	}
	return mediaType
}
