package ocis3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// DefaultChunkSize is the chunk size a BlobWriter reports when the caller
// asks for none.
const DefaultChunkSize = partSize

// maxUploadParts bounds the part objects of one chunked upload (each
// PATCH makes at least one), and with them the size of its state; a
// variable so that tests can lower it.
var maxUploadParts = 10000

// uploadState is what uploads/<id>/state holds: everything a replica
// needs to carry on with an upload that another one began.
type uploadState struct {
	Repo    string    `json:"repo"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
	// SHA256 is the sha256 state after Size bytes (MarshalBinary).
	SHA256 []byte       `json:"sha256"`
	Parts  []uploadPart `json:"parts"`
}

// uploadPart is one object holding part of an upload's data.
type uploadPart struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// PushBlobChunked starts a chunked upload to repo; its state is written
// to the bucket at once, so that the next request may go to any replica.
// It returns an error that Is ociregistry.ErrNameInvalid for a bad
// repository name, and S3's error when the state cannot be written.
func (r *Registry) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	var idBytes [16]byte
	rand.Read(idBytes[:])
	id := hex.EncodeToString(idBytes[:])
	h := sha256.New()
	hs, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	st := uploadState{Repo: repo, Created: time.Now().UTC(), SHA256: hs}
	data, _ := json.Marshal(st)
	etag, err := r.put(ctx, r.uploadPrefix(id)+"state", data, putOptions{ifNoneMatch: true})
	if err != nil {
		return nil, fmt.Errorf("ocis3: starting upload: %w", err)
	}
	return r.newBlobWriter(ctx, id, st, etag, h, chunkSize), nil
}

// PushBlobChunkedResume carries on the upload with the given ID, from the
// state in the bucket, whichever replica wrote it: the hash goes on from
// its saved state, so nothing is read back. It returns an error that Is
// ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrBlobUploadUnknown when repo has no such upload, and
// ociregistry.ErrRangeInvalid when offset is not negative and not the
// size of the data written so far.
func (r *Registry) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	unknown := fmt.Errorf("upload %q in repository %s: %w", id, repo, ociregistry.ErrBlobUploadUnknown)
	if !validUploadID(id) {
		return nil, unknown
	}
	data, obj, err := r.get(ctx, r.uploadPrefix(id)+"state")
	if err != nil {
		if isNotFound(err) {
			return nil, unknown
		}
		return nil, fmt.Errorf("ocis3: resuming upload: %w", err)
	}
	var st uploadState
	if json.Unmarshal(data, &st) != nil || st.Repo != repo {
		return nil, unknown
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.SHA256); err != nil {
		return nil, fmt.Errorf("ocis3: upload %q has a corrupt hash state: %v", id, err)
	}
	if offset >= 0 && offset != st.Size {
		return nil, fmt.Errorf("upload %q is at offset %d, not %d: %w", id, st.Size, offset, ociregistry.ErrRangeInvalid)
	}
	return r.newBlobWriter(ctx, id, st, obj.etag, h, chunkSize), nil
}

// validUploadID reports whether id could have been made by
// PushBlobChunked, so that an ID can never name a key elsewhere.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (r *Registry) newBlobWriter(ctx context.Context, id string, st uploadState, etag string, h hash.Hash, chunkSize int) *blobWriter {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	return &blobWriter{r: r, ctx: ctx, id: id, st: st, etag: etag, h: h, chunkSize: chunkSize}
}

// blobWriter writes a chunked upload: data collects in a buffer that
// goes to the bucket as a part object whenever it fills, and at Close.
type blobWriter struct {
	r         *Registry
	ctx       context.Context
	id        string
	st        uploadState // as in the bucket, plus the parts written since
	etag      string      // of the state in the bucket
	h         hash.Hash
	chunkSize int

	buf      *[]byte // from partPool, or nil
	n        int     // bytes in buf
	newParts []string
	dirty    bool
	closed   bool
	done     bool // committed or cancelled
}

var errClosed = errors.New("ocis3: blob writer is closed")

// Write appends p to the upload.
func (w *blobWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errClosed
	}
	written := 0
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = partPool.Get().(*[]byte)
		}
		c := copy((*w.buf)[w.n:], p)
		w.h.Write(p[:c])
		w.n += c
		w.st.Size += int64(c)
		w.dirty = true
		written += c
		p = p[c:]
		if w.n == len(*w.buf) {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// ReadFrom appends everything from src to the upload, reading straight
// into the part buffer.
func (w *blobWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.closed {
		return 0, errClosed
	}
	var total int64
	for {
		if w.buf == nil {
			w.buf = partPool.Get().(*[]byte)
		}
		n, err := io.ReadFull(src, (*w.buf)[w.n:])
		w.h.Write((*w.buf)[w.n : w.n+n])
		w.n += n
		w.st.Size += int64(n)
		total += int64(n)
		if n > 0 {
			w.dirty = true
		}
		if w.n == len(*w.buf) {
			if ferr := w.flush(); ferr != nil {
				return total, ferr
			}
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return total, nil
		case err != nil:
			return total, err
		}
	}
}

// flush writes the buffer as a new part object.
func (w *blobWriter) flush() error {
	if w.n == 0 {
		return nil
	}
	if len(w.st.Parts) >= maxUploadParts {
		return fmt.Errorf("upload %q already holds %d chunks, the most one upload may: %w", w.id, maxUploadParts, ociregistry.ErrBlobUploadInvalid)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	key := fmt.Sprintf("%s%08d-%x", w.r.uploadPrefix(w.id), len(w.st.Parts), rnd)
	if _, err := w.r.put(w.ctx, key, (*w.buf)[:w.n], putOptions{}); err != nil {
		return fmt.Errorf("ocis3: writing upload: %w", err)
	}
	w.st.Parts = append(w.st.Parts, uploadPart{Key: key, Size: int64(w.n)})
	w.newParts = append(w.newParts, key)
	w.n = 0
	return nil
}

// release gives the buffer back.
func (w *blobWriter) release() {
	if w.buf != nil {
		partPool.Put(w.buf)
		w.buf = nil
	}
}

// Size returns the number of bytes in the upload.
func (w *blobWriter) Size() int64 { return w.st.Size }

// ChunkSize returns the chunk size asked for, or DefaultChunkSize.
func (w *blobWriter) ChunkSize() int { return w.chunkSize }

// ID returns the upload's ID.
func (w *blobWriter) ID() string { return w.id }

// Close writes what is buffered and the upload's new state, on the
// condition that the state in the bucket is still the one this writer
// started from: of two writers racing on one upload, one fails and its
// data is dropped. The upload stays, for PushBlobChunkedResume.
func (w *blobWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	defer w.release()
	if !w.dirty {
		return nil
	}
	if err := w.flush(); err != nil {
		w.dropNewParts()
		return err
	}
	return w.saveState()
}

// saveState writes the state by compare-and-swap.
func (w *blobWriter) saveState() error {
	hs, err := w.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fmt.Errorf("ocis3: saving upload: %w", err)
	}
	w.st.SHA256 = hs
	data, _ := json.Marshal(w.st)
	etag, err := w.r.put(w.ctx, w.r.uploadPrefix(w.id)+"state", data, putOptions{ifMatch: w.etag})
	if err != nil {
		w.dropNewParts()
		if isConflict(err) || isNotFound(err) {
			return fmt.Errorf("upload %q was changed or ended by another request meanwhile: %w", w.id, ociregistry.ErrBlobUploadInvalid)
		}
		return fmt.Errorf("ocis3: saving upload: %w", err)
	}
	w.etag = etag
	w.newParts = nil
	w.dirty = false
	return nil
}

// dropNewParts removes the part objects this writer made, which the
// state in the bucket does not name.
func (w *blobWriter) dropNewParts() {
	if len(w.newParts) > 0 {
		w.r.deleteKeys(context.WithoutCancel(w.ctx), w.newParts)
		w.newParts = nil
	}
}

// Commit checks that the upload's content has the given digest and makes
// it a blob of the repository: its parts are composed into the blob's
// object (small ones concatenated, parts of 5 MiB or more copied within
// S3), which appears whole or not at all; then the upload is removed. It
// returns an error that Is ociregistry.ErrDigestInvalid when the digest
// is bad or does not match, in which case nothing is stored and the
// upload stays, and S3's error when the blob cannot be stored.
func (w *blobWriter) Commit(d ociregistry.Digest) (ociregistry.Descriptor, error) {
	if w.closed {
		return ociregistry.Descriptor{}, errClosed
	}
	ctx := w.ctx
	if err := ociregistry.CheckRepositoryDigest(w.st.Repo, d); err != nil {
		return ociregistry.Descriptor{}, err
	}
	var got ociregistry.Digest
	if d.Algorithm() == digest.SHA256 {
		got = digest.NewDigest(digest.SHA256, w.h)
	} else {
		// sha512 uploads are rare: hash the parts again rather than
		// every upload twice.
		h := d.Algorithm().Hash()
		if err := w.each(ctx, func(data []byte) error { h.Write(data); return nil }); err != nil {
			return ociregistry.Descriptor{}, w.partsError(err)
		}
		got = digest.NewDigest(d.Algorithm(), h)
	}
	if got != d {
		return ociregistry.Descriptor{}, fmt.Errorf("upload has digest %s, not %s: %w", got, d, ociregistry.ErrDigestInvalid)
	}
	g0, err := w.r.readGCState(ctx, w.r.gcStateKey())
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	key := w.r.blobKey(d)
	_, herr := w.r.head(ctx, key)
	if herr != nil && !isNotFound(herr) {
		return ociregistry.Descriptor{}, fmt.Errorf("ocis3: storing blob %s: %w", d, herr)
	}
	existed := herr == nil
	if !existed {
		if err := w.compose(ctx, key); err != nil {
			return ociregistry.Descriptor{}, w.partsError(fmt.Errorf("storing blob %s: %w", d, err))
		}
	}
	desc, err := w.r.finishBlob(ctx, w.st.Repo, d, octetStream, w.st.Size, existed, g0)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	w.closed, w.done = true, true
	w.release()
	w.r.removeUpload(context.WithoutCancel(ctx), w.id, w.st)
	return desc, nil
}

// partsError returns the error for a failure to read the upload's
// parts: a part that is gone means that the upload was cancelled (on
// this replica or another) while it was being completed, and the upload
// is unknown, as it would be a moment later.
func (w *blobWriter) partsError(err error) error {
	if isNotFound(err) {
		return fmt.Errorf("upload %s was cancelled or abandoned as it was being completed: %w", w.id, ociregistry.ErrBlobUploadUnknown)
	}
	return fmt.Errorf("ocis3: upload %s: %w", w.id, err)
}

// each calls f with the upload's data in order, part by part, ending
// with what is buffered.
func (w *blobWriter) each(ctx context.Context, f func([]byte) error) error {
	bp := partPool.Get().(*[]byte)
	defer partPool.Put(bp)
	for _, p := range w.st.Parts {
		data, err := w.r.readPart(ctx, p, (*bp)[:0])
		if err != nil {
			return err
		}
		if err := f(data); err != nil {
			return err
		}
	}
	if w.n > 0 {
		return f((*w.buf)[:w.n])
	}
	return nil
}

// readPart reads a part object into buf, which it grows if need be.
func (r *Registry) readPart(ctx context.Context, p uploadPart, buf []byte) ([]byte, error) {
	out, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &r.bucket, Key: aws.String(p.Key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	b := bytes.NewBuffer(buf)
	if _, err := b.ReadFrom(io.LimitReader(out.Body, p.Size+1)); err != nil {
		return nil, err
	}
	if int64(b.Len()-len(buf)) != p.Size {
		return nil, fmt.Errorf("part %s holds %d bytes, not %d", p.Key, b.Len()-len(buf), p.Size)
	}
	return b.Bytes(), nil
}

// compose makes the object key from the upload's data. Data that fits
// in one part goes in one PUT; more goes in a multipart upload, where a
// part object of S3's minimum part size or more that starts a part is
// copied within S3 and smaller ones are concatenated until they make a
// part. It holds at most two parts' worth in memory.
func (w *blobWriter) compose(ctx context.Context, key string) error {
	if w.st.Size <= partSize {
		var all []byte
		if err := w.each(ctx, func(data []byte) error { all = append(all, data...); return nil }); err != nil {
			return err
		}
		_, err := w.r.put(ctx, key, all, putOptions{ifNoneMatch: true})
		if err != nil && isConflict(err) {
			return nil
		}
		return err
	}
	mpu, err := w.r.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &w.r.bucket, Key: &key})
	if err != nil {
		return err
	}
	m := &multipart{r: w.r, key: key, id: aws.ToString(mpu.UploadId)}
	var acc []byte
	sendAcc := func() error {
		if len(acc) == 0 {
			return nil
		}
		err := m.send(ctx, acc)
		acc = acc[:0]
		return err
	}
	for _, p := range w.st.Parts {
		if len(acc) == 0 && p.Size >= minPartSize {
			if err := m.copyPart(ctx, p.Key); err != nil {
				m.abort()
				return err
			}
			continue
		}
		if acc, err = w.r.readPart(ctx, p, acc); err != nil {
			m.abort()
			return err
		}
		if len(acc) >= minPartSize {
			if err := sendAcc(); err != nil {
				m.abort()
				return err
			}
		}
	}
	if w.n > 0 {
		acc = append(acc, (*w.buf)[:w.n]...)
	}
	if err := sendAcc(); err != nil {
		m.abort()
		return err
	}
	return m.complete(ctx)
}

// removeUpload deletes an upload's parts and state.
func (r *Registry) removeUpload(ctx context.Context, id string, st uploadState) error {
	keys := make([]string, 0, len(st.Parts)+1)
	for _, p := range st.Parts {
		keys = append(keys, p.Key)
	}
	keys = append(keys, r.uploadPrefix(id)+"state")
	return r.deleteKeys(ctx, keys)
}

// Cancel abandons the upload and removes its data. It does nothing after
// Commit.
func (w *blobWriter) Cancel() error {
	if w.done {
		return nil
	}
	w.closed, w.done = true, true
	w.release()
	w.dropNewParts()
	// Parts written by other writers since this one read the state are
	// found by listing.
	var keys []string
	for o, err := range w.r.list(w.ctx, w.r.uploadPrefix(w.id), "") {
		if err != nil {
			return fmt.Errorf("ocis3: cancelling upload: %w", err)
		}
		keys = append(keys, aws.ToString(o.Key))
	}
	if err := w.r.deleteKeys(w.ctx, keys); err != nil {
		return fmt.Errorf("ocis3: cancelling upload: %w", err)
	}
	return nil
}
