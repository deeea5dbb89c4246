package conformance

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types used by the test content.
const (
	mtImage        = ocispec.MediaTypeImageManifest
	mtIndex        = ocispec.MediaTypeImageIndex
	mtConfig       = ocispec.MediaTypeImageConfig
	mtLayerGzip    = ocispec.MediaTypeImageLayerGzip
	mtEmptyJSON    = ocispec.MediaTypeEmptyJSON
	mtNonDistGzip  = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
	mtNonDist      = "application/vnd.oci.image.layer.nondistributable.v1.tar"
	mtOctetStream  = "application/octet-stream"
	mtArtifactA    = "application/vnd.example.conformance.a.v1"
	mtArtifactB    = "application/vnd.example.conformance.b.v1"
	mtArtifactConf = "application/vnd.example.conformance.config.v1+json"
)

// blob is a piece of content with its descriptor.
type blob struct {
	data []byte
	desc ociregistry.Descriptor
}

// newBlob returns data as a blob with the given algorithm and media type.
func newBlob(algo digest.Algorithm, mediaType string, data []byte) blob {
	return blob{
		data: data,
		desc: ociregistry.Descriptor{
			MediaType: mediaType,
			Digest:    algo.FromBytes(data),
			Size:      int64(len(data)),
		},
	}
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// randomBlob returns a blob of n random bytes.
func randomBlob(algo digest.Algorithm, n int) blob {
	return newBlob(algo, mtOctetStream, randomBytes(n))
}

// randomID returns a short random lower-case identifier, fit for
// repository names and tags.
func randomID() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := randomBytes(10)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// manifest is a manifest to push, with everything it refers to.
type manifest struct {
	data      []byte
	mediaType string
	digest    ociregistry.Digest

	// blobs must be pushed before the manifest; children are manifests
	// (of an index) that must be pushed before it.
	blobs    []blob
	children []*manifest

	// subject, artifactType and annotations are what a referrers
	// listing must report for the manifest.
	subject      *ociregistry.Descriptor
	artifactType string
	annotations  map[string]string
}

// desc returns the manifest's descriptor.
func (m *manifest) desc() ociregistry.Descriptor {
	return ociregistry.Descriptor{
		MediaType: m.mediaType,
		Digest:    m.digest,
		Size:      int64(len(m.data)),
	}
}

// referrerDesc returns the descriptor a referrers listing must hold for
// the manifest (spec: Listing Referrers).
func (m *manifest) referrerDesc() ociregistry.Descriptor {
	d := m.desc()
	d.ArtifactType = m.artifactType
	d.Annotations = m.annotations
	return d
}

// allBlobs returns the blobs of the manifest and of its children.
func (m *manifest) allBlobs() []blob {
	var bs []blob
	for _, c := range m.children {
		bs = append(bs, c.allBlobs()...)
	}
	return append(bs, m.blobs...)
}

// imageOpts says what image manifest to make.
type imageOpts struct {
	layers          int    // number of random layers
	layerMediaType  string // defaults to mtLayerGzip
	configMediaType string // defaults to mtConfig; mtEmptyJSON gives "{}"
	artifactType    string
	annotations     map[string]string
	subject         *ociregistry.Descriptor
	// dataField sets the data field of every descriptor.
	dataField bool
	// extraFields adds fields the image spec does not define, at the top
	// level and in descriptors, and lays the JSON out unusually, so that
	// only a registry that keeps the exact bytes can give them back.
	extraFields bool
	// nonDistributable adds layers that are never pushed, with URLs.
	nonDistributable bool
	// missingLayer adds a layer that is never pushed.
	missingLayer bool
	// emptyJSONLayer adds the empty JSON blob "{}" as a layer; with
	// an empty JSON config the same blob is config and layer.
	emptyJSONLayer bool
	// padding adds an annotation of that many bytes, to make the
	// manifest big.
	padding int
}

// newImage returns an image manifest made as opts say, with its digest
// computed with algo.
func newImage(algo digest.Algorithm, opts imageOpts) *manifest {
	m := &manifest{mediaType: mtImage, subject: opts.subject, annotations: opts.annotations}
	var config blob
	switch opts.configMediaType {
	case "", mtConfig:
		cfg, _ := json.Marshal(ocispec.Image{
			Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
			Author:   "ociregistry conformance " + randomID(),
			RootFS:   ocispec.RootFS{Type: "layers"},
		})
		config = newBlob(algo, mtConfig, cfg)
	case mtEmptyJSON:
		config = newBlob(algo, mtEmptyJSON, []byte("{}"))
	default:
		config = newBlob(algo, opts.configMediaType, fmt.Appendf(nil, `{"id":%q}`, randomID()))
	}
	m.blobs = append(m.blobs, config)
	layerType := opts.layerMediaType
	if layerType == "" {
		layerType = mtLayerGzip
	}
	var layers []ociregistry.Descriptor
	for i := 0; i < opts.layers; i++ {
		l := newBlob(algo, layerType, randomBytes(300+i*17))
		m.blobs = append(m.blobs, l)
		layers = append(layers, l.desc)
	}
	if opts.emptyJSONLayer {
		l := newBlob(algo, mtEmptyJSON, []byte("{}"))
		if l.desc.Digest != config.desc.Digest {
			m.blobs = append(m.blobs, l)
		}
		layers = append(layers, l.desc)
	}
	if opts.nonDistributable {
		for _, mt := range []string{mtNonDistGzip, mtNonDist} {
			d := newBlob(algo, mt, randomBytes(64)).desc
			d.Size = 123456
			d.URLs = []string{"https://store.example.com/blobs/" + d.Digest.Encoded()}
			layers = append(layers, d)
		}
	}
	if opts.missingLayer {
		layers = append(layers, newBlob(algo, layerType, randomBytes(100)).desc)
	}
	configDesc := config.desc
	if opts.dataField {
		configDesc.Data = config.data
		for i := range opts.layers {
			layers[i].Data = m.blobs[1+i].data
		}
	}
	annotations := opts.annotations
	if opts.padding > 0 {
		annotations = maps.Clone(annotations)
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations["org.example.padding"] = string(paddingBytes(opts.padding))
	}
	if layers == nil {
		// The image spec wants the layers array present, even empty.
		layers = []ociregistry.Descriptor{}
	}
	im := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    mtImage,
		ArtifactType: opts.artifactType,
		Config:       configDesc,
		Layers:       layers,
		Subject:      opts.subject,
		Annotations:  annotations,
	}
	m.artifactType = opts.artifactType
	if m.artifactType == "" {
		m.artifactType = configDesc.MediaType
	}
	m.data = marshalManifest(im, opts.extraFields)
	m.digest = algo.FromBytes(m.data)
	return m
}

// indexOpts says what image index to make.
type indexOpts struct {
	artifactType string
	annotations  map[string]string
	subject      *ociregistry.Descriptor
	extraFields  bool
	// missing adds a child manifest that is never pushed.
	missing bool
}

// newIndex returns an image index of the given manifests, with its
// digest computed with algo.
func newIndex(algo digest.Algorithm, children []*manifest, opts indexOpts) *manifest {
	m := &manifest{
		mediaType:    mtIndex,
		children:     children,
		subject:      opts.subject,
		artifactType: opts.artifactType,
		annotations:  opts.annotations,
	}
	descs := []ociregistry.Descriptor{}
	archs := []string{"amd64", "arm64", "s390x", "ppc64le"}
	for i, c := range children {
		d := c.desc()
		if c.mediaType == mtImage {
			d.Platform = &ocispec.Platform{OS: "linux", Architecture: archs[i%len(archs)]}
		}
		descs = append(descs, d)
	}
	if opts.missing {
		descs = append(descs, ociregistry.Descriptor{
			MediaType: mtImage,
			Digest:    algo.FromBytes(randomBytes(32)),
			Size:      1234,
		})
	}
	idx := ocispec.Index{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    mtIndex,
		ArtifactType: opts.artifactType,
		Manifests:    descs,
		Subject:      opts.subject,
		Annotations:  opts.annotations,
	}
	m.data = marshalManifest(idx, opts.extraFields)
	m.digest = algo.FromBytes(m.data)
	return m
}

// marshalManifest encodes v; with extraFields it adds unknown fields and
// uses an unusual layout.
func marshalManifest(v any, extraFields bool) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	if !extraFields {
		return data
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		panic(err)
	}
	fields["org.example.conformance.unknown"] = map[string]any{
		"nested": []any{1, "two", 3.5, nil, true},
		"id":     randomID(),
	}
	if cfg, ok := fields["config"].(map[string]any); ok {
		cfg["org.example.descriptor-extra"] = "kept"
	}
	data, err = json.MarshalIndent(fields, " ", "\t  ")
	if err != nil {
		panic(err)
	}
	return append(data, "\n\n"...)
}

// paddingBytes returns n printable bytes.
func paddingBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'A' + byte(i%26)
	}
	return b
}

// referrersResponse is the shape of a referrers response.
type referrersResponse struct {
	SchemaVersion int                      `json:"schemaVersion"`
	MediaType     string                   `json:"mediaType"`
	Manifests     []ociregistry.Descriptor `json:"manifests"`
}
