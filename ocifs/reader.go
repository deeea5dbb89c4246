package ocifs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/ocireg/ociregistry"
)

// GetBlob returns the content of a blob in repo. The reader's content
// comes straight from the blob's file, so that net/http can send it with
// sendfile. It returns an error that Is ociregistry.ErrNameInvalid or
// ociregistry.ErrDigestInvalid for a bad repository name or digest, and
// ociregistry.ErrBlobUnknown when repo does not hold the blob, whether or
// not repo exists.
func (r *Registry) GetBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	f, desc, err := r.openBlob(repo, dig)
	if err != nil {
		return nil, err
	}
	return &blobReader{File: f, desc: desc}, nil
}

// GetBlobRange returns the bytes of a blob in repo from offset0 up to, not
// including, offset1; a negative offset1 or one past the end means the
// end. It seeks to offset0 rather than reading up to it. It returns the
// errors GetBlob does, and an error that Is ociregistry.ErrRangeInvalid
// when offset0 is negative, past the end of the blob, or greater than a
// non-negative offset1.
func (r *Registry) GetBlobRange(ctx context.Context, repo string, dig ociregistry.Digest, offset0, offset1 int64) (ociregistry.BlobReader, error) {
	f, desc, err := r.openBlob(repo, dig)
	if err != nil {
		return nil, err
	}
	size := desc.Size
	if offset1 < 0 || offset1 > size {
		offset1 = size
	}
	if offset0 < 0 || offset0 > size || offset0 > offset1 {
		f.Close()
		return nil, fmt.Errorf("range %d-%d of blob %s of size %d: %w", offset0, offset1, dig, size, ociregistry.ErrRangeInvalid)
	}
	if _, err := f.Seek(offset0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("ocifs: %w", err)
	}
	return &rangeReader{f: f, lr: io.LimitedReader{R: f, N: offset1 - offset0}, desc: desc}, nil
}

// ResolveBlob returns the descriptor of a blob in repo, or the errors
// GetBlob does.
func (r *Registry) ResolveBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	rdir, dp, err := checkRepoDigest(r.dir, repo, dig)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	mt, err := r.blobTypes.load(blobLink(rdir, dp), readString)
	if err != nil {
		return ociregistry.Descriptor{}, blobError(repo, dig, err)
	}
	fi, err := os.Stat(r.blobFile(dp))
	if err != nil {
		return ociregistry.Descriptor{}, blobError(repo, dig, err)
	}
	return ociregistry.Descriptor{MediaType: mt, Digest: dig, Size: fi.Size()}, nil
}

// GetManifest returns the manifest with the given sha256 or sha512 digest
// in repo. It returns an error that Is ociregistry.ErrNameInvalid or
// ociregistry.ErrDigestInvalid for a bad repository name or digest, and
// ociregistry.ErrManifestUnknown when repo does not hold the manifest,
// whether or not repo exists.
func (r *Registry) GetManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	sd, err := r.manifestLinkOf(repo, dig)
	if err != nil {
		return nil, err
	}
	return r.openManifest(repo, sd, dig)
}

// ResolveManifest returns the descriptor of a manifest in repo, or the
// errors GetManifest does. It reads one small file and hashes nothing.
func (r *Registry) ResolveManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	sd, err := r.manifestLinkOf(repo, dig)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return sd.descriptor(), nil
}

// manifestLinkOf reads the link of a manifest in repo.
func (r *Registry) manifestLinkOf(repo string, dig ociregistry.Digest) (storedDescriptor, error) {
	rdir, dp, err := checkRepoDigest(r.dir, repo, dig)
	if err != nil {
		return storedDescriptor{}, err
	}
	sd, err := r.descs.load(manifestLink(rdir, dp), readDescriptor)
	if err != nil {
		return storedDescriptor{}, manifestError(repo, string(dig), err)
	}
	return sd, nil
}

// GetTag returns the manifest that a tag in repo points to. It returns an
// error that Is ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrManifestInvalid for a bad tag (as ociregistry.CheckTag
// does), and ociregistry.ErrManifestUnknown when repo has no such tag.
func (r *Registry) GetTag(ctx context.Context, repo string, tagName string) (ociregistry.BlobReader, error) {
	sd, err := r.tagOf(repo, tagName)
	if err != nil {
		return nil, err
	}
	return r.openManifest(repo, sd, sd.Digest)
}

// ResolveTag returns the descriptor of the manifest that a tag in repo
// points to, or the errors GetTag does.
func (r *Registry) ResolveTag(ctx context.Context, repo string, tagName string) (ociregistry.Descriptor, error) {
	sd, err := r.tagOf(repo, tagName)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return sd.descriptor(), nil
}

// tagOf reads a tag's file.
func (r *Registry) tagOf(repo, tagName string) (storedDescriptor, error) {
	rdir, err := repoDir(r.dir, repo)
	if err != nil {
		return storedDescriptor{}, err
	}
	tp, err := tagPath(rdir, tagName)
	if err != nil {
		return storedDescriptor{}, err
	}
	sd, err := r.descs.load(tp, readDescriptor)
	if err != nil {
		return storedDescriptor{}, manifestError(repo, "tag "+tagName, err)
	}
	return sd, nil
}

// openBlob opens a blob's content after checking that repo holds it.
func (r *Registry) openBlob(repo string, dig ociregistry.Digest) (*os.File, ociregistry.Descriptor, error) {
	rdir, dp, err := checkRepoDigest(r.dir, repo, dig)
	if err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	mt, err := r.blobTypes.load(blobLink(rdir, dp), readString)
	if err != nil {
		return nil, ociregistry.Descriptor{}, blobError(repo, dig, err)
	}
	f, err := os.Open(r.blobFile(dp))
	if err != nil {
		return nil, ociregistry.Descriptor{}, blobError(repo, dig, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ociregistry.Descriptor{}, fmt.Errorf("ocifs: %w", err)
	}
	return f, ociregistry.Descriptor{MediaType: mt, Digest: dig, Size: fi.Size()}, nil
}

// openManifest opens the content of the manifest that sd, read from a
// link or tag file, describes.
func (r *Registry) openManifest(repo string, sd storedDescriptor, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	content := sd.content()
	if data, ok := r.manifests.get(content); ok {
		return ociregistry.NewBytesReader(data, sd.descriptor()), nil
	}
	dp, err := digestPath(content)
	if err != nil {
		return nil, fmt.Errorf("ocifs: %w", err)
	}
	data, err := os.ReadFile(r.blobFile(dp))
	if err != nil {
		return nil, manifestError(repo, string(dig), err)
	}
	r.manifests.put(content, data)
	return ociregistry.NewBytesReader(data, sd.descriptor()), nil
}

// storedDescriptor is what a manifest link or a tag file holds: the
// manifest's descriptor and, in Content, the sha256 digest its content is
// stored under when Digest is of another algorithm.
type storedDescriptor struct {
	MediaType string             `json:"mediaType"`
	Digest    ociregistry.Digest `json:"digest"`
	Size      int64              `json:"size"`
	Content   ociregistry.Digest `json:"content,omitempty"`
}

// content returns the digest under which the manifest's content is stored.
func (sd storedDescriptor) content() ociregistry.Digest {
	if sd.Content != "" {
		return sd.Content
	}
	return sd.Digest
}

func (sd storedDescriptor) descriptor() ociregistry.Descriptor {
	return ociregistry.Descriptor{MediaType: sd.MediaType, Digest: sd.Digest, Size: sd.Size}
}

// readDescriptor reads the descriptor in a manifest link or tag file.
func readDescriptor(path string) (storedDescriptor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return storedDescriptor{}, err
	}
	var sd storedDescriptor
	if err := json.Unmarshal(data, &sd); err != nil {
		return storedDescriptor{}, fmt.Errorf("corrupt file %s: %v", path, err)
	}
	if ociregistry.CheckDigest(sd.Digest) != nil || ociregistry.CheckDigest(sd.content()) != nil || sd.content().Algorithm() != "sha256" {
		return storedDescriptor{}, fmt.Errorf("corrupt file %s: bad digest", path)
	}
	return sd, nil
}

func checkRepoDigest(root, repo string, dig ociregistry.Digest) (rdir, dp string, err error) {
	if rdir, err = repoDir(root, repo); err != nil {
		return "", "", err
	}
	if dp, err = digestPath(dig); err != nil {
		return "", "", err
	}
	return rdir, dp, nil
}

// notFound reports whether err says that a file is not there, as a
// missing file or a missing directory on its path does.
func notFound(err error) bool {
	return isNotExist(err) || errors.Is(err, syscall.ENOTDIR)
}

func blobError(repo string, dig ociregistry.Digest, err error) error {
	if notFound(err) {
		return fmt.Errorf("blob %s in repository %s: %w", dig, repo, ociregistry.ErrBlobUnknown)
	}
	return fmt.Errorf("ocifs: blob %s in repository %s: %w", dig, repo, err)
}

func manifestError(repo string, what string, err error) error {
	if notFound(err) {
		return fmt.Errorf("manifest %s in repository %s: %w", what, repo, ociregistry.ErrManifestUnknown)
	}
	return fmt.Errorf("ocifs: manifest %s in repository %s: %w", what, repo, err)
}

// blobReader reads a whole blob or manifest from its file. Embedding the
// *os.File gives it the file's WriteTo, with which io.Copy to a network
// connection uses sendfile.
type blobReader struct {
	*os.File
	desc ociregistry.Descriptor
}

// Descriptor returns the descriptor of the content.
func (b *blobReader) Descriptor() ociregistry.Descriptor { return b.desc }

// rangeReader reads part of a blob's file.
type rangeReader struct {
	f    *os.File
	lr   io.LimitedReader
	desc ociregistry.Descriptor
}

func (rr *rangeReader) Read(p []byte) (int, error) { return rr.lr.Read(p) }

// WriteTo hands w an *io.LimitedReader of the *os.File, which is what a
// network connection's ReadFrom turns into sendfile.
func (rr *rangeReader) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &rr.lr) }

func (rr *rangeReader) Close() error { return rr.f.Close() }

// Descriptor returns the descriptor of the whole blob.
func (rr *rangeReader) Descriptor() ociregistry.Descriptor { return rr.desc }
