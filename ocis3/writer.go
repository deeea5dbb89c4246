package ocis3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
)

// octetStream is the media type of blobs pushed without one.
const octetStream = "application/octet-stream"

// linkRefresh is the age past which a link that is linked again is
// rewritten, so that the garbage collector sees it as new.
const linkRefresh = 10 * time.Minute

// partPool holds the buffers that content goes to S3 through.
var partPool = sync.Pool{New: func() any {
	b := make([]byte, partSize)
	return &b
}}

// PushBlob stores a blob in repo, streaming its content to S3 while
// hashing it: up to 8 MiB in one PUT once checked; a bigger sha256 blob
// of known size (up to 5 GiB) in one streamed PUT whose last bytes go
// only once checked and which S3 checks against the digest too; any
// other in a multipart upload of 8 MiB parts, completed once checked,
// so that no more than two parts are held in memory. The object
// appears only once the digest and size match desc. Content already in
// the bucket is read and checked but not sent again. It returns an error
// that Is ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrDigestInvalid for a bad digest or content that does not
// match it, ociregistry.ErrSizeInvalid for content whose length is not
// desc.Size, and S3's error when the blob cannot be stored; nothing is
// stored then.
func (r *Registry) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	d := desc.Digest
	if err := ociregistry.CheckRepositoryDigest(repo, d); err != nil {
		return ociregistry.Descriptor{}, err
	}
	g0, err := r.readGCState(ctx, r.gcStateKey())
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	_, herr := r.head(ctx, r.blobKey(d))
	if herr != nil && !isNotFound(herr) {
		return ociregistry.Descriptor{}, fmt.Errorf("ocis3: storing blob %s: %w", d, herr)
	}
	existed := herr == nil
	h := d.Algorithm().Hash()
	limit := desc.Size + 1
	if desc.Size < 0 {
		limit = 1<<63 - 1
	}
	check := func(n int64) error {
		if desc.Size >= 0 && n != desc.Size {
			return fmt.Errorf("blob %s has size %d, not %d: %w", d, n, desc.Size, ociregistry.ErrSizeInvalid)
		}
		if got := digest.NewDigest(d.Algorithm(), h); got != d {
			return fmt.Errorf("blob has digest %s, not %s: %w", got, d, ociregistry.ErrDigestInvalid)
		}
		return nil
	}
	var n int64
	if existed {
		bp := partPool.Get().(*[]byte)
		n, err = io.CopyBuffer(h, io.LimitReader(rd, limit), *bp)
		partPool.Put(bp)
		if err == nil {
			err = check(n)
		}
	} else if d.Algorithm() == digest.SHA256 && desc.Size > partSize && desc.Size <= maxSinglePut {
		n, err = r.putStreamed(ctx, r.blobKey(d), rd, desc.Size, d, h, check)
	} else {
		n, err = r.putVerified(ctx, r.blobKey(d), io.LimitReader(rd, limit), h, check)
	}
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	mediaType := desc.MediaType
	if mediaType == "" {
		mediaType = octetStream
	}
	return r.finishBlob(ctx, repo, d, mediaType, n, existed, g0)
}

// finishBlob links content that is in the bucket into repo. When the
// content was there before the push (existed), it checks that a
// collection did not remove it meanwhile.
func (r *Registry) finishBlob(ctx context.Context, repo string, d ociregistry.Digest, mediaType string, size int64, existed bool, g0 gcState) (ociregistry.Descriptor, error) {
	for attempt := 1; ; attempt++ {
		l, err := r.linkBlob(ctx, repo, d, mediaType, size)
		if err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("ocis3: linking blob %s: %w", d, err)
		}
		if err := r.ensureCatalog(ctx, repo); err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("ocis3: storing blob %s: %w", d, err)
		}
		desc := ociregistry.Descriptor{MediaType: l.MediaType, Digest: d, Size: l.Size}
		if !existed {
			return desc, nil
		}
		linked := true
		err = r.fence(ctx, r.gcStateKey(), g0, func() error {
			if err := r.verifyContent(ctx, repo, d); err != nil {
				return err
			}
			// A collection that overlapped for longer than the
			// grace period took the link for an old one that
			// nothing uses.
			_, _, err := r.readLink(ctx, repo, d)
			if errors.Is(err, ociregistry.ErrBlobUnknown) {
				linked = false
				return nil
			}
			return err
		})
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		if linked {
			return desc, nil
		}
		if attempt == 3 {
			return ociregistry.Descriptor{}, errCollected("the link to blob "+string(d), ociregistry.ErrBlobUnknown)
		}
		// Link again, fenced anew.
		if g0, err = r.readGCState(ctx, r.gcStateKey()); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
}

// verifyContent checks that a blob's content is in the bucket, and
// removes repo's link to it when it is not.
func (r *Registry) verifyContent(ctx context.Context, repo string, d ociregistry.Digest) error {
	_, err := r.head(ctx, r.blobKey(d))
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("ocis3: checking blob %s: %w", d, err)
	}
	r.del(ctx, r.blobLinkKey(repo, d), "")
	return errCollected("blob "+string(d), ociregistry.ErrBlobUnknown)
}

// linkBlob makes repo's link to a blob. A link already there keeps its
// media type, as in ocimem, and is rewritten when it is older than
// linkRefresh, so that the garbage collector sees it as new.
func (r *Registry) linkBlob(ctx context.Context, repo string, d ociregistry.Digest, mediaType string, size int64) (blobLink, error) {
	l := blobLink{MediaType: mediaType, Size: size, Linked: time.Now().UTC()}
	data, _ := json.Marshal(l)
	key := r.blobLinkKey(repo, d)
	_, err := r.put(ctx, key, data, putOptions{ifNoneMatch: true})
	if err == nil || !isConflict(err) {
		return l, err
	}
	old, obj, err := r.readLink(ctx, repo, d)
	if err != nil {
		if isNotFound(err) {
			// Deleted in between: link afresh.
			_, err = r.put(ctx, key, data, putOptions{})
			return l, err
		}
		return blobLink{}, err
	}
	if time.Since(obj.modified) > linkRefresh {
		old.Linked = l.Linked
		data, _ := json.Marshal(old)
		if _, err := r.put(ctx, key, data, putOptions{}); err != nil {
			return blobLink{}, err
		}
	}
	return old, nil
}

// maxSinglePut is the largest content putStreamed sends in one PUT:
// S3's limit on PutObject.
const maxSinglePut = 5 << 30

// putStreamed streams size bytes of src to the object key in one PUT,
// hashing them into h as they go, and holds back the last bytes until
// check, given the number of bytes read, approves and src is found to
// hold no more: a PUT whose body ends short of its length makes no
// object, so content that does not match is never stored. One PUT
// rather than a multipart upload saves the store from writing the
// content twice (parts, then the object), and the replica from holding
// any part in memory. The object is written on the condition that there
// is none; one already there has the same content, so that counts as
// success. It returns the number of bytes read.
func (r *Registry) putStreamed(ctx context.Context, key string, src io.Reader, size int64, d ociregistry.Digest, h hash.Hash, check func(n int64) error) (int64, error) {
	sum, err := hex.DecodeString(d.Encoded())
	if err != nil {
		return 0, fmt.Errorf("bad digest %s: %w", d, ociregistry.ErrDigestInvalid)
	}
	body := &verifyingReader{src: src, remain: size, h: h, check: check}
	_, err = r.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &r.bucket,
		Key:           &key,
		Body:          body,
		ContentLength: aws.Int64(size),
		IfNoneMatch:   aws.String("*"),
		// The store checks the content against its digest too, so
		// that a body cut short (which some stores keep as if whole)
		// makes no object.
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum)),
	}, unsignedPayload, noRetry)
	there := err != nil && isConflict(err)
	if err != nil && !there && body.err == nil && !body.checked {
		// A store that refuses the PUT before reading all of the body
		// (the object is there: If-None-Match) may close the
		// connection rather than let the SDK read its answer.
		_, herr := r.head(ctx, key)
		there = herr == nil
	}
	if there && body.err == nil {
		// The content is still to be checked, as the caller links
		// it.
		io.Copy(io.Discard, body)
	}
	n := size - body.remain
	switch {
	case body.err != nil:
		return n, body.err
	case err != nil && !there:
		return n, fmt.Errorf("ocis3: storing %s: %w", key, err)
	}
	if !body.checked {
		// Whatever the store answered, the content was not all read
		// and checked.
		return n, fmt.Errorf("ocis3: storing %s: body not sent whole", key)
	}
	return n, nil
}

// noRetry makes a request go once: a streamed body cannot be sent again.
func noRetry(o *s3.Options) { o.RetryMaxAttempts = 1 }

// verifyingReader reads the body of a PUT from src, hashing it, and
// fails rather than give the last bytes when they would make content
// that check rejects.
type verifyingReader struct {
	src     io.Reader
	remain  int64
	h       hash.Hash
	check   func(n int64) error
	read    int64
	checked bool
	err     error // what made the body fail, if it did
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > v.remain {
		p = p[:v.remain]
	}
	n, err := v.src.Read(p)
	v.h.Write(p[:n])
	v.remain -= int64(n)
	v.read += int64(n)
	if v.remain == 0 {
		// The content must end here.
		var extra [1]byte
		m, _ := io.ReadFull(v.src, extra[:])
		if err := v.check(v.read + int64(m)); err != nil {
			v.err = err
			return 0, err
		}
		v.checked = true
		return n, nil
	}
	if err == io.EOF {
		v.err = v.check(v.read)
		if v.err == nil {
			v.err = fmt.Errorf("content ends after %d bytes: %w", v.read, ociregistry.ErrSizeInvalid)
		}
		return 0, v.err
	}
	if err != nil {
		v.err = err
		return 0, err
	}
	return n, nil
}

// putVerified streams src to the object key, hashing it into h, and
// makes the object only if check, given the number of bytes read,
// approves: content that fits in one part goes in one PUT, bigger
// content in a multipart upload whose parts are sent while the next is
// read, completed only once checked and aborted otherwise. The object is
// written on the condition that there is none (If-None-Match: *); one
// already there has the same content, so that counts as success. It
// returns the number of bytes read.
func (r *Registry) putVerified(ctx context.Context, key string, src io.Reader, h hash.Hash, check func(n int64) error) (int64, error) {
	bufs := [2]*[]byte{partPool.Get().(*[]byte), partPool.Get().(*[]byte)}
	defer partPool.Put(bufs[0])
	defer partPool.Put(bufs[1])

	n, rerr := io.ReadFull(src, *bufs[0])
	h.Write((*bufs[0])[:n])
	if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		if err := check(int64(n)); err != nil {
			return int64(n), err
		}
		_, err := r.put(ctx, key, (*bufs[0])[:n], putOptions{ifNoneMatch: true})
		if err != nil && !isConflict(err) {
			return int64(n), fmt.Errorf("ocis3: storing %s: %w", key, err)
		}
		return int64(n), nil
	}
	if rerr != nil {
		return int64(n), rerr
	}
	mpu, err := r.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &r.bucket, Key: &key})
	if err != nil {
		return int64(n), fmt.Errorf("ocis3: storing %s: %w", key, err)
	}
	m := &multipart{r: r, key: key, id: aws.ToString(mpu.UploadId)}
	total := int64(n)
	cur := 0
	m.sendAsync(ctx, (*bufs[cur])[:n])
	for {
		cur ^= 1
		n, rerr = io.ReadFull(src, *bufs[cur])
		h.Write((*bufs[cur])[:n])
		total += int64(n)
		// The other buffer is free once its part is sent.
		if err := m.wait(); err != nil {
			m.abort()
			return total, fmt.Errorf("ocis3: storing %s: %w", key, err)
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF && rerr != io.EOF {
			m.abort()
			return total, rerr
		}
		if n > 0 {
			if len(m.parts) >= maxMultipartParts {
				m.abort()
				return total, fmt.Errorf("blob is bigger than %d bytes, the most ocis3 stores: %w", int64(maxMultipartParts)*partSize, ociregistry.ErrSizeInvalid)
			}
			m.sendAsync(ctx, (*bufs[cur])[:n])
		}
		if rerr != nil {
			break
		}
	}
	if err := m.wait(); err != nil {
		m.abort()
		return total, fmt.Errorf("ocis3: storing %s: %w", key, err)
	}
	if err := check(total); err != nil {
		m.abort()
		return total, err
	}
	if err := m.complete(ctx); err != nil {
		return total, fmt.Errorf("ocis3: storing %s: %w", key, err)
	}
	return total, nil
}

// maxMultipartParts is S3's limit on the parts of a multipart upload;
// with partSize parts, it bounds the size of a blob.
const maxMultipartParts = 10000

// multipart is an S3 multipart upload in progress.
type multipart struct {
	r     *Registry
	key   string
	id    string
	parts []types.CompletedPart
	// pending, when not nil, receives the result of the part being sent.
	pending chan error
}

// sendAsync sends data as the next part in the background; wait returns
// the result. data must stay untouched until then.
func (m *multipart) sendAsync(ctx context.Context, data []byte) {
	num := int32(len(m.parts) + 1)
	m.parts = append(m.parts, types.CompletedPart{PartNumber: aws.Int32(num)})
	done := make(chan error, 1)
	m.pending = done
	go func() {
		out, err := m.r.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        &m.r.bucket,
			Key:           &m.key,
			UploadId:      &m.id,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))),
		}, unsignedPayload)
		if err == nil {
			m.parts[num-1].ETag = out.ETag
		}
		done <- err
	}()
}

// send sends data as the next part and waits for it.
func (m *multipart) send(ctx context.Context, data []byte) error {
	m.sendAsync(ctx, data)
	return m.wait()
}

// copyPart makes the next part a copy of the object src.
func (m *multipart) copyPart(ctx context.Context, src string) error {
	num := int32(len(m.parts) + 1)
	out, err := m.r.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket:     &m.r.bucket,
		Key:        &m.key,
		UploadId:   &m.id,
		PartNumber: aws.Int32(num),
		CopySource: aws.String(m.r.bucket + "/" + src),
	})
	if err != nil {
		return err
	}
	m.parts = append(m.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.CopyPartResult.ETag})
	return nil
}

// wait waits for the part being sent, if any.
func (m *multipart) wait() error {
	if m.pending == nil {
		return nil
	}
	err := <-m.pending
	m.pending = nil
	return err
}

// complete makes the object, unless one is there already (which has
// the same content, being addressed by it), in which case the upload is
// aborted.
func (m *multipart) complete(ctx context.Context) error {
	_, err := m.r.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &m.r.bucket,
		Key:             &m.key,
		UploadId:        &m.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: m.parts},
		IfNoneMatch:     aws.String("*"),
	})
	if err != nil {
		m.abort()
		if isConflict(err) {
			return nil
		}
	}
	return err
}

// abort abandons the upload and frees its parts, whatever the state of
// the caller's context.
func (m *multipart) abort() {
	m.wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m.r.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &m.r.bucket, Key: &m.key, UploadId: &m.id})
}

// MountBlob makes a blob of fromRepo available in toRepo by linking the
// shared content: nothing is copied. It returns an error that Is
// ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for a bad
// name or digest, and ociregistry.ErrBlobUnknown when fromRepo does not
// hold the blob.
func (r *Registry) MountBlob(ctx context.Context, fromRepo, toRepo string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(fromRepo, d); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := ociregistry.CheckRepository(toRepo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	g0, err := r.readGCState(ctx, r.gcStateKey())
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	l, _, err := r.readLink(ctx, fromRepo, d)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.finishBlob(ctx, toRepo, d, l.MediaType, l.Size, true, g0)
}

// PushManifest stores a manifest in repo, under its sha256 and its
// sha512 digest, and points tag at it when tag is not empty. The
// manifest must parse as mediaType (taken from the content when empty)
// and, unless Config.LaxChildReferences is set, the config, layers and
// child manifests it refers to must be in repo. When a DeleteManifest of
// the same content overlaps it, on this replica or another, it waits for
// the deletion to end and writes the manifest, its tag and its referrer
// entry again, so that it comes after the deletion whole: no tag is left
// naming a manifest that is gone, and no manifest without the tag or
// referrer entry its push gave it. It returns an error that Is
// ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrManifestInvalid for a bad tag or content,
// ociregistry.ErrManifestBlobUnknown for a missing reference, and S3's
// error when it cannot be written, or the context's.
func (r *Registry) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if tag != "" {
		if err := checkTag(tag); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	if len(contents) > maxSmallObject {
		return ociregistry.Descriptor{}, fmt.Errorf("manifest of %d bytes is bigger than %d: %w", len(contents), maxSmallObject, ociregistry.ErrManifestInvalid)
	}
	pm, err := ocimanifest.Parse(contents, mediaType)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	d256 := digest.SHA256.FromBytes(contents)
	d512 := digest.SHA512.FromBytes(contents)
	desc := ociregistry.Descriptor{MediaType: pm.MediaType, Digest: d256, Size: int64(len(contents))}
	if pm.Algorithm == digest.SHA512 {
		desc.Digest = d512
	}
	// The links a manifest relies on are the repository's; the fence
	// of the repository covers them. (A link implies its content: a
	// collection only removes content that no link it saw names, and a
	// link made since relied on the global fence.)
	g0, err := r.readGCState(ctx, r.gcRepoStateKey(repo))
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := r.checkReferences(ctx, repo, pm, r.cfg.LaxChildReferences); err != nil {
		return ociregistry.Descriptor{}, err
	}
	fail := func(err error) (ociregistry.Descriptor, error) {
		return ociregistry.Descriptor{}, fmt.Errorf("ocis3: storing manifest %s: %w", desc.Digest, err)
	}
	meta := map[string]string{metaMediaType: pm.MediaType, metaDigest: string(desc.Digest)}
	// storeManifest writes the manifest's objects, the referrer's
	// marker first: Referrers skips markers without a manifest, so a
	// failure between the two leaves nothing wrong. The sha256 object
	// comes last: DeleteManifest and the garbage collector go by it.
	storeManifest := func() error {
		if pm.Subject != nil && ociregistry.CheckDigest(pm.Subject.Digest) == nil {
			if _, err := r.put(ctx, r.referrerKey(repo, pm.Subject.Digest, desc.Digest), nil, putOptions{}); err != nil {
				return err
			}
		}
		adopted := false
		for _, d := range []ociregistry.Digest{d512, d256} {
			_, err := r.put(ctx, r.manifestKey(repo, d), contents, putOptions{ifNoneMatch: true, meta: meta})
			if err == nil {
				continue
			}
			if !isConflict(err) {
				return err
			}
			if !pm.Declared && !adopted {
				// The content names no media type, so an earlier
				// push may have given it another: the manifest
				// keeps the first, and so do its other copy and
				// the tag. The sha512 copy is written first, so
				// its first writer decides.
				obj, err := r.head(ctx, r.manifestKey(repo, d))
				if err != nil && !isNotFound(err) {
					return err
				}
				if mt := obj.meta[metaMediaType]; mt != "" {
					meta[metaMediaType], desc.MediaType = mt, mt
					adopted = true
				}
			}
		}
		return nil
	}
	var tagETag string
	write := func() error {
		if err := storeManifest(); err != nil {
			return err
		}
		if err := r.ensureCatalog(ctx, repo); err != nil {
			return err
		}
		if tag != "" {
			etag, err := r.put(ctx, r.tagKey(repo, tag), contents, putOptions{meta: meta})
			if err != nil {
				return err
			}
			tagETag = etag
		}
		return nil
	}
	if err := r.writeApartFromDeletions(ctx, repo, d256, write); err != nil {
		return fail(err)
	}
	if !r.cfg.LaxChildReferences && (len(pm.Blobs) > 0 || len(pm.Children) > 0) {
		err := r.fence(ctx, r.gcRepoStateKey(repo), g0, func() error {
			err := r.checkReferences(ctx, repo, pm, false)
			if err != nil {
				r.undoManifest(ctx, repo, tag, tagETag, d256, d512, pm, desc.Digest)
			}
			return err
		})
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	return desc, nil
}

// undoManifest undoes a push whose references a collection removed: its
// tag, if no other push moved it since, and, as a deletion would (under
// a marker, so that other pushes of the manifest come after it whole),
// the manifest and its referrer entry, unless meanwhile another push
// brought back what it refers to.
func (r *Registry) undoManifest(ctx context.Context, repo, tag, tagETag string, d256, d512 ociregistry.Digest, pm *ocimanifest.Parsed, primary ociregistry.Digest) {
	ctx = context.WithoutCancel(ctx)
	if tag != "" {
		r.del(ctx, r.tagKey(repo, tag), tagETag)
	}
	mark, err := r.markDeletion(ctx, repo, d256)
	if err != nil {
		return
	}
	ok := false
	defer func() { mark.end(ctx, ok) }()
	if r.checkReferences(ctx, repo, pm, false) == nil {
		ok = true
		return
	}
	keys := []string{r.manifestKey(repo, d512), r.manifestKey(repo, d256)}
	if pm.Subject != nil && ociregistry.CheckDigest(pm.Subject.Digest) == nil {
		keys = append(keys, r.referrerKey(repo, pm.Subject.Digest, primary))
	}
	for _, k := range keys {
		if err := mark.remove(ctx, func(ctx context.Context) error { return r.del(ctx, k, "") }); err != nil {
			return
		}
	}
	ok = true
}

// maxParallelChecks bounds the requests that checkReferences has in
// flight at once.
const maxParallelChecks = 16

// checkReferences checks, with concurrent requests, that the blobs and
// child manifests that pm refers to are in repo (unless lax is set) with
// the sizes pm's descriptors give, as a client that pulls them will
// check: a GET of each blob's link (which holds its size), a HEAD of
// each child.
func (r *Registry) checkReferences(ctx context.Context, repo string, pm *ocimanifest.Parsed, lax bool) error {
	type ref struct {
		desc ociregistry.Descriptor
		blob bool
	}
	var refs []ref
	for _, b := range pm.Blobs {
		if ociregistry.CheckDigest(b.Digest) != nil {
			return fmt.Errorf("manifest refers to blob %s: %w", b.Digest, ociregistry.ErrManifestBlobUnknown)
		}
		refs = append(refs, ref{b, true})
	}
	for _, m := range pm.Children {
		if ociregistry.CheckDigest(m.Digest) != nil {
			return fmt.Errorf("index refers to manifest %s: %w", m.Digest, ociregistry.ErrManifestBlobUnknown)
		}
		refs = append(refs, ref{m, false})
	}
	errs := make([]error, len(refs))
	sem := make(chan struct{}, maxParallelChecks)
	var wg sync.WaitGroup
	for i, rf := range refs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			what := "manifest " + string(rf.desc.Digest)
			var size int64
			var err error
			if rf.blob {
				what = "blob " + string(rf.desc.Digest)
				var l blobLink
				l, _, err = r.readLink(ctx, repo, rf.desc.Digest)
				size = l.Size
			} else {
				var obj object
				obj, err = r.head(ctx, r.manifestKey(repo, rf.desc.Digest))
				size = obj.size
			}
			switch {
			case (errors.Is(err, ociregistry.ErrBlobUnknown) || isNotFound(err)) && lax:
			case errors.Is(err, ociregistry.ErrBlobUnknown) || isNotFound(err):
				errs[i] = fmt.Errorf("manifest refers to %s: %w", what, ociregistry.ErrManifestBlobUnknown)
			case err != nil:
				errs[i] = fmt.Errorf("ocis3: checking %s: %w", what, err)
			case size != rf.desc.Size:
				errs[i] = fmt.Errorf("%s has size %d, not the %d its descriptor says: %w", what, size, rf.desc.Size, ociregistry.ErrManifestInvalid)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
