package ociclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
)

// manifestAccept is the Accept header of manifest requests: every
// manifest type a registry may hold.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.artifact.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"application/vnd.docker.distribution.manifest.v1+json",
}, ", ")

// GetBlob returns the content of a blob, following redirects to wherever
// the registry stores it. Reading it returns an error that Is
// ociregistry.ErrDigestInvalid when the content does not match the digest
// and one that Is ociregistry.ErrSizeInvalid when its length does not
// match, in place of io.EOF, so bad content is never read as good. It
// returns an error that Is ociregistry.ErrBlobUnknown when there is no
// such blob.
func (c *client) GetBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{
		method:     "GET",
		url:        repoPath(repo, "blobs", string(dig)),
		kind:       kindBlob,
		idempotent: true,
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("get blob %s: unexpected status %s", dig, resp.Status)
	}
	desc := ociregistry.Descriptor{
		MediaType: blobMediaType(resp.Header),
		Digest:    dig,
		Size:      resp.ContentLength,
	}
	return newVerifyingReader(resp.Body, desc), nil
}

// GetBlobRange returns the bytes of a blob from offset0 up to, not
// including, offset1, asking the registry for that range alone. A
// registry that answers with the whole blob is coped with by skipping
// and truncating it here. It returns an error that Is
// ociregistry.ErrRangeInvalid for a range that does not fit the blob, and
// the errors GetBlob does.
func (c *client) GetBlobRange(ctx context.Context, repo string, dig ociregistry.Digest, offset0, offset1 int64) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return nil, err
	}
	if offset0 < 0 || (offset1 >= 0 && offset0 > offset1) {
		return nil, fmt.Errorf("range %d-%d of blob %s: %w", offset0, offset1, dig, ociregistry.ErrRangeInvalid)
	}
	if offset0 == 0 && offset1 < 0 {
		return c.GetBlob(ctx, repo, dig)
	}
	if offset0 == offset1 {
		// HTTP cannot ask for an empty range.
		return c.emptyRange(ctx, repo, dig, offset0)
	}
	rng := fmt.Sprintf("bytes=%d-", offset0)
	if offset1 >= 0 {
		rng += strconv.FormatInt(offset1-1, 10)
	}
	resp, err := c.do(ctx, &request{
		method:     "GET",
		url:        repoPath(repo, "blobs", string(dig)),
		kind:       kindBlob,
		header:     http.Header{"Range": {rng}},
		idempotent: true,
	})
	if err != nil {
		if ociregistry.HTTPStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			return c.refusedRange(ctx, repo, dig, offset0, offset1)
		}
		return nil, err
	}
	desc := ociregistry.Descriptor{
		MediaType: blobMediaType(resp.Header),
		Digest:    dig,
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		return partialRange(resp, desc, offset0, offset1, rng)
	case http.StatusOK:
		return rangeOfWhole(resp, desc, offset0, offset1)
	}
	resp.Body.Close()
	return nil, fmt.Errorf("get blob %s: unexpected status %s", dig, resp.Status)
}

// partialRange returns the reader of resp, a 206 answer to a request for
// the bytes from offset0 up to offset1 (rng, as sent), and desc with the
// size that resp gives. It fails when resp's range does not start at
// offset0, and cuts off what resp sends past offset1.
func partialRange(resp *http.Response, desc ociregistry.Descriptor, offset0, offset1 int64, rng string) (ociregistry.BlobReader, error) {
	start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
	if !ok || start != offset0 {
		resp.Body.Close()
		return nil, fmt.Errorf("get blob %s: registry answered range %q to %q", desc.Digest, resp.Header.Get("Content-Range"), rng)
	}
	desc.Size = size
	body := resp.Body
	if offset1 >= 0 && resp.ContentLength > offset1-offset0 {
		body = readCloser{io.LimitReader(body, offset1-offset0), body}
	}
	return &blobReader{ReadCloser: body, desc: desc}, nil
}

// rangeOfWhole returns a reader of the bytes from offset0 up to offset1
// of resp, a 200 answer with the whole blob from a registry that ignored
// Range, by skipping and truncating it. It answers an error that Is
// ociregistry.ErrRangeInvalid when the blob ends before offset0.
func rangeOfWhole(resp *http.Response, desc ociregistry.Descriptor, offset0, offset1 int64) (ociregistry.BlobReader, error) {
	desc.Size = resp.ContentLength
	if desc.Size >= 0 && offset0 > desc.Size {
		resp.Body.Close()
		return nil, fmt.Errorf("range %d-%d of blob %s of size %d: %w", offset0, offset1, desc.Digest, desc.Size, ociregistry.ErrRangeInvalid)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, offset0); err != nil {
		resp.Body.Close()
		if err == io.EOF {
			err = fmt.Errorf("range %d-%d of blob %s: %w", offset0, offset1, desc.Digest, ociregistry.ErrRangeInvalid)
		}
		return nil, err
	}
	var body io.Reader = resp.Body
	if offset1 >= 0 {
		body = io.LimitReader(body, offset1-offset0)
	}
	return &blobReader{ReadCloser: readCloser{body, resp.Body}, desc: desc}, nil
}

// refusedRange answers GetBlobRange when the registry answered 416. A
// range that starts at the end is empty, not invalid, but HTTP has no way
// to ask for it; and some registries refuse ranges they should serve (an
// open end, or an end past the blob), so a range that fits the blob is
// cut out of the whole blob here.
func (c *client) refusedRange(ctx context.Context, repo string, dig ociregistry.Digest, offset0, offset1 int64) (ociregistry.BlobReader, error) {
	desc, err := c.ResolveBlob(ctx, repo, dig)
	if err != nil {
		return nil, err
	}
	if offset0 >= desc.Size {
		return c.emptyRange(ctx, repo, dig, offset0)
	}
	rd, err := c.GetBlob(ctx, repo, dig)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, rd, offset0); err != nil {
		rd.Close()
		return nil, fmt.Errorf("get blob %s: skipping to %d: %w", dig, offset0, err)
	}
	var body io.Reader = rd
	if offset1 >= 0 {
		body = io.LimitReader(rd, offset1-offset0)
	}
	return &blobReader{ReadCloser: readCloser{body, rd}, desc: rd.Descriptor()}, nil
}

// emptyRange returns an empty reader for a range that starts at offset
// and holds no bytes, or an error that Is ErrRangeInvalid when offset is
// past the end of the blob.
func (c *client) emptyRange(ctx context.Context, repo string, dig ociregistry.Digest, offset int64) (ociregistry.BlobReader, error) {
	desc, err := c.ResolveBlob(ctx, repo, dig)
	if err != nil {
		return nil, err
	}
	if offset > desc.Size {
		return nil, fmt.Errorf("range starting at %d of blob %s of size %d: %w", offset, dig, desc.Size, ociregistry.ErrRangeInvalid)
	}
	return &blobReader{ReadCloser: io.NopCloser(bytes.NewReader(nil)), desc: desc}, nil
}

// parseContentRange parses the Content-Range of a 206 response, "bytes
// start-end/size", and returns start and size (-1 when "*"). It refuses
// a header whose numbers are not plain digits or whose range does not fit
// in the size.
func parseContentRange(h string) (start, size int64, ok bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, total, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	first, last, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	// The size becomes the blob's, so a range that does not fit in
	// it, or whose ends are out of order, is refused.
	start, ok1 := parseDecimal(first)
	end, ok2 := parseDecimal(last)
	if !ok1 || !ok2 || end < start {
		return 0, 0, false
	}
	if total == "*" {
		return start, -1, true
	}
	size, ok = parseDecimal(total)
	if !ok || end >= size {
		return 0, 0, false
	}
	return start, size, true
}

// parseDecimal parses a non-negative decimal integer of digits only, as
// HTTP headers write them (strconv also takes a sign).
func parseDecimal(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// GetManifest returns the manifest with the given digest. It returns an
// error that Is ociregistry.ErrManifestUnknown when there is none, and
// one that Is ociregistry.ErrDigestInvalid when the registry's content
// does not match the digest.
func (c *client) GetManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return nil, err
	}
	return c.getManifest(ctx, repo, string(dig), dig)
}

// GetTag returns the manifest that a tag points to. It returns an error
// that Is ociregistry.ErrManifestUnknown when there is no such tag.
func (c *client) GetTag(ctx context.Context, repo string, tagName string) (ociregistry.BlobReader, error) {
	if err := checkRepoTag(repo, tagName); err != nil {
		return nil, err
	}
	return c.getManifest(ctx, repo, tagName, "")
}

// getManifest reads the manifest ref (a tag or a digest) and checks it
// against dig when dig is not empty, or against the registry's
// Docker-Content-Digest otherwise.
func (c *client) getManifest(ctx context.Context, repo, ref string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	resp, err := c.do(ctx, &request{
		method:     "GET",
		url:        repoPath(repo, "manifests", ref),
		kind:       kindManifest,
		header:     http.Header{"Accept": {manifestAccept}},
		idempotent: true,
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	max := c.opts.MaxManifestSize
	if resp.ContentLength > max {
		return nil, fmt.Errorf("manifest %s is %d bytes, more than the limit of %d: %w", ref, resp.ContentLength, max, ociregistry.ErrManifestInvalid)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if errors.Is(err, io.ErrUnexpectedEOF) && resp.ContentLength >= 0 {
		// The body ended before its Content-Length: say so in the
		// terms of the root package, as for any length that does
		// not match.
		return nil, fmt.Errorf("manifest %s: got %d bytes, Content-Length said %d: %w (%w)", ref, len(data), resp.ContentLength, ociregistry.ErrSizeInvalid, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", ref, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("manifest %s is more than the limit of %d bytes: %w", ref, max, ociregistry.ErrManifestInvalid)
	}
	if resp.ContentLength >= 0 && int64(len(data)) != resp.ContentLength {
		return nil, fmt.Errorf("manifest %s: got %d bytes, Content-Length said %d: %w", ref, len(data), resp.ContentLength, ociregistry.ErrSizeInvalid)
	}
	if dig == "" {
		dig = ociregistry.Digest(resp.Header.Get("Docker-Content-Digest"))
		if dig == "" || ociregistry.CheckDigest(dig) != nil {
			dig = digest.FromBytes(data)
		}
	}
	if got := dig.Algorithm().FromBytes(data); got != dig {
		return nil, fmt.Errorf("manifest %s: content has digest %s, want %s: %w", ref, got, dig, ociregistry.ErrDigestInvalid)
	}
	desc := ociregistry.Descriptor{
		MediaType: manifestMediaType(resp.Header, data),
		Digest:    dig,
		Size:      int64(len(data)),
	}
	return &blobReader{ReadCloser: io.NopCloser(bytes.NewReader(data)), desc: desc}, nil
}

// ResolveBlob returns the descriptor of a blob, from a HEAD request. It
// returns an error that Is ociregistry.ErrBlobUnknown when there is no
// such blob.
func (c *client) ResolveBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	resp, err := c.do(ctx, &request{
		method:     "HEAD",
		url:        repoPath(repo, "blobs", string(dig)),
		kind:       kindBlob,
		idempotent: true,
	})
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return ociregistry.Descriptor{}, fmt.Errorf("resolve blob %s: registry sent no Content-Length", dig)
	}
	return ociregistry.Descriptor{
		MediaType: blobMediaType(resp.Header),
		Digest:    dig,
		Size:      resp.ContentLength,
	}, nil
}

// ResolveManifest returns the descriptor of a manifest, from a HEAD
// request. It returns an error that Is ociregistry.ErrManifestUnknown
// when there is none.
func (c *client) ResolveManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return c.resolveManifest(ctx, repo, string(dig), dig)
}

// ResolveTag returns the descriptor of the manifest that a tag points to.
// It returns an error that Is ociregistry.ErrManifestUnknown when there
// is no such tag.
func (c *client) ResolveTag(ctx context.Context, repo string, tagName string) (ociregistry.Descriptor, error) {
	if err := checkRepoTag(repo, tagName); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return c.resolveManifest(ctx, repo, tagName, "")
}

func (c *client) resolveManifest(ctx context.Context, repo, ref string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	resp, err := c.do(ctx, &request{
		method:     "HEAD",
		url:        repoPath(repo, "manifests", ref),
		kind:       kindManifest,
		header:     http.Header{"Accept": {manifestAccept}},
		idempotent: true,
	})
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	resp.Body.Close()
	hdig := ociregistry.Digest(resp.Header.Get("Docker-Content-Digest"))
	mediaType := contentType(resp.Header)
	if resp.ContentLength < 0 || mediaType == "" || (dig == "" && ociregistry.CheckDigest(hdig) != nil) {
		// Some registries leave out what a HEAD should say; the
		// manifest itself says it all.
		r, err := c.getManifest(ctx, repo, ref, dig)
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		r.Close()
		return r.Descriptor(), nil
	}
	if dig == "" {
		dig = hdig
	}
	return ociregistry.Descriptor{
		MediaType: mediaType,
		Digest:    dig,
		Size:      resp.ContentLength,
	}, nil
}

// contentType returns the media type of a response's Content-Type,
// without parameters.
func contentType(h http.Header) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return ct
}

// blobMediaType returns the media type of a blob response.
func blobMediaType(h http.Header) string {
	if mt := contentType(h); mt != "" {
		return mt
	}
	return "application/octet-stream"
}

// manifestMediaType returns the media type of a manifest: its
// Content-Type, or its mediaType field when the registry sent a generic
// Content-Type.
func manifestMediaType(h http.Header, data []byte) string {
	mt := contentType(h)
	if mt != "" && mt != "application/json" && mt != "text/plain" && mt != "application/octet-stream" {
		return mt
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(data, &m) == nil && m.MediaType != "" {
		return m.MediaType
	}
	return mt
}

// blobReader is a BlobReader over a response body.
type blobReader struct {
	io.ReadCloser
	desc ociregistry.Descriptor
}

func (r *blobReader) Descriptor() ociregistry.Descriptor { return r.desc }

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// verifyingReader reads a blob and checks its length and digest as it
// goes, answering an error in place of io.EOF when they do not match.
type verifyingReader struct {
	body     io.ReadCloser
	desc     ociregistry.Descriptor
	verifier digest.Verifier
	n        int64
	err      error
}

func newVerifyingReader(body io.ReadCloser, desc ociregistry.Descriptor) *verifyingReader {
	r := &verifyingReader{body: body, desc: desc}
	if desc.Digest.Algorithm().Available() {
		r.verifier = desc.Digest.Verifier()
	}
	return r
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.body.Read(p)
	r.n += int64(n)
	if r.verifier != nil {
		r.verifier.Write(p[:n])
	}
	if r.desc.Size >= 0 && r.n > r.desc.Size {
		r.err = fmt.Errorf("blob %s: got more than %d bytes: %w", r.desc.Digest, r.desc.Size, ociregistry.ErrSizeInvalid)
		return n, r.err
	}
	switch err {
	case nil:
		return n, nil
	case io.EOF:
		if r.desc.Size >= 0 && r.n != r.desc.Size {
			err = fmt.Errorf("blob %s: got %d bytes, want %d: %w", r.desc.Digest, r.n, r.desc.Size, ociregistry.ErrSizeInvalid)
		} else if r.verifier != nil && !r.verifier.Verified() {
			err = fmt.Errorf("blob %s: content does not match its digest: %w", r.desc.Digest, ociregistry.ErrDigestInvalid)
		}
	case io.ErrUnexpectedEOF:
		err = fmt.Errorf("blob %s: got %d bytes, want %d: %w", r.desc.Digest, r.n, r.desc.Size, io.ErrUnexpectedEOF)
	}
	r.err = err
	return n, err
}

func (r *verifyingReader) Close() error                       { return r.body.Close() }
func (r *verifyingReader) Descriptor() ociregistry.Descriptor { return r.desc }

// checkRepoTag checks a repository name and a tag before they go into a
// URL, answering the error of ociregistry.CheckRepository or
// ociregistry.CheckTag.
func checkRepoTag(repo, tag string) error {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return err
	}
	return ociregistry.CheckTag(tag)
}
