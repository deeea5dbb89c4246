package ociserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/ocireg/ociregistry"
)

// uploadAlgorithms holds the digest algorithms that uploads accept, as
// ociregistry.CheckDigest does.
var uploadAlgorithms = map[string]bool{"sha256": true, "sha512": true}

// startUpload answers POST /v2/<name>/blobs/uploads/: a mount (with
// ?mount=), a single-request upload (with ?digest=) or the start of an
// upload session.
func (s *server) startUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	q := req.URL.Query()
	if m := q.Get("mount"); m != "" {
		d := ociregistry.Digest(m)
		if err := ociregistry.CheckDigest(d); err != nil {
			return err
		}
		from := q.Get("from")
		if from != "" {
			if err := ociregistry.CheckRepository(from); err != nil {
				return fmt.Errorf("invalid from parameter: %w", err)
			}
		}
		if desc, ok := s.mount(ctx, from, rt.repo, d); ok {
			blobCreated(w, rt.repo, desc.Digest)
			return nil
		}
		// The specification asks for an upload session when the blob
		// cannot be mounted, so that the client can push it instead.
	}
	if ds := q.Get("digest"); ds != "" && !s.opts.DisableSinglePostUpload {
		d := ociregistry.Digest(ds)
		if err := ociregistry.CheckDigest(d); err != nil {
			return err
		}
		if req.ContentLength == 0 && d != d.Algorithm().FromString("") {
			// No content for a digest that needs some: the client
			// wants a session after all (as Distribution, which
			// ignores the parameter, gives it).
			return s.startSession(w, req, rt)
		}
		if err := s.uploads.reserve(ctx, s.backend); err != nil {
			return err
		}
		defer s.uploads.release()
		if _, err := s.pushBlob(ctx, rt.repo, d, req); err != nil {
			return err
		}
		blobCreated(w, rt.repo, d)
		return nil
	}
	if alg := q.Get("digest-algorithm"); alg != "" {
		// Uploads are checked against whatever digest the final PUT
		// names, so the parameter only has to name an algorithm that
		// digests may use.
		if !uploadAlgorithms[alg] {
			return ociregistry.NewError(fmt.Sprintf("unsupported digest-algorithm %.20q: sha256 and sha512 are supported", alg), ociregistry.ErrDigestInvalid.Code(), nil)
		}
	}
	return s.startSession(w, req, rt)
}

// startSession answers a POST that starts an upload session.
func (s *server) startSession(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	if err := s.uploads.reserve(ctx, s.backend); err != nil {
		return err
	}
	bw, err := s.backend.PushBlobChunked(ctx, rt.repo, 0)
	if err != nil {
		s.uploads.release()
		return err
	}
	s.uploads.started(uploadKey{rt.repo, bw.ID()})
	return answerUpload(w, bw, rt.repo, bw.ID(), http.StatusAccepted)
}

// noteUpload tells the upload limiter what a backend call about the
// session of rt, which returned bw (when not nil) and err, says of it:
// gone, or in use, with its size when known. Only a session the backend
// gave a writer for is counted anew: a client may name any ID, and a
// backend that refuses it (an access check, say) says nothing of it.
func (s *server) noteUpload(rt route, bw ociregistry.BlobWriter, err error) {
	k := uploadKey{rt.repo, rt.ref}
	switch {
	case errors.Is(err, ociregistry.ErrBlobUploadUnknown):
		s.uploads.done(k)
	case err == nil && bw != nil:
		s.uploads.touch(k, bw.Size())
	default:
		s.uploads.touchKnown(k)
	}
}

// mount makes the blob d available in repo, from fromRepo when that is
// not empty, and reports whether it could. Without fromRepo (an
// anonymous mount, which the specification lets a registry honour), the
// blob is looked for in repo and then in up to maxMountSearch other
// repositories that the backend lists. The search goes through the
// backend, so a wrapper that hides repositories or checks access (as
// ocifilter's do) hides them from it too.
func (s *server) mount(ctx context.Context, fromRepo, repo string, d ociregistry.Digest) (ociregistry.Descriptor, bool) {
	var desc ociregistry.Descriptor
	var err error
	switch {
	case fromRepo != "":
		desc, err = s.backend.MountBlob(ctx, fromRepo, repo, d)
	case s.opts.DisableAnonymousMount:
		return ociregistry.Descriptor{}, false
	default:
		desc, err = s.backend.ResolveBlob(ctx, repo, d)
		if ociregistry.IsNotFound(err) {
			desc, err = s.mountFromAnywhere(ctx, repo, d)
		}
	}
	if err != nil {
		s.logger.Debug("cannot mount blob; starting an upload", "repo", repo, "from", fromRepo, "digest", d, "err", err)
		return ociregistry.Descriptor{}, false
	}
	if desc.Digest == "" {
		desc.Digest = d
	}
	return desc, true
}

// maxMountSearch bounds the repositories an anonymous mount looks
// through, so that one request costs a bounded number of backend calls
// (each a request upstream, when the backend is a remote registry)
// however many repositories there are.
const maxMountSearch = 100

// mountFromAnywhere mounts d into repo from the first repository the
// backend lists that holds it, looking at no more than maxMountSearch.
func (s *server) mountFromAnywhere(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
	looked := 0
	for from, err := range s.backend.Repositories(ctx, "") {
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		if from == repo {
			continue
		}
		if looked++; looked > maxMountSearch {
			break
		}
		desc, err := s.backend.MountBlob(ctx, from, repo, d)
		switch {
		case err == nil:
			return desc, nil
		case ociregistry.IsNotFound(err):
			continue
		}
		// Any other answer (DENIED from a read-only registry, say)
		// would be the same for every other repository.
		return ociregistry.Descriptor{}, err
	}
	return ociregistry.Descriptor{}, fmt.Errorf("blob %s in no repository searched: %w", d, ociregistry.ErrBlobUnknown)
}

// pushBlob stores the body of req as the blob d in repo. A body of known
// length goes to PushBlob; one sent without a length (chunked transfer
// encoding) is streamed through a BlobWriter, since PushBlob wants the
// size up front.
func (s *server) pushBlob(ctx context.Context, repo string, d ociregistry.Digest, req *http.Request) (ociregistry.Descriptor, error) {
	body := &bodyReader{r: req.Body}
	if req.ContentLength >= 0 {
		desc, err := s.backend.PushBlob(ctx, repo, ociregistry.Descriptor{
			MediaType: "application/octet-stream",
			Digest:    d,
			Size:      req.ContentLength,
		}, body)
		return desc, body.check(err)
	}
	bw, err := s.backend.PushBlobChunked(ctx, repo, 0)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	if _, err := io.Copy(bw, body); err != nil {
		bw.Cancel()
		return ociregistry.Descriptor{}, body.check(err)
	}
	desc, err := bw.Commit(d)
	if err != nil {
		bw.Cancel()
		return ociregistry.Descriptor{}, err
	}
	return desc, nil
}

// bodyReader reads a request body and remembers whether reading it
// failed, so that a failure of the client's is told apart from one of the
// backend's.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
		// net/http reports a body cut short of its Content-Length as
		// io.ErrUnexpectedEOF, which a backend may take for the end
		// of content of unknown length (as io.ReadFull's callers
		// do) and store what came: the backend is given an error
		// that is no kind of EOF.
		err = errBodyUnreadable{err}
	}
	return n, err
}

// errBodyUnreadable is a failure to read a request body. It does not
// unwrap, so that no backend can mistake it for an end of file.
type errBodyUnreadable struct{ err error }

func (e errBodyUnreadable) Error() string {
	return "cannot read request body: " + readFailure(e.err)
}

// readFailure describes a failure to read from the client without the
// connection's addresses, which are the server's own business (behind a
// proxy they are the proxy's and the server's).
func readFailure(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return "timed out"
	}
	return err.Error()
}

// check returns err, or an error that Is ErrBlobUploadInvalid when the
// request body could not be read: the client's fault, not the backend's.
func (b *bodyReader) check(err error) error {
	if err != nil && b.err != nil {
		return fmt.Errorf("cannot read request body: %s: %w", readFailure(b.err), ociregistry.ErrBlobUploadInvalid)
	}
	return err
}

// blobCreated answers 201 for a blob that is now in repo.
func blobCreated(w http.ResponseWriter, repo string, d ociregistry.Digest) {
	h := w.Header()
	h.Set("Location", blobPath(repo, d))
	h.Set("Docker-Content-Digest", string(d))
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// setUploadHeaders sets the headers that describe an upload session with
// size bytes so far.
func setUploadHeaders(w http.ResponseWriter, repo, id string, size int64) {
	h := w.Header()
	h.Set("Location", uploadPath(repo, id))
	h.Set("Docker-Upload-UUID", id)
	// The specification's Range is inclusive, so it cannot say that no
	// bytes have been received; "0-0" is what registries send then.
	h.Set("Range", fmt.Sprintf("0-%d", max(size-1, 0)))
}

// parseContentRange parses the Content-Range header of an upload: "a-b",
// inclusive, as the specification has it, with the prefix "bytes " or
// "bytes=" and a "/size" suffix tolerated since some clients send the
// RFC 9110 form.
func parseContentRange(h string) (start, end int64, ok bool) {
	h = strings.TrimSpace(h)
	if rest, cut := strings.CutPrefix(h, "bytes"); cut {
		h = strings.TrimLeft(rest, " =")
	}
	h, _, _ = strings.Cut(h, "/")
	a, b, cut := strings.Cut(h, "-")
	if !cut {
		return 0, 0, false
	}
	start, ok1 := parseUint(a)
	end, ok2 := parseUint(b)
	// The range's length, end-start+1, must fit in an int64 too.
	if !ok1 || !ok2 || end < start || end-start == math.MaxInt64 {
		return 0, 0, false
	}
	return start, end, true
}

// resumeUpload resumes the upload of rt for a request with an optional
// Content-Range header, and returns the writer and the number of bytes
// the request's body must hold (-1 when not known). The writer is at the
// start of the range.
func (s *server) resumeUpload(w http.ResponseWriter, req *http.Request, rt route) (ociregistry.BlobWriter, int64, error) {
	ctx := req.Context()
	offset, length := int64(-1), int64(-1)
	if cr := req.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok {
			return nil, 0, fmt.Errorf("malformed Content-Range %q: %w", cr, ociregistry.ErrBlobUploadInvalid)
		}
		offset = start
		// A range is inclusive, so "0-0" cannot say "nothing"; a body
		// of length zero says it.
		if req.ContentLength != 0 {
			length = end - start + 1
			if req.ContentLength > 0 && req.ContentLength != length {
				return nil, 0, fmt.Errorf("Content-Range %q holds %d bytes but Content-Length is %d: %w", cr, length, req.ContentLength, ociregistry.ErrSizeInvalid)
			}
		}
	}
	bw, err := s.backend.PushBlobChunkedResume(ctx, rt.repo, rt.ref, offset, 0)
	s.noteUpload(rt, bw, err)
	if err != nil {
		return nil, 0, s.rangeError(w, req, rt, err)
	}
	if offset >= 0 && bw.Size() != offset {
		size := bw.Size()
		bw.Close()
		setUploadHeaders(w, rt.repo, rt.ref, size)
		return nil, 0, fmt.Errorf("chunk starts at %d but the upload holds %d bytes: %w", offset, size, ociregistry.ErrRangeInvalid)
	}
	return bw, length, nil
}

// rangeError returns err, having set, when err Is ErrRangeInvalid (a
// 416), the headers that tell the client where the upload of rt stands.
func (s *server) rangeError(w http.ResponseWriter, req *http.Request, rt route, err error) error {
	if isRangeInvalid(err) {
		s.setUploadStatus(w, req, rt)
	}
	return err
}

// setUploadStatus sets the headers that describe the upload of rt, when
// it can be found, so that a client told 416 learns where to carry on.
func (s *server) setUploadStatus(w http.ResponseWriter, req *http.Request, rt route) {
	bw, err := s.backend.PushBlobChunkedResume(req.Context(), rt.repo, rt.ref, -1, 0)
	if err != nil {
		return
	}
	size := bw.Size()
	if bw.Close() == nil {
		setUploadHeaders(w, rt.repo, rt.ref, size)
	}
}

// writeChunk copies the body of req, of length bytes when that is not
// negative, to bw.
func writeChunk(bw ociregistry.BlobWriter, req *http.Request, length int64) error {
	body := &bodyReader{r: req.Body}
	var r io.Reader = body
	if length >= 0 {
		r = io.LimitReader(body, length)
	}
	n, err := io.Copy(bw, r)
	if err != nil {
		return body.check(err)
	}
	if length >= 0 && n != length {
		return fmt.Errorf("body holds %d bytes, less than its Content-Range: %w", n, ociregistry.ErrSizeInvalid)
	}
	if length >= 0 && req.ContentLength < 0 {
		// A body of unknown length (chunked transfer encoding) is
		// only known to fit its range once it ends; one that goes
		// on is not cut to fit, as the client meant all of it.
		var extra [1]byte
		if n, _ := io.ReadFull(body, extra[:]); n > 0 {
			return fmt.Errorf("body holds more than the %d bytes of its Content-Range: %w", length, ociregistry.ErrSizeInvalid)
		}
		if body.err != nil {
			return body.check(body.err)
		}
	}
	return nil
}

// patchUpload answers PATCH of an upload session: one more chunk.
func (s *server) patchUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	bw, length, err := s.resumeUpload(w, req, rt)
	if err != nil {
		return err
	}
	k := uploadKey{rt.repo, rt.ref}
	s.uploads.begin(k)
	if err := writeChunk(bw, req, length); err != nil {
		s.uploads.end(k, -1)
		bw.Close()
		return s.rangeError(w, req, rt, err)
	}
	s.uploads.end(k, bw.Size())
	return answerUpload(w, bw, rt.repo, rt.ref, http.StatusAccepted)
}

// putUpload answers PUT of an upload session: an optional last chunk and
// the end of the upload.
func (s *server) putUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	ds := req.URL.Query().Get("digest")
	if ds == "" {
		return ociregistry.NewError("the PUT that ends an upload needs a digest parameter", ociregistry.ErrDigestInvalid.Code(), nil)
	}
	d := ociregistry.Digest(ds)
	if err := ociregistry.CheckDigest(d); err != nil {
		return err
	}
	bw, length, err := s.resumeUpload(w, req, rt)
	if err != nil {
		return err
	}
	k := uploadKey{rt.repo, rt.ref}
	s.uploads.begin(k)
	// After done, end finds nothing to do.
	defer s.uploads.end(k, -1)
	if bw.Size() == 0 && req.ContentLength > 0 && (length < 0 || length == req.ContentLength) {
		// The PUT brings the whole blob, with its digest: a
		// monolithic push, which PushBlob may store straight where
		// the blob goes (ocis3 does) rather than as an upload that
		// the commit then copies.
		if _, err := s.pushBlob(req.Context(), rt.repo, d, req); err != nil {
			bw.Close()
			s.noteUpload(rt, nil, err)
			return err
		}
		bw.Cancel()
		s.uploads.done(k)
		blobCreated(w, rt.repo, d)
		return nil
	}
	before := bw.Size()
	if req.ContentLength != 0 {
		if err := writeChunk(bw, req, length); err != nil {
			bw.Close()
			return s.rangeError(w, req, rt, err)
		}
	}
	if _, err := bw.Commit(d); err != nil {
		if bw.Size() != before && errors.Is(err, ociregistry.ErrDigestInvalid) {
			// The upload now holds the PUT's chunk, which a client
			// that retries the PUT sends again: it could never
			// succeed. The upload is cancelled (Distribution means to),
			// and the client starts again. A PUT without a chunk
			// leaves the upload as it was, to be ended with the
			// right digest.
			bw.Cancel()
			s.uploads.done(k)
			return err
		}
		bw.Close()
		s.noteUpload(rt, nil, err)
		return s.rangeError(w, req, rt, err)
	}
	s.uploads.done(k)
	blobCreated(w, rt.repo, d)
	return nil
}

// uploadStatus answers GET of an upload session.
func (s *server) uploadStatus(w http.ResponseWriter, req *http.Request, rt route) error {
	bw, err := s.backend.PushBlobChunkedResume(req.Context(), rt.repo, rt.ref, -1, 0)
	s.noteUpload(rt, bw, err)
	if err != nil {
		return err
	}
	return answerUpload(w, bw, rt.repo, rt.ref, http.StatusNoContent)
}

// answerUpload closes bw, keeping its upload, and answers with status and
// the headers that tell the client where the upload is and how far it
// has got.
func answerUpload(w http.ResponseWriter, bw ociregistry.BlobWriter, repo, id string, status int) error {
	size := bw.Size()
	if err := bw.Close(); err != nil {
		return err
	}
	setUploadHeaders(w, repo, id, size)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

// cancelUpload answers DELETE of an upload session.
func (s *server) cancelUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	bw, err := s.backend.PushBlobChunkedResume(req.Context(), rt.repo, rt.ref, -1, 0)
	s.noteUpload(rt, bw, err)
	if err != nil {
		return err
	}
	if err := bw.Cancel(); err != nil {
		return err
	}
	s.uploads.done(uploadKey{rt.repo, rt.ref})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxTagsPerPut bounds the tag parameters of one manifest PUT, each of
// which costs a backend call.
const maxTagsPerPut = 100

// putManifest answers PUT /v2/<name>/manifests/<reference>, with
// optional tag parameters.
func (s *server) putManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	d, err := checkRef(rt.ref)
	if err != nil {
		return err
	}
	var tags []string
	if d == "" {
		tags = append(tags, rt.ref)
	}
	qtags := req.URL.Query()["tag"]
	if len(qtags) > maxTagsPerPut {
		return ociregistry.NewHTTPError(fmt.Errorf("%d tag parameters, more than %d: %w", len(qtags), maxTagsPerPut, ociregistry.ErrManifestInvalid), http.StatusRequestURITooLong)
	}
	for _, t := range qtags {
		if err := ociregistry.CheckTag(t); err != nil {
			return err
		}
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	ct := req.Header.Get("Content-Type")
	if ct == "" {
		return fmt.Errorf("no Content-Type header: %w", ociregistry.ErrManifestInvalid)
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("invalid Content-Type %q: %w", ct, ociregistry.ErrManifestInvalid)
	}
	contents, err := s.readManifest(req)
	if err != nil {
		return err
	}
	if d != "" {
		if !d.Algorithm().Available() || d.Algorithm().FromBytes(contents) != d {
			return fmt.Errorf("manifest does not have digest %s: %w", d, ociregistry.ErrDigestInvalid)
		}
	}
	var desc ociregistry.Descriptor
	if len(tags) == 0 {
		desc, err = s.backend.PushManifest(ctx, rt.repo, "", contents, mediaType)
		if err != nil {
			return err
		}
	}
	var accepted []string
	for _, t := range tags {
		d, err := s.backend.PushManifest(ctx, rt.repo, t, contents, mediaType)
		if err != nil {
			if len(accepted) == 0 || !errors.Is(err, ociregistry.ErrDenied) && !errors.Is(err, ociregistry.ErrUnsupported) {
				// A failure, rather than a refusal of the tag,
				// fails the push: trying it again is harmless.
				return err
			}
			// The tags before it are set, and cannot be taken
			// back (a tag may have named another manifest): the
			// push succeeded for them, and the OCI-Tag header
			// says which they are, as the specification has it.
			s.logger.Info("manifest pushed with some of its tags", "repo", rt.repo, "tags", accepted, "refused", t, "err", err)
			break
		}
		desc = d
		accepted = append(accepted, t)
	}
	if d != "" {
		// The specification wants the client's digest back, which
		// may be of another algorithm than the backend's.
		desc.Digest = d
	}
	h := w.Header()
	h.Set("Location", manifestPath(rt.repo, string(desc.Digest)))
	h.Set("Docker-Content-Digest", string(desc.Digest))
	if len(qtags) > 0 {
		// Every tag the manifest got, each once (the one in the
		// path too, for a push by tag with more).
		h.Set("OCI-Tag", strings.Join(accepted, ", "))
	}
	if !s.opts.DisableReferrersAPI {
		if subject := subjectOf(contents); subject != "" {
			h.Set("OCI-Subject", string(subject))
		}
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// errManifestTooBig is answered for a manifest bigger than the limit.
func errManifestTooBig(limit int64) error {
	return ociregistry.NewHTTPError(
		fmt.Errorf("manifest is bigger than the limit of %d bytes: %w", limit, ociregistry.ErrManifestInvalid),
		http.StatusRequestEntityTooLarge)
}

// readManifest reads the body of a manifest PUT, reading no more than one
// byte past the limit so that a huge body costs nothing.
func (s *server) readManifest(req *http.Request) ([]byte, error) {
	limit := s.opts.MaxManifestSize
	if req.ContentLength > limit {
		return nil, errManifestTooBig(limit)
	}
	body := &bodyReader{r: io.LimitReader(req.Body, limit+1)}
	contents, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("cannot read manifest: %v: %w", err, ociregistry.ErrManifestInvalid)
	}
	if int64(len(contents)) > limit {
		return nil, errManifestTooBig(limit)
	}
	return contents, nil
}

// subjectOf returns the digest of the subject of a manifest or index, or
// "" when it has none or does not parse.
func subjectOf(contents []byte) ociregistry.Digest {
	var m struct {
		Subject *ociregistry.Descriptor `json:"subject"`
	}
	if json.Unmarshal(contents, &m) != nil || m.Subject == nil {
		return ""
	}
	if err := ociregistry.CheckDigest(m.Subject.Digest); err != nil {
		return ""
	}
	return m.Subject.Digest
}
