package ocifilter

import (
	"context"
	"io"

	"github.com/ocireg/ociregistry"
)

// ReadOnly returns a registry that reads from r and refuses every write
// with an error that Is [ociregistry.ErrDenied], and every delete with
// one that Is [ociregistry.ErrUnsupported] (405, as the distribution
// spec asks of a registry that does not delete).
func ReadOnly(r ociregistry.Interface) ociregistry.Interface {
	return readOnly{forward{r: r}}
}

// readOnly overrides every method that would change the registry.
type readOnly struct {
	forward
}

func (r readOnly) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	return ociregistry.Descriptor{}, denied("push blob to", repo, "registry is read-only")
}

func (r readOnly) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	return nil, denied("push blob to", repo, "registry is read-only")
}

func (r readOnly) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	return nil, denied("push blob to", repo, "registry is read-only")
}

func (r readOnly) MountBlob(ctx context.Context, fromRepo, toRepo string, digest ociregistry.Digest) (ociregistry.Descriptor, error) {
	return ociregistry.Descriptor{}, denied("mount blob in", toRepo, "registry is read-only")
}

func (r readOnly) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	return ociregistry.Descriptor{}, denied("push manifest to", repo, "registry is read-only")
}

func (r readOnly) DeleteBlob(ctx context.Context, repo string, digest ociregistry.Digest) error {
	return deleteRefused("delete blob in", repo, "registry is read-only")
}

func (r readOnly) DeleteManifest(ctx context.Context, repo string, digest ociregistry.Digest) error {
	return deleteRefused("delete manifest in", repo, "registry is read-only")
}

func (r readOnly) DeleteTag(ctx context.Context, repo string, name string) error {
	return deleteRefused("delete tag in", repo, "registry is read-only")
}
