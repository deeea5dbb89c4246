package ocis3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ocireg/ociregistry"
)

// blobLink is what a repository's link to a blob holds. Linked changes
// on every write, so that a refreshed link has a new ETag and the
// garbage collector's conditional delete of the old one fails.
type blobLink struct {
	MediaType string    `json:"mediaType"`
	Size      int64     `json:"size"`
	Linked    time.Time `json:"linked"`
}

// readLink reads a repository's link to a blob.
func (r *Registry) readLink(ctx context.Context, repo string, d ociregistry.Digest) (blobLink, object, error) {
	data, obj, err := r.get(ctx, r.blobLinkKey(repo, d))
	if err != nil {
		return blobLink{}, object{}, blobError(repo, d, err)
	}
	var l blobLink
	if err := json.Unmarshal(data, &l); err != nil || l.Size < 0 {
		return blobLink{}, object{}, fmt.Errorf("ocis3: corrupt link to blob %s in repository %s", d, repo)
	}
	return l, obj, nil
}

// GetBlob returns the content of a blob in repo, streamed from S3; with
// Config.Redirect the reader holds no content and its descriptor's URLs
// hold a presigned URL of it instead, which ociserver answers with a
// redirect. It costs two S3 requests (one with Redirect). It returns an
// error that Is ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid
// for a bad name or digest, and ociregistry.ErrBlobUnknown when repo does
// not hold the blob.
func (r *Registry) GetBlob(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
	return r.GetBlobRange(ctx, repo, d, 0, -1)
}

// GetBlobRange returns the bytes of a blob in repo from offset0 up to,
// not including, offset1, with a ranged GET; a negative offset1 or one
// past the end means the end. It returns the errors GetBlob does, and an
// error that Is ociregistry.ErrRangeInvalid when offset0 is negative,
// past the end of the blob, or greater than a non-negative offset1.
func (r *Registry) GetBlobRange(ctx context.Context, repo string, d ociregistry.Digest, offset0, offset1 int64) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, d); err != nil {
		return nil, err
	}
	l, _, err := r.readLink(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	desc := ociregistry.Descriptor{MediaType: l.MediaType, Digest: d, Size: l.Size}
	whole := offset0 == 0 && offset1 < 0
	if offset1 < 0 || offset1 > l.Size {
		offset1 = l.Size
	}
	if offset0 < 0 || offset0 > l.Size || offset0 > offset1 {
		return nil, fmt.Errorf("range %d-%d of blob %s of size %d: %w", offset0, offset1, d, l.Size, ociregistry.ErrRangeInvalid)
	}
	if r.cfg.Redirect {
		req, err := r.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: aws.String(r.blobKey(d))},
			s3.WithPresignExpires(r.cfg.PresignExpiry))
		if err != nil {
			return nil, fmt.Errorf("ocis3: presigning blob %s: %w", d, err)
		}
		desc.URLs = []string{req.URL}
		return &bytesReader{Reader: bytes.NewReader(nil), desc: desc}, nil
	}
	if offset0 == offset1 {
		return &bytesReader{Reader: bytes.NewReader(nil), desc: desc}, nil
	}
	in := &s3.GetObjectInput{Bucket: &r.bucket, Key: aws.String(r.blobKey(d))}
	if !whole {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset0, offset1-1))
	}
	out, err := r.client.GetObject(ctx, in)
	if err != nil {
		return nil, blobError(repo, d, err)
	}
	return &streamReader{
		body: out.Body,
		lr:   io.LimitedReader{R: out.Body, N: offset1 - offset0},
		desc: desc,
	}, nil
}

// ResolveBlob returns the descriptor of a blob in repo, reading only its
// link: one S3 request. It returns the errors GetBlob does.
func (r *Registry) ResolveBlob(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, d); err != nil {
		return ociregistry.Descriptor{}, err
	}
	l, _, err := r.readLink(ctx, repo, d)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return ociregistry.Descriptor{MediaType: l.MediaType, Digest: d, Size: l.Size}, nil
}

// Metadata keys of manifest and tag objects.
const (
	metaMediaType = "mediatype"
	metaDigest    = "digest"
)

// GetManifest returns the manifest with the given sha256 or sha512
// digest in repo: one S3 request (a GET, or a HEAD when the Registry
// holds the content already). It returns an error that Is
// ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for a bad
// name or digest, and ociregistry.ErrManifestUnknown when repo does not
// hold the manifest.
func (r *Registry) GetManifest(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, d); err != nil {
		return nil, err
	}
	key := r.manifestKey(repo, d)
	if data, ok := r.manifests.get(d); ok {
		// The content is known; whether repo holds it is not.
		obj, err := r.head(ctx, key)
		if err != nil {
			return nil, manifestError(repo, string(d), err)
		}
		if obj.size == int64(len(data)) {
			desc := ociregistry.Descriptor{MediaType: obj.meta[metaMediaType], Digest: d, Size: obj.size}
			return &bytesReader{Reader: bytes.NewReader(data), desc: desc}, nil
		}
	}
	data, obj, err := r.get(ctx, key)
	if err != nil {
		return nil, manifestError(repo, string(d), err)
	}
	r.cacheManifest(d, data)
	desc := ociregistry.Descriptor{MediaType: obj.meta[metaMediaType], Digest: d, Size: int64(len(data))}
	return &bytesReader{Reader: bytes.NewReader(data), desc: desc}, nil
}

// cacheManifest keeps data as the content of d when it is.
func (r *Registry) cacheManifest(d ociregistry.Digest, data []byte) {
	if ociregistry.CheckDigest(d) == nil && d.Algorithm().FromBytes(data) == d {
		r.manifests.add(d, data)
	}
}

// ResolveManifest returns the descriptor of a manifest in repo with one
// HEAD, or the errors GetManifest does.
func (r *Registry) ResolveManifest(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, d); err != nil {
		return ociregistry.Descriptor{}, err
	}
	obj, err := r.head(ctx, r.manifestKey(repo, d))
	if err != nil {
		return ociregistry.Descriptor{}, manifestError(repo, string(d), err)
	}
	return ociregistry.Descriptor{MediaType: obj.meta[metaMediaType], Digest: d, Size: obj.size}, nil
}

// GetTag returns the manifest that a tag in repo points to: one S3
// request, since the tag holds a copy of it (a GET, or a HEAD when the
// Registry holds the content the tag named last time). It returns an
// error that Is ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrManifestInvalid for a bad tag, and
// ociregistry.ErrManifestUnknown when repo has no such tag.
func (r *Registry) GetTag(ctx context.Context, repo string, tagName string) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	if err := checkTag(tagName); err != nil {
		return nil, err
	}
	key := r.tagKey(repo, tagName)
	if _, ok := r.manifests.get(r.tagHint(key)); ok {
		// The tag named content that is known: a HEAD says what
		// it names now, and the content comes from memory if it is
		// the same.
		obj, err := r.head(ctx, key)
		if err != nil {
			return nil, manifestError(repo, "tag "+tagName, err)
		}
		desc, err := tagDescriptor(obj, obj.size)
		if err != nil {
			return nil, fmt.Errorf("ocis3: tag %s in repository %s: %w", tagName, repo, err)
		}
		if data, ok := r.manifests.get(desc.Digest); ok && int64(len(data)) == desc.Size {
			return &bytesReader{Reader: bytes.NewReader(data), desc: desc}, nil
		}
	}
	data, obj, err := r.get(ctx, key)
	if err != nil {
		return nil, manifestError(repo, "tag "+tagName, err)
	}
	desc, err := tagDescriptor(obj, int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("ocis3: tag %s in repository %s: %w", tagName, repo, err)
	}
	r.cacheManifest(desc.Digest, data)
	r.setTagHint(key, desc.Digest)
	return &bytesReader{Reader: bytes.NewReader(data), desc: desc}, nil
}

// maxTagHints bounds the tags whose last digest a Registry remembers.
const maxTagHints = 10000

// tagHint returns the digest that the tag with the given key named when
// last read by this Registry, or "". It is a hint of which request to
// make, never taken for what the tag names.
func (r *Registry) tagHint(key string) ociregistry.Digest {
	r.hintMu.Lock()
	defer r.hintMu.Unlock()
	return r.tagHints[key]
}

func (r *Registry) setTagHint(key string, d ociregistry.Digest) {
	r.hintMu.Lock()
	defer r.hintMu.Unlock()
	if len(r.tagHints) >= maxTagHints {
		clear(r.tagHints)
	}
	r.tagHints[key] = d
}

// ResolveTag returns the descriptor of the manifest that a tag in repo
// points to with one HEAD, or the errors GetTag does.
func (r *Registry) ResolveTag(ctx context.Context, repo string, tagName string) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := checkTag(tagName); err != nil {
		return ociregistry.Descriptor{}, err
	}
	obj, err := r.head(ctx, r.tagKey(repo, tagName))
	if err != nil {
		return ociregistry.Descriptor{}, manifestError(repo, "tag "+tagName, err)
	}
	desc, err := tagDescriptor(obj, obj.size)
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocis3: tag %s in repository %s: %w", tagName, repo, err)
	}
	return desc, nil
}

// tagDescriptor returns the descriptor a tag object's metadata holds.
func tagDescriptor(obj object, size int64) (ociregistry.Descriptor, error) {
	d := ociregistry.Digest(obj.meta[metaDigest])
	if ociregistry.CheckDigest(d) != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("corrupt tag: bad digest %q", d)
	}
	return ociregistry.Descriptor{MediaType: obj.meta[metaMediaType], Digest: d, Size: size}, nil
}

// bytesReader reads content held in memory.
type bytesReader struct {
	*bytes.Reader
	desc ociregistry.Descriptor
}

func (b *bytesReader) Close() error { return nil }

// Descriptor returns the descriptor of the content.
func (b *bytesReader) Descriptor() ociregistry.Descriptor { return b.desc }

// streamReader reads a blob, or part of one, from an S3 response body,
// stopping at the length asked for whatever the body holds.
type streamReader struct {
	body io.ReadCloser
	lr   io.LimitedReader
	desc ociregistry.Descriptor
}

func (s *streamReader) Read(p []byte) (int, error) { return s.lr.Read(p) }

// streamBufferSize is the size of the reads WriteTo makes of S3's
// response: io.Copy's 32 KiB would cost a system call and a write to
// the client for each.
const streamBufferSize = 256 << 10

var streamBufPool = sync.Pool{New: func() any {
	b := make([]byte, streamBufferSize)
	return &b
}}

// WriteTo copies the content to w through a large buffer.
func (s *streamReader) WriteTo(w io.Writer) (int64, error) {
	bp := streamBufPool.Get().(*[]byte)
	defer streamBufPool.Put(bp)
	// A writer's ReadFrom would take its own, smaller buffer.
	return io.CopyBuffer(writerOnly{w}, &s.lr, *bp)
}

// writerOnly hides any ReadFrom of its Writer.
type writerOnly struct{ io.Writer }

func (s *streamReader) Close() error { return s.body.Close() }

// Descriptor returns the descriptor of the whole blob.
func (s *streamReader) Descriptor() ociregistry.Descriptor { return s.desc }
