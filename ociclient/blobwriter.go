package ociclient

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ocireg/ociregistry"
)

// maxChunkRetries bounds how often one chunk is sent again after the
// connection dropped.
const maxChunkRetries = 3

// PushBlobChunked starts a chunked upload: writes are gathered into
// chunks of at least chunkSize bytes (Options.ChunkSize when zero, raised
// to the registry's OCI-Chunk-Min-Length) and each is sent with PATCH.
func (c *client) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, &request{
		method:     "POST",
		url:        c.url(ctx, repoPath(repo, "blobs", "uploads")+"/", nil),
		kind:       kindUpload,
		idempotent: true,
	})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("start upload in %s: unexpected status %s", repo, resp.Status)
	}
	loc, err := c.location(resp)
	if err != nil {
		return nil, err
	}
	return c.newBlobWriter(ctx, loc, 0, chunkSize, resp.Header), nil
}

// PushBlobChunkedResume carries on the upload with the given ID, from
// where the registry says it is. It returns an error that Is
// ociregistry.ErrBlobUploadUnknown when there is no such upload, and one
// that Is ociregistry.ErrRangeInvalid when offset is not negative and
// differs from the registry's.
func (c *client) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	loc, err := c.decodeID(ctx, repo, id)
	if err != nil {
		return nil, err
	}
	n, loc, h, err := c.uploadStatus(ctx, loc)
	if err != nil {
		return nil, err
	}
	// A Range of "0-0" stands for both 0 and 1 bytes.
	if offset >= 0 && offset != n && !(n == 0 && offset == 1) {
		return nil, fmt.Errorf("resume upload at %d: registry holds %d bytes: %w", offset, n, ociregistry.ErrRangeInvalid)
	}
	if offset >= 0 {
		n = offset
	}
	// The status carries the registry's OCI-Chunk-Min-Length, if it
	// says it there: the writer that started the upload knew it from
	// the POST, and chunks below it would be refused.
	return c.newBlobWriter(ctx, loc, n, chunkSize, h), nil
}

func (c *client) newBlobWriter(ctx context.Context, loc *url.URL, offset int64, chunkSize int, h http.Header) *blobWriter {
	if chunkSize <= 0 {
		chunkSize = c.opts.ChunkSize
	}
	if h != nil {
		if m, err := strconv.Atoi(h.Get("OCI-Chunk-Min-Length")); err == nil && m > chunkSize {
			chunkSize = m
		}
	}
	return &blobWriter{c: c, ctx: ctx, loc: loc, offset: offset, chunkSize: chunkSize}
}

// blobWriter writes a blob in chunks.
type blobWriter struct {
	c         *client
	ctx       context.Context
	loc       *url.URL
	offset    int64 // bytes the registry holds
	buf       []byte
	chunkSize int
	closed    bool
	committed bool
	err       error
}

var errWriterClosed = errors.New("ociclient: blob writer is closed")

// Write gathers p into the current chunk, sending the chunk when it is
// full.
func (w *blobWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= w.chunkSize {
		if err := w.flush(); err != nil {
			// The bytes of p are not all stored; say none are.
			w.err = err
			return 0, err
		}
	}
	return len(p), nil
}

// flush sends the buffered bytes as one chunk. When the connection
// drops, it asks the registry how much it holds and sends the rest.
func (w *blobWriter) flush() error {
	for attempt := 0; len(w.buf) > 0; attempt++ {
		err := w.patch()
		if err == nil {
			return nil
		}
		// A broken connection or a 5xx may have left part of the
		// chunk stored, and a 416 says the registry holds a different
		// amount than expected: ask it where the upload stands.
		status := ociregistry.HTTPStatus(err)
		resync := isTransient(err) || status >= 500 || status == http.StatusRequestedRangeNotSatisfiable
		if attempt >= maxChunkRetries || !resync || w.ctx.Err() != nil {
			return err
		}
		n, loc, _, serr := w.c.uploadStatus(w.ctx, w.loc)
		if serr != nil {
			return err
		}
		if n < w.offset || n > w.offset+int64(len(w.buf)) {
			return fmt.Errorf("upload holds %d bytes after a failed chunk at %d: %w", n, w.offset, err)
		}
		w.buf = w.buf[n-w.offset:]
		w.offset, w.loc = n, loc
	}
	return nil
}

// patch sends the buffered bytes with PATCH.
func (w *blobWriter) patch() error {
	end := w.offset + int64(len(w.buf)) - 1
	resp, err := w.c.do(w.ctx, &request{
		method: "PATCH",
		url:    w.loc.String(),
		kind:   kindUpload,
		header: http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", w.offset, end)},
		},
		stream: &byteStream{b: w.buf},
		length: int64(len(w.buf)),
	})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.Header.Get("Location") != "" {
		loc, err := w.c.location(resp)
		if err != nil {
			return err
		}
		w.loc = loc
	}
	w.offset = end + 1
	w.buf = w.buf[:0]
	return nil
}

// byteStream reads a byte slice; unlike bytes.Reader it is not a Seeker
// nor a WriterTo, so that net/http treats it as the stream it is.
type byteStream struct{ b []byte }

func (s *byteStream) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// Close sends what is buffered, so that the upload can be resumed by ID
// from where it stands, and releases the writer.
func (w *blobWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.committed || w.err != nil {
		return w.err
	}
	return w.flush()
}

// Size returns the number of bytes written, including those the upload
// held when it was resumed.
func (w *blobWriter) Size() int64 { return w.offset + int64(len(w.buf)) }

// ChunkSize returns the size of the chunks sent.
func (w *blobWriter) ChunkSize() int { return w.chunkSize }

// ID returns the upload's ID for PushBlobChunkedResume. It changes as
// chunks are sent, since some registries keep the upload's state in its
// location.
func (w *blobWriter) ID() string { return encodeID(w.loc) }

// Commit sends the last chunk with the PUT that ends the upload. It
// returns an error that Is ociregistry.ErrDigestInvalid when the content
// does not match dig.
func (w *blobWriter) Commit(dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if w.closed {
		return ociregistry.Descriptor{}, errWriterClosed
	}
	if w.err != nil {
		return ociregistry.Descriptor{}, w.err
	}
	if err := ociregistry.CheckDigest(dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if len(w.buf) > 0 {
		// Distribution answers 416 to a Content-Range for an empty
		// body, so send one only with bytes.
		h.Set("Content-Range", fmt.Sprintf("%d-%d", w.offset, w.offset+int64(len(w.buf))-1))
	}
	resp, err := w.c.do(w.ctx, &request{
		method: "PUT",
		url:    withDigest(w.loc, dig),
		kind:   kindUpload,
		header: h,
		stream: &byteStream{b: w.buf},
		length: int64(len(w.buf)),
	})
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	resp.Body.Close()
	size := w.Size()
	w.committed, w.closed = true, true
	w.buf = nil
	return ociregistry.Descriptor{
		MediaType: "application/octet-stream",
		Digest:    dig,
		Size:      size,
	}, nil
}

// Cancel abandons the upload. After Commit it does nothing.
func (w *blobWriter) Cancel() error {
	if w.committed {
		return nil
	}
	w.closed = true
	w.buf = nil
	resp, err := w.c.do(w.ctx, &request{method: "DELETE", url: w.loc.String(), kind: kindUpload, idempotent: true})
	if err != nil {
		if errors.Is(err, ociregistry.ErrBlobUploadUnknown) {
			return nil
		}
		return err
	}
	resp.Body.Close()
	return nil
}

// ID encoding: an upload's ID is its location, which may hold slashes
// and query parameters, in URL-safe base64 so that servers built on this
// client can put it in a path.
func encodeID(loc *url.URL) string {
	return base64.RawURLEncoding.EncodeToString([]byte(loc.String()))
}

// decodeID returns the location of the upload with the given ID in
// repo. The ID comes from whoever calls PushBlobChunkedResume, which
// for a server built on this client is any HTTP client, so a location
// on a host other than the registry's, or outside repo's uploads, is
// refused: the client would otherwise send requests wherever an ID said
// (an upload the registry placed elsewhere can still be written, but
// not resumed by ID).
func (c *client) decodeID(ctx context.Context, repo, id string) (*url.URL, error) {
	data, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return nil, fmt.Errorf("upload ID %q: %w", id, ociregistry.ErrBlobUploadUnknown)
	}
	u, err := url.Parse(string(data))
	var upload string
	if err == nil {
		upload, _ = strings.CutPrefix(u.Path, "/v2/"+repo+"/blobs/uploads/")
	}
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Host != c.baseURL(ctx).Host ||
		upload == u.Path || upload == "" || slices.Contains(strings.Split(upload, "/"), "..") {
		return nil, fmt.Errorf("upload ID %.200q is not an upload in %s: %w", id, repo, ociregistry.ErrBlobUploadUnknown)
	}
	return u, nil
}

// uploadStatus returns the number of bytes the upload at loc holds,
// from its Range header, its current location, and the headers of the
// status response, where the registry may say its OCI-Chunk-Min-Length.
func (c *client) uploadStatus(ctx context.Context, loc *url.URL) (int64, *url.URL, http.Header, error) {
	resp, err := c.do(ctx, &request{method: "GET", url: loc.String(), kind: kindUpload, idempotent: true})
	if err != nil {
		return 0, nil, nil, err
	}
	resp.Body.Close()
	n, err := rangeEnd(resp.Header.Get("Range"))
	if err != nil {
		return 0, nil, nil, err
	}
	newLoc := loc
	if resp.Header.Get("Location") != "" {
		if newLoc, err = c.location(resp); err != nil {
			return 0, nil, nil, err
		}
	}
	return n, newLoc, resp.Header, nil
}

// rangeEnd returns the number of bytes held by an upload whose Range
// header is h: "0-<last>", inclusive, so one more than last. The header
// cannot tell no bytes from one: both are "0-0" on most registries, and
// the empty upload is the likelier.
func rangeEnd(h string) (int64, error) {
	if h == "" {
		return 0, nil
	}
	h = strings.TrimPrefix(h, "bytes=")
	s, e, ok := strings.Cut(h, "-")
	if !ok || s != "0" {
		return 0, fmt.Errorf("registry sent a bad upload Range %q", h)
	}
	end, err := strconv.ParseInt(e, 10, 64)
	// The size, end+1, must be an int64 too.
	if err != nil || end < -1 || end == math.MaxInt64 {
		return 0, fmt.Errorf("registry sent a bad upload Range %q", h)
	}
	if end <= 0 {
		return 0, nil
	}
	return end + 1, nil
}
