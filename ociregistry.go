// Package ociregistry defines one small Go interface for an OCI registry,
// as described by the OCI distribution specification, together with the
// errors, iterators and name checks that every implementation shares.
//
// Implementations live in other packages: ocimem (in memory), ociserver
// (an http.Handler serving any Interface) and the packages that wrap one
// Interface in another. Every implementation embeds *Funcs, so that the
// Interface can grow without breaking them.
//
// Repository names, tags and digests passed to an Interface are expected
// to be valid (see CheckRepository, CheckTag and CheckDigest);
// implementations check them and answer ErrNameInvalid, ErrManifestInvalid
// or ErrDigestInvalid when they are not.
package ociregistry

import (
	"context"
	"io"
	"iter"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Interface is an OCI registry: everything a client can do with one.
type Interface interface {
	Reader
	Writer
	Deleter
	Lister

	// private stops types outside this module implementing Interface
	// without embedding *Funcs, so that methods can be added later.
	private()
}

// Digest is a content digest such as "sha256:abc...". It is an alias of
// the go-digest type, so values need no conversion.
type Digest = digest.Digest

// Descriptor describes a piece of content: its media type, digest and
// size, and optionally an artifact type, annotations and URLs. It is an
// alias of the image-spec type.
type Descriptor = ocispec.Descriptor

// Manifest is an OCI image manifest. It is an alias of the image-spec type.
type Manifest = ocispec.Manifest

// Index is an OCI image index. It is an alias of the image-spec type.
type Index = ocispec.Index

// Reader reads content from a registry.
type Reader interface {
	// GetBlob returns the content of the blob with the given digest in
	// repo. It returns an error that Is ErrNameUnknown when the
	// repository does not exist and ErrBlobUnknown when the blob does not.
	GetBlob(ctx context.Context, repo string, digest Digest) (BlobReader, error)

	// GetBlobRange is like GetBlob but returns only the bytes from offset0
	// up to (not including) offset1. An offset1 that is negative or past
	// the end of the blob means "to the end". It returns an error that Is
	// ErrRangeInvalid when offset0 is negative, past the end of the blob,
	// or greater than offset1. The Descriptor of the returned reader
	// describes the whole blob.
	GetBlobRange(ctx context.Context, repo string, digest Digest, offset0, offset1 int64) (BlobReader, error)

	// GetManifest returns the manifest with the given digest in repo. It
	// returns an error that Is ErrManifestUnknown when there is none.
	GetManifest(ctx context.Context, repo string, digest Digest) (BlobReader, error)

	// GetTag returns the manifest that tagName points to in repo. It
	// returns an error that Is ErrManifestUnknown when there is no such
	// tag.
	GetTag(ctx context.Context, repo string, tagName string) (BlobReader, error)

	// ResolveBlob returns the descriptor of a blob without its content,
	// or an error as GetBlob would.
	ResolveBlob(ctx context.Context, repo string, digest Digest) (Descriptor, error)

	// ResolveManifest returns the descriptor of a manifest without its
	// content, or an error as GetManifest would. The descriptor's
	// MediaType is the manifest's media type.
	ResolveManifest(ctx context.Context, repo string, digest Digest) (Descriptor, error)

	// ResolveTag returns the descriptor of the manifest that tagName
	// points to, or an error as GetTag would.
	ResolveTag(ctx context.Context, repo string, tagName string) (Descriptor, error)
}

// Writer writes content to a registry.
type Writer interface {
	// PushBlob pushes a blob whose digest and size are given by desc,
	// reading its content from r, and returns its descriptor. It returns
	// an error that Is ErrDigestInvalid when the content does not match
	// desc.Digest and ErrSizeInvalid when its length does not match
	// desc.Size. Nothing is stored when it fails.
	PushBlob(ctx context.Context, repo string, desc Descriptor, r io.Reader) (Descriptor, error)

	// PushBlobChunked starts a chunked upload of a blob to repo. The
	// returned BlobWriter's ID can be passed to PushBlobChunkedResume
	// to carry on after the writer is closed. chunkSize is a hint for the
	// size of writes; zero means the implementation's default.
	PushBlobChunked(ctx context.Context, repo string, chunkSize int) (BlobWriter, error)

	// PushBlobChunkedResume carries on the upload with the given ID.
	// When offset is non-negative it must equal the number of bytes
	// written so far, or the error Is ErrRangeInvalid; a negative offset
	// means "wherever the upload is". It returns an error that Is
	// ErrBlobUploadUnknown when there is no such upload.
	PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (BlobWriter, error)

	// MountBlob makes the blob with the given digest in fromRepo
	// available in toRepo without copying its content through the
	// caller, and returns its descriptor. It returns an error that Is
	// ErrBlobUnknown when fromRepo has no such blob.
	MountBlob(ctx context.Context, fromRepo, toRepo string, digest Digest) (Descriptor, error)

	// PushManifest stores a manifest with the given content and media
	// type in repo, and points tag at it when tag is not empty. It
	// returns an error that Is ErrManifestInvalid when the content does
	// not parse as mediaType, and ErrManifestBlobUnknown when it refers
	// to blobs or manifests that repo does not hold.
	PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (Descriptor, error)
}

// Deleter removes content from a registry.
type Deleter interface {
	// DeleteBlob removes a blob from repo. It returns an error that Is
	// ErrBlobUnknown when repo has no such blob.
	DeleteBlob(ctx context.Context, repo string, digest Digest) error

	// DeleteManifest removes a manifest from repo, and every tag that
	// points to it. It returns an error that Is ErrManifestUnknown when
	// repo has no such manifest.
	DeleteManifest(ctx context.Context, repo string, digest Digest) error

	// DeleteTag removes the tag only: the manifest it pointed to stays,
	// reachable by digest. It returns an error that Is
	// ErrManifestUnknown when there is no such tag.
	DeleteTag(ctx context.Context, repo string, name string) error
}

// Lister lists what a registry holds. Each method returns a sequence in
// lexical order that ends at the first error.
type Lister interface {
	// Repositories yields the names of the repositories in the registry
	// that sort after startAfter.
	Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error]

	// Tags yields the tags in repo that sort after startAfter. It yields
	// an error that Is ErrNameUnknown when repo does not exist.
	Tags(ctx context.Context, repo, startAfter string) iter.Seq2[string, error]

	// Referrers yields the descriptors of the manifests in repo whose
	// subject is digest, ordered by digest. When artifactType is not
	// empty, only manifests of that artifact type are yielded. A digest
	// that nothing refers to yields nothing, not an error.
	Referrers(ctx context.Context, repo string, digest Digest, artifactType string) iter.Seq2[Descriptor, error]
}

// BlobReader reads a blob or manifest's content.
type BlobReader interface {
	io.ReadCloser

	// Descriptor describes the content being read.
	Descriptor() Descriptor
}

// BlobWriter writes a blob in chunks. Close releases the writer but keeps
// the upload so that it can be resumed by ID; Commit ends it.
type BlobWriter interface {
	io.WriteCloser

	// Size returns the number of bytes written so far, including those
	// written before the upload was resumed.
	Size() int64

	// ChunkSize returns the size of writes the implementation prefers.
	ChunkSize() int

	// ID returns the identifier that PushBlobChunkedResume accepts.
	ID() string

	// Commit completes the upload: it checks that the content has the
	// given digest and stores the blob. It returns an error that Is
	// ErrDigestInvalid when the content does not match, in which case
	// nothing is stored.
	Commit(digest Digest) (Descriptor, error)

	// Cancel abandons the upload and frees what it holds. It is safe to
	// call after Commit, when it does nothing.
	Cancel() error
}
