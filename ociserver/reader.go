package ociserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/ocireg/ociregistry"
)

// getBlob answers GET and HEAD of /v2/<name>/blobs/<digest>, with a Range
// header or without.
func (s *server) getBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	d := ociregistry.Digest(rt.ref)
	if err := ociregistry.CheckDigest(d); err != nil {
		return err
	}
	if req.Method == http.MethodHead {
		desc, err := s.resolveBlob(ctx, rt.repo, d)
		if err != nil {
			return err
		}
		if len(desc.URLs) > 0 {
			redirect(w, desc.URLs[0])
			return nil
		}
		setBlobHeaders(w, desc, desc.Size)
		w.Header().Set("Accept-Ranges", "bytes")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if h := req.Header.Get("Range"); h != "" {
		br, ignore, err := parseRange(h)
		if err != nil {
			// A malformed range is 416 only for a blob that is
			// there, with its size, as RFC 9110 asks.
			desc, rerr := s.resolveBlob(ctx, rt.repo, d)
			if rerr != nil {
				return rerr
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", desc.Size))
			return err
		}
		if !ignore {
			return s.getBlobRange(w, req, rt.repo, d, br)
		}
	}
	rd, err := s.backend.GetBlob(ctx, rt.repo, d)
	if err != nil {
		return err
	}
	defer rd.Close()
	desc := rd.Descriptor()
	if len(desc.URLs) > 0 {
		redirect(w, desc.URLs[0])
		return nil
	}
	setBlobHeaders(w, desc, desc.Size)
	w.Header().Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	// io.Copy lets a reader that is an *os.File, or that implements
	// io.WriterTo, reach the connection directly (sendfile).
	s.copyBody(w, req, rd)
	return nil
}

// getBlobRange answers a GET of a blob with a satisfiable or unsatisfiable
// single range.
func (s *server) getBlobRange(w http.ResponseWriter, req *http.Request, repo string, d ociregistry.Digest, br byteRange) error {
	ctx := req.Context()
	start, end := br.start, br.end
	if br.suffix {
		// The start of a suffix range depends on the blob's size.
		desc, err := s.backend.ResolveBlob(ctx, repo, d)
		if err != nil {
			return err
		}
		if len(desc.URLs) > 0 {
			redirect(w, desc.URLs[0])
			return nil
		}
		if desc.Size == 0 {
			return emptyBlob(w, desc)
		}
		if br.end == 0 {
			return rangeNotSatisfiable(w, desc.Size, "empty suffix range")
		}
		start, end = max(desc.Size-br.end, 0), desc.Size-1
	}
	offset1 := int64(-1)
	if end >= 0 && end < math.MaxInt64 {
		offset1 = end + 1
	}
	rd, err := s.backend.GetBlobRange(ctx, repo, d, start, offset1)
	if err != nil {
		if isRangeInvalid(err) {
			// The backend's message speaks of its own offsets (an
			// exclusive end, cut to the blob's size): the client is
			// told of the range it asked for.
			size := int64(-1)
			if desc, rerr := s.backend.ResolveBlob(ctx, repo, d); rerr == nil {
				if desc.Size == 0 {
					return emptyBlob(w, desc)
				}
				size = desc.Size
			}
			return rangeNotSatisfiable(w, size, unsatisfiedRange(d, start, end, size))
		}
		return err
	}
	defer rd.Close()
	desc := rd.Descriptor()
	if len(desc.URLs) > 0 {
		redirect(w, desc.URLs[0])
		return nil
	}
	if desc.Size == 0 {
		return emptyBlob(w, desc)
	}
	if start >= desc.Size {
		return rangeNotSatisfiable(w, desc.Size, unsatisfiedRange(d, start, end, desc.Size))
	}
	if end < 0 || end >= desc.Size {
		end = desc.Size - 1
	}
	setBlobHeaders(w, desc, end-start+1)
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, desc.Size))
	w.WriteHeader(http.StatusPartialContent)
	s.copyBody(&boundedWriter{w: w, n: end - start + 1}, req, rd)
	return nil
}

// emptyBlob answers a ranged GET of the empty blob desc with the whole
// of it: no range of it can be satisfied, and RFC 9110 lets a server
// ignore a Range, as net/http's file server (and Distribution with it)
// does for empty content, so that a client that always asks for
// "bytes=0-" gets the empty blob rather than 416.
func emptyBlob(w http.ResponseWriter, desc ociregistry.Descriptor) error {
	setBlobHeaders(w, desc, 0)
	w.Header().Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	return nil
}

// boundedWriter passes at most n bytes on to w, so that a backend that
// sends more than the range it was asked for cannot write past the
// Content-Length. It bounds the writer rather than the reader so that a
// blob reader's WriteTo still runs: given an *io.LimitedReader (an
// *os.File's range, as ocifs has) that already stops within n, ReadFrom
// hands it to w unchanged, where the connection turns it into sendfile.
type boundedWriter struct {
	w io.Writer
	n int64
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	var err error
	if int64(len(p)) > b.n {
		p, err = p[:b.n], errRangeOverrun
	}
	n, werr := b.w.Write(p)
	b.n -= int64(n)
	if werr != nil {
		err = werr
	}
	return n, err
}

func (b *boundedWriter) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); !ok || lr.N > b.n {
		src = io.LimitReader(src, b.n)
	}
	n, err := io.Copy(b.w, src)
	b.n -= n
	return n, err
}

// errRangeOverrun is logged when a backend's range reader, writing
// through boundedWriter.Write, goes past the range. (What ReadFrom cuts
// off is not seen: it stops reading at the range's end.)
var errRangeOverrun = errors.New("backend sent more than the range asked for")

// copyBody copies a response body once the status has been sent, when
// nothing but a log record can report a failure.
func (s *server) copyBody(w io.Writer, req *http.Request, r io.Reader) {
	if _, err := io.Copy(w, r); err != nil && req.Context().Err() == nil {
		s.logger.Error("cannot send body", "method", req.Method, "path", req.URL.Path, "err", err)
	}
}

// setBlobHeaders sets the headers of a successful blob response with a
// body of length bytes.
func setBlobHeaders(w http.ResponseWriter, desc ociregistry.Descriptor, length int64) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Set("Docker-Content-Digest", string(desc.Digest))
}

// redirect sends the client to url, where the content is served.
func redirect(w http.ResponseWriter, url string) {
	w.Header().Set("Location", url)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// rangeNotSatisfiable returns the 416 error for a range that a blob of
// the given size (or of unknown size, when negative) cannot satisfy, and
// sets the Content-Range header that RFC 9110 asks for.
func rangeNotSatisfiable(w http.ResponseWriter, size int64, msg string) error {
	if size >= 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
	}
	return fmt.Errorf("%s: %w", msg, ociregistry.ErrRangeInvalid)
}

// unsatisfiedRange describes the range start-end (inclusive, end -1 when
// open) that a blob of the given size (negative when not known) cannot
// satisfy, in the terms of the client's Range header.
func unsatisfiedRange(d ociregistry.Digest, start, end, size int64) string {
	r := fmt.Sprintf("bytes=%d-", start)
	if end >= 0 {
		r += strconv.FormatInt(end, 10)
	}
	if size < 0 {
		return fmt.Sprintf("range %s is not within blob %s", r, d)
	}
	return fmt.Sprintf("range %s starts at or past the end of blob %s of %d bytes", r, d, size)
}

// isRangeInvalid reports whether err is the backend's answer to a range
// out of bounds.
func isRangeInvalid(err error) bool {
	return ociregistry.HTTPStatus(err) == http.StatusRequestedRangeNotSatisfiable
}

// byteRange is one range of a Range header: bytes start to end
// inclusive, end being -1 when open; or, when suffix is set, the last end
// bytes.
type byteRange struct {
	start, end int64
	suffix     bool
}

// parseRange parses a Range header of one byte range. It reports
// ignore for a header that is absent, of another unit than bytes, or that
// asks for several ranges, which RFC 9110 lets a server ignore and answer
// with the whole content; and an error that Is ErrRangeInvalid for a
// malformed byte range, answered 416 as net/http's ServeContent does.
func parseRange(h string) (br byteRange, ignore bool, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return byteRange{}, true, nil
	}
	bad := func() (byteRange, bool, error) {
		return byteRange{}, false, fmt.Errorf("malformed range %q: %w", h, ociregistry.ErrRangeInvalid)
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return bad()
	}
	if first == "" {
		n, ok := parsePosition(last)
		if !ok {
			return bad()
		}
		return byteRange{end: n, suffix: true}, false, nil
	}
	start, ok := parsePosition(first)
	if !ok {
		return bad()
	}
	if last == "" {
		return byteRange{start: start, end: -1}, false, nil
	}
	end, ok := parsePosition(last)
	if !ok || end < start {
		return bad()
	}
	return byteRange{start: start, end: end}, false, nil
}

// parsePosition parses a position or a suffix length of a Range header,
// digits only. RFC 9110 sets no bound on its digits, so one too big for
// an int64 is taken as math.MaxInt64, which is past the end of any blob:
// as a last position or a suffix length it means the whole blob, as a
// first position a range that cannot be satisfied.
func parsePosition(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Digits only, so the one error left is a value out of range.
		return math.MaxInt64, true
	}
	return n, true
}

// parseUint parses a non-negative decimal integer of digits only.
func parseUint(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// getManifest answers GET and HEAD of /v2/<name>/manifests/<reference>.
// The manifest is served as stored, whatever the Accept header says.
func (s *server) getManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	d, err := checkLookupRef(rt.ref)
	if err != nil {
		return err
	}
	if req.Method == http.MethodHead {
		var desc ociregistry.Descriptor
		if d != "" {
			desc, err = s.resolve(func() (ociregistry.Descriptor, error) {
				return s.backend.ResolveManifest(ctx, rt.repo, d)
			}, func() (ociregistry.BlobReader, error) {
				return s.backend.GetManifest(ctx, rt.repo, d)
			})
		} else {
			desc, err = s.resolve(func() (ociregistry.Descriptor, error) {
				return s.backend.ResolveTag(ctx, rt.repo, rt.ref)
			}, func() (ociregistry.BlobReader, error) {
				return s.backend.GetTag(ctx, rt.repo, rt.ref)
			})
		}
		if err != nil {
			return err
		}
		setManifestHeaders(w, desc)
		if !notModified(w, req, desc) {
			w.WriteHeader(http.StatusOK)
		}
		return nil
	}
	var rd ociregistry.BlobReader
	if d != "" {
		rd, err = s.backend.GetManifest(ctx, rt.repo, d)
	} else {
		rd, err = s.backend.GetTag(ctx, rt.repo, rt.ref)
	}
	if err != nil {
		return err
	}
	defer rd.Close()
	setManifestHeaders(w, rd.Descriptor())
	if notModified(w, req, rd.Descriptor()) {
		return nil
	}
	w.WriteHeader(http.StatusOK)
	s.copyBody(w, req, rd)
	return nil
}

// notModified answers 304 Not Modified, and reports true, when the
// request's If-None-Match names the manifest desc (by its ETag, weak or
// not, or "*"), so that a client that has it is not sent it again. The
// headers describing the content, which is not sent, are removed.
func notModified(w http.ResponseWriter, req *http.Request, desc ociregistry.Descriptor) bool {
	inm := req.Header["If-None-Match"]
	if len(inm) == 0 || !etagListed(inm, string(desc.Digest)) {
		return false
	}
	h := w.Header()
	delete(h, "Content-Type")
	delete(h, "Content-Length")
	w.WriteHeader(http.StatusNotModified)
	return true
}

// etagListed reports whether the If-None-Match values list the entity tag
// "dig" or "*".
func etagListed(values []string, dig string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || len(tag) == len(dig)+2 && tag[0] == '"' && tag[len(tag)-1] == '"' && tag[1:len(tag)-1] == dig {
				return true
			}
		}
	}
	return false
}

// setManifestHeaders sets the headers of a successful manifest response.
func setManifestHeaders(w http.ResponseWriter, desc ociregistry.Descriptor) {
	// The keys are in canonical form already, so the map is set
	// directly: Header.Set would canonicalize each on every request.
	// The four values share one array, allocated once.
	v := [...]string{desc.MediaType, strconv.FormatInt(desc.Size, 10), string(desc.Digest), `"` + string(desc.Digest) + `"`}
	vals := v[:]
	h := w.Header()
	h["Content-Type"] = vals[0:1:1]
	h["Content-Length"] = vals[1:2:2]
	h["Docker-Content-Digest"] = vals[2:3:3]
	h["Etag"] = vals[3:4:4]
}

// resolveBlob returns the descriptor of the blob d in repo.
func (s *server) resolveBlob(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
	return s.resolve(func() (ociregistry.Descriptor, error) {
		return s.backend.ResolveBlob(ctx, repo, d)
	}, func() (ociregistry.BlobReader, error) {
		return s.backend.GetBlob(ctx, repo, d)
	})
}

// resolve returns the descriptor that resolveFn answers, or, when the
// backend cannot resolve without reading, the descriptor of the reader
// that getFn opens, closed unread.
func (s *server) resolve(resolveFn func() (ociregistry.Descriptor, error), getFn func() (ociregistry.BlobReader, error)) (ociregistry.Descriptor, error) {
	desc, err := resolveFn()
	if err == nil || !isUnsupported(err) {
		return desc, err
	}
	rd, gerr := getFn()
	if gerr != nil {
		if isUnsupported(gerr) {
			return ociregistry.Descriptor{}, err
		}
		return ociregistry.Descriptor{}, gerr
	}
	desc = rd.Descriptor()
	rd.Close()
	return desc, nil
}
