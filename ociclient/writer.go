package ociclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
)

// maxRewindBuffer bounds the blob that PushBlob holds in memory so that
// it can send it again when the registry turns down a single-request
// upload. Larger blobs from readers that cannot seek go up in two
// requests, and so do those that do not fit in what is left of
// Options.MaxPushBuffer.
const maxRewindBuffer = 4 << 20

// reservePushBuffer reserves n bytes of Options.MaxPushBuffer for a
// push, and reports whether it could. The caller calls
// releasePushBuffer(n) when it could and is done.
func (c *client) reservePushBuffer(n int64) bool {
	for {
		cur := c.pushBuffered.Load()
		if cur+n > c.opts.MaxPushBuffer {
			return false
		}
		if c.pushBuffered.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

func (c *client) releasePushBuffer(n int64) {
	c.pushBuffered.Add(-n)
}

// PushBlob pushes a blob, in a single request (POST with ?digest=) where
// the registry allows it, and otherwise with POST then PUT. Content from
// a reader that cannot seek is held in memory for the single request
// (to send it again should the registry answer with a session) only
// when it fits in Options.MaxPushBuffer; otherwise it goes with POST
// then PUT. It returns an
// error that Is ociregistry.ErrSizeInvalid when r holds more or fewer
// than desc.Size bytes and one that Is ociregistry.ErrDigestInvalid when
// the registry finds that the content does not match desc.Digest.
func (c *client) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, r io.Reader) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, desc.Digest); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if desc.Size < 0 {
		return ociregistry.Descriptor{}, fmt.Errorf("push blob %s: negative size %d: %w", desc.Digest, desc.Size, ociregistry.ErrSizeInvalid)
	}
	r, rewind, release, err := c.rewindable(desc, r)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	defer release()
	if _, err := rewind(); err != nil || c.noSinglePost.Load() {
		// Without a way to send the content again, go straight to
		// POST then PUT.
		loc, err := c.startUpload(ctx, repo, nil)
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		return c.putBlob(ctx, repo, loc, desc, r)
	}
	return c.postBlob(ctx, repo, desc, r, rewind)
}

// rewindable makes the content of r readable twice, for a registry that
// answers a single-request upload by starting a session instead. It
// returns a reader of the content and rewind, which returns a reader of
// it from its start again: by seeking r back when r can seek, else from
// memory when the content fits in the push buffer (release then gives
// the room back), else never (rewind then fails with
// errors.ErrUnsupported). Its error is that of reading r into memory, or
// one that Is ociregistry.ErrSizeInvalid when r holds more or fewer than
// desc.Size bytes.
func (c *client) rewindable(desc ociregistry.Descriptor, r io.Reader) (_ io.Reader, rewind func() (io.Reader, error), release func(), _ error) {
	release = func() {}
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			return r, func() (io.Reader, error) {
				_, err := rs.Seek(start, io.SeekStart)
				return rs, err
			}, release, nil
		}
	} else if desc.Size <= maxRewindBuffer && c.reservePushBuffer(desc.Size) {
		data, err := io.ReadAll(io.LimitReader(r, desc.Size+1))
		if err == nil && int64(len(data)) != desc.Size {
			err = sizeError(desc, int64(len(data)))
		} else if err != nil {
			err = fmt.Errorf("push blob %s: %w", desc.Digest, err)
		}
		if err != nil {
			c.releasePushBuffer(desc.Size)
			return nil, nil, nil, err
		}
		return bytes.NewReader(data), func() (io.Reader, error) {
			return bytes.NewReader(data), nil
		}, func() { c.releasePushBuffer(desc.Size) }, nil
	}
	return r, func() (io.Reader, error) { return nil, errors.ErrUnsupported }, release, nil
}

// postBlob pushes the blob in a single request (POST with ?digest=).
// When the registry answers by starting a session instead, it sends the
// content again, from rewind, with PUT.
func (c *client) postBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, r io.Reader, rewind func() (io.Reader, error)) (ociregistry.Descriptor, error) {
	q := url.Values{"digest": {string(desc.Digest)}}
	sc := &sizeChecker{r: r, size: desc.Size, dig: desc.Digest}
	stream := &closeNotifier{r: sc, done: make(chan struct{})}
	resp, err := c.do(ctx, &request{
		method: "POST",
		url:    c.url(ctx, repoPath(repo, "blobs", "uploads")+"/", q),
		kind:   kindUpload,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		stream: stream,
		length: desc.Size,
	})
	if err != nil {
		// The registry may answer before the transport finds that
		// the content has the wrong length (it judges the bytes it
		// got by their digest): the content's fault is the one to
		// report. The stream is closed once the request is done with
		// it, which is at once here: by the transport, which closes
		// the body of every request it gets, even on errors, or by
		// c.do for a request that never reached the transport or
		// failed before the transport closed it.
		select {
		case <-stream.done:
			if err := sc.Err(); err != nil {
				return ociregistry.Descriptor{}, err
			}
		case <-ctx.Done():
		}
		return ociregistry.Descriptor{}, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return blobDescriptor(desc), nil
	case http.StatusAccepted:
		// The registry started a session and (we must assume)
		// dropped the content.
		c.noSinglePost.Store(true)
		return c.putBlobAgain(ctx, repo, desc, resp, stream, rewind)
	}
	return ociregistry.Descriptor{}, fmt.Errorf("push blob %s: unexpected status %s", desc.Digest, resp.Status)
}

// putBlobAgain sends the content of a blob, from rewind, with PUT to the
// session that the registry started (in resp) when it was sent stream
// with a single POST. It waits until the transport is done with stream.
func (c *client) putBlobAgain(ctx context.Context, repo string, desc ociregistry.Descriptor, resp *http.Response, stream *closeNotifier, rewind func() (io.Reader, error)) (ociregistry.Descriptor, error) {
	loc, err := c.location(resp)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	// The transport may still be sending the content; it closes the
	// body when it is done with it.
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
		url:        c.url(ctx, repoPath(repo, "blobs", "uploads")+"/", q),
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

// MountBlob asks the registry to mount a blob from fromRepo in toRepo.
// When the registry answers with an upload session instead, as some do
// for mounts they cannot make, the blob is copied through the client. It
// returns an error that Is ociregistry.ErrBlobUnknown when fromRepo has no
// such blob.
func (c *client) MountBlob(ctx context.Context, fromRepo, toRepo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(fromRepo, dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := ociregistry.CheckRepository(toRepo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	q := url.Values{"mount": {string(dig)}, "from": {fromRepo}}
	resp, err := c.do(ctx, &request{
		method:     "POST",
		url:        c.url(ctx, repoPath(toRepo, "blobs", "uploads")+"/", q),
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
// specification asks. Content named by sha512 digests is pushed by its
// sha512 digest, and by its sha256 digest (the one in the returned
// descriptor) on a registry that refuses that reference. It returns an
// error that Is ociregistry.ErrManifestInvalid or
// ociregistry.ErrManifestBlobUnknown when the registry turns the
// manifest down.
func (c *client) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if tag != "" {
		if err := ociregistry.CheckTag(tag); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	// The Interface does not say which digest the caller uses. Content
	// named by sha512 digests (as ocimem and ocifs judge it), or a
	// subject with a sha512 digest, was most likely made by a caller
	// that uses sha512 throughout: the manifest is pushed by its sha512
	// digest, since a registry knows a manifest only by sha256 and by
	// the reference it was pushed by, and its referrers list (kept by
	// this client on registries without the referrers API) must hold
	// the digest that caller knows it by.
	m, alg := referringFields(contents, mediaType)
	dig := alg.FromBytes(contents)
	var subjectKept, pushed bool
	if alg == digest.SHA512 {
		kept, err := c.putManifest(ctx, repo, string(dig), contents, mediaType)
		switch {
		case err == nil:
			subjectKept, pushed = kept, true
		case refusesReference(err):
			// Registries are only asked to take sha256 references:
			// push it as before sha512 content was pushed by its
			// digest, which leaves the caller without the digest
			// it knows the manifest by, but with the manifest.
			dig = digest.SHA256.FromBytes(contents)
		default:
			return ociregistry.Descriptor{}, err
		}
	}
	// Pushing by tag makes the sha256 digest known too.
	if ref := tag; ref != "" || !pushed {
		if ref == "" {
			ref = string(dig)
		}
		kept, err := c.putManifest(ctx, repo, ref, contents, mediaType)
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		subjectKept = kept
	}
	desc := ociregistry.Descriptor{
		MediaType: mediaType,
		Digest:    dig,
		Size:      int64(len(contents)),
	}
	if !subjectKept {
		if err := c.addToReferrersTag(ctx, repo, desc, m); err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("manifest %s pushed but its subject's referrers tag not updated: %w", dig, err)
		}
	}
	return desc, nil
}

// putManifest puts a manifest by ref, a tag or digest, and reports
// whether the registry says that it handled the manifest's subject.
func (c *client) putManifest(ctx context.Context, repo, ref string, contents []byte, mediaType string) (subjectKept bool, err error) {
	resp, err := c.do(ctx, &request{
		method:     "PUT",
		url:        repoPath(repo, "manifests", ref),
		kind:       kindManifest,
		header:     http.Header{"Content-Type": {mediaType}},
		body:       contents,
		idempotent: true,
	})
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.Header.Get("OCI-Subject") != "", nil
}

// refusesReference reports whether err, from a PUT of a manifest by its
// sha512 digest, says that the registry refuses the reference rather
// than the manifest: registries are only asked to take sha256 digests,
// and say so with any of these errors, or with one of these statuses
// without a code.
func refusesReference(err error) bool {
	if errors.Is(err, ociregistry.ErrDigestInvalid) || errors.Is(err, ociregistry.ErrUnsupported) || errors.Is(err, ociregistry.ErrManifestInvalid) {
		return true
	}
	var herr *ociregistry.HTTPError
	if !errors.As(err, &herr) {
		return false
	}
	switch herr.StatusCode {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
		// The client gives a codeless error response an error from
		// its status (ErrManifestUnknown for a 404): parse the body
		// again to know whether the registry sent a code.
		uerr, ok := ociregistry.UnmarshalError(herr.StatusCode, nil, herr.Body).(*ociregistry.HTTPError)
		return ok && uerr.Err == nil
	}
	return false
}

// parsedTypes are the media types whose content ocimanifest.Parse
// reads; it takes content of any other type as it is, without looking
// for a subject.
var parsedTypes = []string{
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}

// referringFields returns the fields of a manifest that its referrers
// descriptor is made from, and the algorithm of the digest to push it
// by: sha512 when its subject, or else the first digest it holds, is
// sha512, and sha256 otherwise. The content is parsed once, by
// ocimanifest.Parse, when it is a valid image manifest or index. Content
// of another type, or one that Parse turns down (the registry is the
// judge of that), is read only for its referring fields, as the
// registry may take it and list it as a referrer all the same; it is
// pushed by its sha256 digest unless its subject is sha512.
func referringFields(contents []byte, mediaType string) (*referringManifest, digest.Algorithm) {
	var m referringManifest
	alg := digest.SHA256
	if pm, err := ocimanifest.Parse(contents, mediaType); err == nil && slices.Contains(parsedTypes, pm.MediaType) {
		// Parse has made the artifact type from the config already.
		m = referringManifest{
			MediaType:    pm.MediaType,
			ArtifactType: pm.ArtifactType,
			Subject:      pm.Subject,
			Annotations:  pm.Annotations,
		}
		alg = pm.Algorithm
	} else if json.Unmarshal(contents, &m) != nil {
		return &referringManifest{}, digest.SHA256
	}
	if m.Subject != nil && m.Subject.Digest.Algorithm() == digest.SHA512 {
		alg = digest.SHA512
	}
	return &m, alg
}
