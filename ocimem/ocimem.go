// Package ocimem is an in-memory OCI registry: an ociregistry.Interface
// that keeps everything in maps, meant as the fake that tests use and as
// the reference against which other implementations are compared.
//
// It checks what a real registry checks: the digest and size of every
// blob, that a manifest parses as its media type and that the blobs and
// child manifests it refers to exist in the same repository (see
// Config.LaxChildReferences) with the sizes its descriptors give, and the
// syntax of repository names, tags and digests. Blobs belong to
// repositories: a blob is visible only in the repositories it was pushed
// to or mounted into.
//
// Manifests can be found by both their sha256 and their sha512 digest.
// Since PushManifest is not told the digest a client pushed a manifest
// by, the descriptors that PushManifest, the tags and Referrers hand out
// use the algorithm of the digests inside the manifest (those of its
// config, else its first layer or child manifest, else its subject), and
// sha256 when it has none: a client that pushes sha512 content gets
// sha512 digests back. ResolveManifest and GetManifest answer with the
// digest they were asked for.
//
// Errors for unknown content: blob operations answer an error that Is
// ociregistry.ErrBlobUnknown and manifest and tag operations one that Is
// ociregistry.ErrManifestUnknown, even when the repository does not exist
// at all, because that is what clients and conformance suites expect of a
// registry. Only Tags answers ociregistry.ErrNameUnknown for a repository
// that does not exist.
//
// A Registry is safe for concurrent use. Its lock is never held while it
// reads from a caller's io.Reader or while a caller consumes one of its
// iterators.
package ocimem

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// DefaultUploadIdleTimeout is the Config.UploadIdleTimeout used when the
// configured one is zero.
const DefaultUploadIdleTimeout = time.Hour

// Config holds the settings of a Registry. The zero value is the default.
type Config struct {
	// LaxChildReferences, when true, lets manifests be pushed whose
	// config, layers or child manifests are not in the repository. It
	// is meant for tests that push manifests without their content.
	// Content that is in the repository must still have the size its
	// descriptor gives.
	LaxChildReferences bool

	// UploadIdleTimeout is how long a chunked upload may go untouched
	// before it is abandoned and its memory freed. Zero means
	// DefaultUploadIdleTimeout.
	UploadIdleTimeout time.Duration

	// MaxUploadBytes bounds the bytes that uploads in progress hold
	// together: chunked uploads not yet committed, cancelled or
	// abandoned, and blobs that PushBlob is reading (counted as their
	// bytes arrive; a blob whose declared size does not fit in what is
	// free is refused before it is read). A write or push that would pass it
	// fails with an error that Is ociregistry.ErrTooManyRequests (429
	// over HTTP); a chunked upload keeps what it held, so it can go on
	// once others have finished. Stored content does not count. Zero or
	// less means no limit.
	MaxUploadBytes int64
}

// Registry is an in-memory registry. Its methods are those of
// ociregistry.Interface; the embedded *ociregistry.Funcs is always nil
// and only there so that Registry satisfies the Interface. The zero
// value is an empty registry with the default Config.
type Registry struct {
	*ociregistry.Funcs

	cfg Config

	mu      sync.Mutex
	repos   map[string]*repository
	uploads map[string]*upload

	// uploadBytes counts the bytes that uploads in progress hold (see
	// Config.MaxUploadBytes).
	uploadBytes atomic.Int64

	// repoIndex orders the names of repos for Repositories.
	repoIndex nameIndex

	// contents holds the content of every blob that some repository
	// holds, by digest, with the number of repositories that hold it,
	// so that content pushed to several repositories is kept once.
	contents map[digest.Digest]*sharedContent
}

// sharedContent is the content of a blob and the number of repositories
// that hold it.
type sharedContent struct {
	data  content
	repos int
}

var _ ociregistry.Interface = (*Registry)(nil)

// repository holds the content of one repository. An empty repository is
// removed from Registry.repos, so that a repository exists exactly when
// it holds something.
type repository struct {
	// blobs maps a blob's digest to its content.
	blobs map[digest.Digest]*blob

	// manifests maps each of a manifest's digests (sha256 and sha512) to
	// the manifest.
	manifests map[digest.Digest]*manifest

	// tags maps a tag to the digest of its manifest, always the
	// manifest's digest field (not its other one, and so sha512 for
	// a manifest of sha512 content): PushManifest rewrites the tags of
	// a manifest it replaces with one of another digest, and
	// DeleteManifest removes them, so that a tag never names a
	// manifest that is not stored.
	tags map[string]digest.Digest

	// tagIndex orders the names of tags for Tags.
	tagIndex nameIndex

	// referrers maps a subject digest, as the referring manifests'
	// subject field gives it, to those manifests in the order of their
	// digest field (so sha512 for a manifest of sha512 content), so that
	// Referrers lists them page by page with no sort. Referrers looks up
	// the digest it is asked for as it is, so referrers are found by the
	// digest their subject field gives, not by the subject's digest of
	// the other algorithm.
	referrers map[digest.Digest][]*manifest
}

// blob is stored content. Its data is never modified once stored, so a
// mount shares it and readers read it without the lock.
type blob struct {
	mediaType string
	data      content
}

// manifest is a stored manifest.
type manifest struct {
	data      []byte
	mediaType string

	// digest is the digest that descriptors use, of the algorithm the
	// manifest's own references use (see ocimanifest.Parsed.Algorithm);
	// other is the digest of the other algorithm, by which the
	// manifest can be found too.
	digest digest.Digest
	other  digest.Digest

	// subject is the digest of the manifest's subject, if it has one.
	subject digest.Digest

	// artifactType and annotations are reported by Referrers.
	artifactType string
	annotations  map[string]string
}

// New returns an empty Registry with the default Config.
func New() *Registry {
	return NewWithConfig(nil)
}

// NewWithConfig returns an empty Registry with the given Config; a nil
// cfg means the default.
func NewWithConfig(cfg *Config) *Registry {
	r := &Registry{}
	if cfg != nil {
		r.cfg = *cfg
	}
	return r
}

// uploadIdleTimeout returns the configured idle timeout or its default.
func (r *Registry) uploadIdleTimeout() time.Duration {
	if r.cfg.UploadIdleTimeout <= 0 {
		return DefaultUploadIdleTimeout
	}
	return r.cfg.UploadIdleTimeout
}

// repo returns the repository with the given name, or nil. It must be
// called with r.mu held.
func (r *Registry) repo(name string) *repository {
	return r.repos[name]
}

// addBlob stores, unless rp has it already, the blob dig of content
// data and type mediaType in rp, with the content that another
// repository holds for dig if any, and returns rp's blob. It must be
// called with the registry's lock held.
func (r *Registry) addBlob(rp *repository, dig digest.Digest, mediaType string, data content) *blob {
	if old := rp.blobs[dig]; old != nil {
		// Keep the content that is already there: readers may hold
		// it, and it is the same.
		return old
	}
	sc := r.contents[dig]
	if sc == nil {
		if r.contents == nil {
			r.contents = make(map[digest.Digest]*sharedContent)
		}
		sc = &sharedContent{data: data}
		r.contents[dig] = sc
	}
	sc.repos++
	b := &blob{mediaType: mediaType, data: sc.data}
	rp.blobs[dig] = b
	return b
}

// removeBlob removes the blob dig from rp, which holds it, and forgets
// its content once no repository holds it. It must be called with the
// registry's lock held.
func (r *Registry) removeBlob(rp *repository, dig digest.Digest) {
	delete(rp.blobs, dig)
	if sc := r.contents[dig]; sc != nil {
		if sc.repos--; sc.repos <= 0 {
			delete(r.contents, dig)
		}
	}
}

// makeRepo returns the repository with the given name, creating it when
// it does not exist. It must be called with r.mu held.
func (r *Registry) makeRepo(name string) *repository {
	if rp := r.repos[name]; rp != nil {
		return rp
	}
	if r.repos == nil {
		r.repos = make(map[string]*repository)
	}
	rp := &repository{
		blobs:     make(map[digest.Digest]*blob),
		manifests: make(map[digest.Digest]*manifest),
		tags:      make(map[string]digest.Digest),
		referrers: make(map[digest.Digest][]*manifest),
	}
	r.repos[name] = rp
	r.repoIndex.add(name, len(r.repos))
	return rp
}

// dropIfEmpty removes the named repository when it holds nothing any
// more. It must be called with r.mu held.
func (r *Registry) dropIfEmpty(name string) {
	rp := r.repos[name]
	if rp != nil && len(rp.blobs) == 0 && len(rp.manifests) == 0 && len(rp.tags) == 0 {
		delete(r.repos, name)
		r.repoIndex.remove()
	}
}

func (b *blob) descriptor(d digest.Digest) ociregistry.Descriptor {
	return ociregistry.Descriptor{
		MediaType: b.mediaType,
		Digest:    d,
		Size:      b.data.size,
	}
}

// descriptor returns the manifest's descriptor with the digest d, which is
// one of the manifest's own digests.
func (m *manifest) descriptor(d digest.Digest) ociregistry.Descriptor {
	return ociregistry.Descriptor{
		MediaType: m.mediaType,
		Digest:    d,
		Size:      int64(len(m.data)),
	}
}

// referrerDescriptor returns the descriptor that Referrers yields for m.
func (m *manifest) referrerDescriptor() ociregistry.Descriptor {
	desc := m.descriptor(m.digest)
	desc.ArtifactType = m.artifactType
	desc.Annotations = maps.Clone(m.annotations)
	return desc
}
