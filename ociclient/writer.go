package ociclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
)

// maxRewindBuffer bounds the blob that PushBlob holds in memory so that
// it can send it again when the registry turns down a single-request
// upload. Larger blobs from readers that cannot seek go up in two
// requests.
const maxRewindBuffer = 4 << 20

// PushBlob pushes a blob, in a single request (POST with ?digest=) where
// the registry allows it, and otherwise with POST then PUT. It returns an
// error that Is ociregistry.ErrSizeInvalid when r holds more or fewer
// than desc.Size bytes and one that Is ociregistry.ErrDigestInvalid when
// the registry finds that the content does not match desc.Digest.
func (c *client) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, r io.Reader) (ociregistry.Descriptor, error) {
	if err := checkRepoDigest(repo, desc.Digest); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if desc.Size < 0 {
		return ociregistry.Descriptor{}, fmt.Errorf("push blob %s: negative size %d: %w", desc.Digest, desc.Size, ociregistry.ErrSizeInvalid)
	}
	// Make the content readable twice, for a registry that answers a
	// single-request upload by starting a session instead.
	rewind := func() (io.Reader, error) { return nil, errors.ErrUnsupported }
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			rewind = func() (io.Reader, error) {
				_, err := rs.Seek(start, io.SeekStart)
				return rs, err
			}
		}
	} else if desc.Size <= maxRewindBuffer {
		data, err := io.ReadAll(io.LimitReader(r, desc.Size+1))
		if err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("push blob %s: %w", desc.Digest, err)
		}
		if n := int64(len(data)); n != desc.Size {
			return ociregistry.Descriptor{}, sizeError(desc, n)
		}
		r = bytes.NewReader(data)
		rewind = func() (io.Reader, error) { return bytes.NewReader(data), nil }
	}
	if _, err := rewind(); err != nil || c.noSinglePost.Load() {
		// Without a way to send the content again, go straight to
		// POST then PUT.
		loc, err := c.startUpload(ctx, repo, nil)
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		return c.putBlob(ctx, repo, loc, desc, r)
	}
	q := url.Values{"digest": {string(desc.Digest)}}
	sc := &sizeChecker{r: r, size: desc.Size, dig: desc.Digest}
	stream := &closeNotifier{r: sc, done: make(chan struct{})}
	resp, err := c.do(ctx, &request{
		method: "POST",
		url:    c.url(repoPath(repo, "blobs", "uploads")+"/", q),
		kind:   kindUpload,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		stream: stream,
		length: desc.Size,
	})
	if err != nil {
		// The registry may answer before the transport finds that
		// the content has the wrong length (it judges the bytes it
		// got by their digest): the content's fault is the one to
		// report. The transport closes the body once it has sent the
		// request, which is at once here; the timer only keeps a
		// request that never reached the transport from waiting.
		select {
		case <-stream.done:
			if sc.err != nil {
				return ociregistry.Descriptor{}, sc.err
			}
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		return ociregistry.Descriptor{}, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return blobDescriptor(desc), nil
	case http.StatusAccepted:
		// The registry started a session and (we must assume)
		// dropped the content: send it again with PUT.
		c.noSinglePost.Store(true)
		loc, err := c.location(resp)
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		// The transport may still be sending the content; it closes
		// the body when it is done with it.
		select {
		case <-stream.done:
		case <-ctx.Done():
			return ociregistry.Descriptor{}, ctx.Err()
		}
		r, err := rewind()
		if err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("push blob %s: cannot send content again: %w", desc.Digest, err)
		}
		return c.putBlob(ctx, repo, loc, desc, r)
	}
	return ociregistry.Descriptor{}, fmt.Errorf("push blob %s: unexpected status %s", desc.Digest, resp.Status)
}

// blobDescriptor returns the descriptor of a pushed blob.
func blobDescriptor(desc ociregistry.Descriptor) ociregistry.Descriptor {
	return ociregistry.Descriptor{
		MediaType: "application/octet-stream",
		Digest:    desc.Digest,
		Size:      desc.Size,
	}
}

// putBlob sends the whole content of a blob in the PUT that ends the
// upload session at loc.
func (c *client) putBlob(ctx context.Context, repo string, loc *url.URL, desc ociregistry.Descriptor, r io.Reader) (ociregistry.Descriptor, error) {
	resp, err := c.do(ctx, &request{
		method: "PUT",
		url:    withDigest(loc, desc.Digest),
		kind:   kindUpload,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		stream: &sizeChecker{r: r, size: desc.Size, dig: desc.Digest},
		length: desc.Size,
	})
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	resp.Body.Close()
	// A 201 without a Location is fine: the digest names the blob.
	return blobDescriptor(desc), nil
}

// withDigest returns loc with the digest parameter that ends an upload.
func withDigest(loc *url.URL, d ociregistry.Digest) string {
	u := *loc
	q := u.Query()
	q.Set("digest", string(d))
	u.RawQuery = q.Encode()
	return u.String()
}

// startUpload starts an upload session in repo, with query parameters q,
// and returns its location.
func (c *client) startUpload(ctx context.Context, repo string, q url.Values) (*url.URL, error) {
	resp, err := c.do(ctx, &request{
		method:     "POST",
		url:        c.url(repoPath(repo, "blobs", "uploads")+"/", q),
		kind:       kindUpload,
		idempotent: true, // an abandoned session does no harm
	})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("start upload in %s: unexpected status %s", repo, resp.Status)
	}
	return c.location(resp)
}

// location returns the absolute URL in a response's Location header.
func (c *client) location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("registry sent %s without a Location", resp.Status)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("registry sent a bad Location %q: %v", loc, err)
	}
	return u, nil
}

// closeNotifier is a request body that says when the transport has
// closed it, after which it is safe to read its content again.
type closeNotifier struct {
	r    io.Reader
	once sync.Once
	done chan struct{}
}

func (c *closeNotifier) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *closeNotifier) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// sizeChecker reads exactly size bytes from r, returning an error that
// Is ErrSizeInvalid when r holds more or fewer.
type sizeChecker struct {
	r    io.Reader
	size int64
	n    int64
	dig  ociregistry.Digest
	// err is the error that Read found in the content's length.
	err error
}

func (s *sizeChecker) Read(p []byte) (int, error) {
	// Ask for one byte more than is left, to find content past the
	// end.
	if left := s.size - s.n + 1; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.n > s.size || err == io.EOF && s.n < s.size {
		s.err = sizeError(ociregistry.Descriptor{Digest: s.dig, Size: s.size}, s.n)
		return n - int(max(s.n-s.size, 0)), s.err
	}
	return n, err
}

// sizeError returns the error for content of n bytes pushed as desc.
func sizeError(desc ociregistry.Descriptor, n int64) error {
	if n > desc.Size {
		return fmt.Errorf("blob %s: content is longer than %d bytes: %w", desc.Digest, desc.Size, ociregistry.ErrSizeInvalid)
	}
	return fmt.Errorf("blob %s: content is %d bytes, want %d: %w", desc.Digest, n, desc.Size, ociregistry.ErrSizeInvalid)
}

// MountBlob asks the registry to mount a blob from fromRepo in toRepo.
// When the registry answers with an upload session instead, as some do
// for mounts they cannot make, the blob is copied through the client. It
// returns an error that Is ociregistry.ErrBlobUnknown when fromRepo has no
// such blob.
func (c *client) MountBlob(ctx context.Context, fromRepo, toRepo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := checkRepoDigest(fromRepo, dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := checkRepo(toRepo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	q := url.Values{"mount": {string(dig)}, "from": {fromRepo}}
	resp, err := c.do(ctx, &request{
		method:     "POST",
		url:        c.url(repoPath(toRepo, "blobs", "uploads")+"/", q),
		kind:       kindUpload,
		idempotent: true,
	})
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		// The response has no size: ask for it.
		return c.ResolveBlob(ctx, toRepo, dig)
	case http.StatusAccepted:
		loc, err := c.location(resp)
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		desc, err := c.copyBlob(ctx, fromRepo, toRepo, dig, loc)
		if err != nil {
			c.cancelUpload(loc)
			return ociregistry.Descriptor{}, err
		}
		return desc, nil
	}
	return ociregistry.Descriptor{}, fmt.Errorf("mount blob %s: unexpected status %s", dig, resp.Status)
}

// copyBlob reads a blob from fromRepo and pushes it through the upload
// session at loc in toRepo.
func (c *client) copyBlob(ctx context.Context, fromRepo, toRepo string, dig ociregistry.Digest, loc *url.URL) (ociregistry.Descriptor, error) {
	r, err := c.GetBlob(ctx, fromRepo, dig)
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("mount blob %s from %s: %w", dig, fromRepo, err)
	}
	defer r.Close()
	desc := r.Descriptor()
	if desc.Size < 0 {
		return ociregistry.Descriptor{}, fmt.Errorf("mount blob %s from %s: registry sent no size", dig, fromRepo)
	}
	return c.putBlob(ctx, toRepo, loc, desc, r)
}

// cancelUpload abandons the upload session at loc, on a best-effort
// basis: the registry expires it anyway.
func (c *client) cancelUpload(loc *url.URL) {
	resp, err := c.do(context.Background(), &request{method: "DELETE", url: loc.String(), kind: kindUpload})
	if err == nil {
		resp.Body.Close()
	}
}

// PushManifest pushes a manifest, tagged when tag is not empty. When the
// manifest has a subject and the registry does not say that it handled
// it (no OCI-Subject header), the registry has no referrers API, and the
// manifest is added to the subject's referrers tag (sha256-<hex>) as the
// specification asks. It returns an error that Is
// ociregistry.ErrManifestInvalid or ociregistry.ErrManifestBlobUnknown
// when the registry turns the manifest down.
func (c *client) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if err := checkRepo(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	// The Interface does not say which digest the caller uses. Content
	// named by sha512 digests (as ocimem and ocifs judge it), or a
	// subject with a sha512 digest, was most likely made by a caller
	// that uses sha512 throughout: the manifest is pushed by its sha512
	// digest, since a registry knows a manifest only by sha256 and by
	// the reference it was pushed by, and its referrers list (kept by
	// this client on registries without the referrers API) must hold
	// the digest that caller knows it by.
	alg := digest.SHA256
	var m referringManifest
	if json.Unmarshal(contents, &m) == nil && m.Subject != nil && m.Subject.Digest.Algorithm() == digest.SHA512 {
		alg = digest.SHA512
	} else if pm, err := ocimanifest.Parse(contents, mediaType); err == nil {
		alg = pm.Algorithm
	}
	dig := alg.FromBytes(contents)
	refs := []string{string(dig)}
	if tag != "" {
		if err := ociregistry.CheckTag(tag); err != nil {
			return ociregistry.Descriptor{}, err
		}
		if alg == digest.SHA256 {
			// Pushing by tag makes the sha256 digest known too.
			refs = []string{tag}
		} else {
			refs = append(refs, tag)
		}
	}
	var subjectKept bool
	for _, ref := range refs {
		resp, err := c.do(ctx, &request{
			method:     "PUT",
			url:        repoPath(repo, "manifests", ref),
			kind:       kindManifest,
			header:     http.Header{"Content-Type": {mediaType}},
			body:       contents,
			idempotent: true,
		})
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		resp.Body.Close()
		subjectKept = resp.Header.Get("OCI-Subject") != ""
	}
	desc := ociregistry.Descriptor{
		MediaType: mediaType,
		Digest:    dig,
		Size:      int64(len(contents)),
	}
	if !subjectKept {
		if err := c.addToReferrersTag(ctx, repo, desc, &m); err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("manifest %s pushed but its subject's referrers tag not updated: %w", dig, err)
		}
	}
	return desc, nil
}

// ID encoding: an upload's ID is its location, which may hold slashes
// and query parameters, in URL-safe base64 so that servers built on this
// client can put it in a path.
func encodeID(loc *url.URL) string {
	return base64.RawURLEncoding.EncodeToString([]byte(loc.String()))
}

func (c *client) decodeID(repo, id string) (*url.URL, error) {
	data, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return nil, fmt.Errorf("upload ID %q: %w", id, ociregistry.ErrBlobUploadUnknown)
	}
	u, err := url.Parse(string(data))
	if err != nil || !u.IsAbs() || !strings.Contains(u.Path, "/v2/"+repo+"/blobs/uploads/") {
		return nil, fmt.Errorf("upload ID %q is not an upload in %s: %w", id, repo, ociregistry.ErrBlobUploadUnknown)
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
	if err != nil || end < -1 {
		return 0, fmt.Errorf("registry sent a bad upload Range %q", h)
	}
	if end <= 0 {
		return 0, nil
	}
	return end + 1, nil
}
