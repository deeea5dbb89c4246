package ocifs

import (
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
	"os"
	"path/filepath"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// DefaultChunkSize is the chunk size a BlobWriter reports when the caller
// asks for none.
const DefaultChunkSize = 1 << 20

// uploadInfo is what uploads/<id>/info holds.
type uploadInfo struct {
	Repo    string    `json:"repo"`
	Created time.Time `json:"created"`
}

// uploadState is the hash state of an upload that this Registry closed.
type uploadState struct {
	size int64
	hash []byte
}

// PushBlobChunked starts a chunked upload to repo. Its data is kept in
// uploads/<id>/data, so the upload can be resumed by ID even by a new
// Registry after a restart. It returns an error that Is
// ociregistry.ErrNameInvalid for a bad repository name, and the file
// system's error when the upload cannot be created.
func (r *Registry) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	if _, err := repoDir(r.dir, repo); err != nil {
		return nil, err
	}
	r.maybeCleanStale()
	var idBytes [16]byte
	rand.Read(idBytes[:])
	id := hex.EncodeToString(idBytes[:])
	udir := filepath.Join(r.dir, "uploads", id)
	if err := mkdirAll(r.fs, udir); err != nil {
		return nil, fmt.Errorf("ocifs: starting upload: %w", err)
	}
	info, _ := json.Marshal(uploadInfo{Repo: repo, Created: time.Now().UTC()})
	if err := r.writeFileAtomic(filepath.Join(udir, "info"), info); err != nil {
		r.fs.removeAll(udir)
		return nil, fmt.Errorf("ocifs: starting upload: %w", err)
	}
	f, err := r.fs.openFile(filepath.Join(udir, "data"), os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o666)
	if err != nil {
		r.fs.removeAll(udir)
		return nil, fmt.Errorf("ocifs: starting upload: %w", err)
	}
	return r.newBlobWriter(ctx, repo, id, f, sha256.New(), 0, chunkSize), nil
}

// PushBlobChunkedResume carries on the upload with the given ID. Writers
// of an upload take turns, in this process and in others on the
// directory. With a non-negative offset it waits for its turn; with a
// negative one it returns at once a writer that knows the upload's size
// and takes its turn only when it first writes, commits or cancels (so
// that a server answering a status request neither waits for a PATCH
// that is streaming in nor holds the upload up); a write or commit then
// fails with an error that Is ociregistry.ErrRangeInvalid if another
// writer added to the upload meanwhile. The hash of the data written so
// far is recomputed from the data file, when first needed, unless this
// Registry closed the upload itself. It returns an error that Is
// ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrBlobUploadUnknown when repo has no such upload, and
// ociregistry.ErrRangeInvalid when offset is not negative and not the
// size of the data written so far.
func (r *Registry) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if offset < 0 {
		return r.lazyUpload(ctx, repo, id, chunkSize)
	}
	return r.resume(ctx, repo, id, offset, chunkSize)
}

// errUploadUnknown is the error for an upload id that repo does not have.
func errUploadUnknown(repo, id string) error {
	return fmt.Errorf("upload %.100q in repository %s: %w", id, repo, ociregistry.ErrBlobUploadUnknown)
}

// uploadDir returns the directory of the upload id in repo, or an error
// that Is ociregistry.ErrBlobUploadUnknown when repo has no such upload.
func (r *Registry) uploadDir(repo, id string) (string, error) {
	if _, err := repoDir(r.dir, repo); err != nil {
		return "", err
	}
	unknown := errUploadUnknown(repo, id)
	if !validUploadID(id) {
		return "", unknown
	}
	udir := filepath.Join(r.dir, "uploads", id)
	data, err := os.ReadFile(filepath.Join(udir, "info"))
	if err != nil {
		if notFound(err) {
			return "", unknown
		}
		return "", fmt.Errorf("ocifs: resuming upload: %w", err)
	}
	var info uploadInfo
	if json.Unmarshal(data, &info) != nil || info.Repo != repo {
		return "", unknown
	}
	return udir, nil
}

// resume returns a writer of the upload id in repo once it is this
// writer's turn, which must be at offset unless offset is negative.
func (r *Registry) resume(ctx context.Context, repo, id string, offset int64, chunkSize int) (*blobWriter, error) {
	udir, err := r.uploadDir(repo, id)
	if err != nil {
		return nil, err
	}
	unknown := errUploadUnknown(repo, id)
	// Writers of one upload take turns, in this process and in others
	// on the directory: two requests that resume it at the same offset
	// must not both append, nor may one append to the data file that
	// another commits as a blob. The writer holds the lock until it is
	// closed, committed or cancelled; a commit or cancel releases it
	// only once the upload is gone, so a writer that waited finds that.
	unlock, err := lockExisting(ctx, filepath.Join(udir, "info"))
	if err != nil {
		if notFound(err) {
			return nil, unknown
		}
		return nil, fmt.Errorf("ocifs: resuming upload: %w", err)
	}
	f, err := r.fs.openFile(filepath.Join(udir, "data"), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		unlock()
		if notFound(err) {
			return nil, unknown
		}
		return nil, fmt.Errorf("ocifs: resuming upload: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		unlock()
		return nil, fmt.Errorf("ocifs: resuming upload: %w", err)
	}
	size := fi.Size()
	if offset >= 0 && offset != size {
		f.Close()
		unlock()
		return nil, fmt.Errorf("upload %q is at offset %d, not %d: %w", id, size, offset, ociregistry.ErrRangeInvalid)
	}
	h := sha256.New()
	r.uploadsMu.Lock()
	st, ok := r.uploads[id]
	delete(r.uploads, id)
	r.uploadsMu.Unlock()
	w := r.newBlobWriter(ctx, repo, id, f, h, size, chunkSize)
	w.unlock = unlock
	// Without the state this Registry saved, what is there is hashed
	// when first needed (a writer that only cancels never needs it):
	// the data file is all there is to trust after a restart.
	w.hashPending = !ok || st.size != size || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.hash) != nil
	return w, nil
}

// hashData makes w's hash that of the data file, if it is pending.
func (w *blobWriter) hashData() error {
	if !w.hashPending {
		return nil
	}
	w.h.Reset()
	n, err := io.Copy(w.h, io.NewSectionReader(w.f, 0, w.size))
	if err != nil || n != w.size {
		w.hashBad = true
		return fmt.Errorf("ocifs: resuming upload: reading data: %v", err)
	}
	w.hashPending = false
	return nil
}

// validUploadID reports whether id could have been made by
// PushBlobChunked, so that an ID can never name a path elsewhere.
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

func (r *Registry) newBlobWriter(ctx context.Context, repo, id string, f file, h hash.Hash, size int64, chunkSize int) *blobWriter {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	return &blobWriter{
		ctx:       ctx,
		r:         r,
		repo:      repo,
		id:        id,
		f:         f,
		w:         r.writer(f, size),
		h:         h,
		size:      size,
		chunkSize: chunkSize,
	}
}

// blobWriter writes a chunked upload to its data file, hashing as it goes.
type blobWriter struct {
	// ctx is that of the call that made the writer: Commit, which has
	// none of its own, stops waiting for the garbage collector when it
	// is done.
	ctx       context.Context
	r         *Registry
	repo, id  string
	f         file
	w         io.Writer
	h         hash.Hash
	size      int64
	chunkSize int

	closed    bool
	committed bool
	// unlock, when not nil, releases the upload's lock (see
	// PushBlobChunkedResume).
	unlock func()
	// hashBad says that h may not match the data file, after a
	// failed write.
	hashBad bool
	// hashPending says that h has not yet hashed the data the upload
	// held when the writer was made (see hashData).
	hashPending bool
}

var errClosed = errors.New("ocifs: blob writer is closed")

// Write appends p to the upload.
func (w *blobWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errClosed
	}
	if err := w.hashData(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(p)
	w.h.Write(p[:n])
	w.size += int64(n)
	if err != nil {
		w.hashBad = true
		return n, fmt.Errorf("ocifs: writing upload: %w", err)
	}
	return n, nil
}

// ReadFrom appends everything from src to the upload through a buffer
// big enough that hashing sets the pace.
func (w *blobWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.closed {
		return 0, errClosed
	}
	if err := w.hashData(); err != nil {
		return 0, err
	}
	n, err := copyHashing(w.w, w.h, src)
	w.size += n
	if err != nil {
		w.hashBad = true
		return n, fmt.Errorf("ocifs: writing upload: %w", err)
	}
	return n, nil
}

// Size returns the number of bytes in the upload.
func (w *blobWriter) Size() int64 { return w.size }

// ChunkSize returns the chunk size asked for, or DefaultChunkSize.
func (w *blobWriter) ChunkSize() int { return w.chunkSize }

// ID returns the upload's ID.
func (w *blobWriter) ID() string { return w.id }

// Close releases the writer, keeping the upload for
// PushBlobChunkedResume.
func (w *blobWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if m, ok := w.h.(encoding.BinaryMarshaler); ok && !w.hashBad && !w.hashPending {
		if state, err := m.MarshalBinary(); err == nil {
			w.r.saveUploadState(w.id, uploadState{size: w.size, hash: state})
		}
	}
	err := w.f.Close()
	w.release()
	return err
}

// release releases the upload's lock, if the writer holds it.
func (w *blobWriter) release() {
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// Commit checks that the upload's content has the given digest and makes
// it a blob of the repository: the data file is fsynced and renamed into
// place, so the blob appears whole or not at all. It returns an error that
// Is ociregistry.ErrDigestInvalid when the digest is bad or does not
// match, in which case nothing is stored and the upload stays, and the
// file system's error when the blob cannot be stored.
func (w *blobWriter) Commit(dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if w.closed {
		return ociregistry.Descriptor{}, errClosed
	}
	rdir, dp, err := checkRepoDigest(w.r.dir, w.repo, dig)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	var got digest.Digest
	if dig.Algorithm() == digest.SHA256 && !w.hashBad && !w.hashPending {
		got = digest.NewDigest(digest.SHA256, w.h)
	} else {
		h := dig.Algorithm().Hash()
		if _, err := io.Copy(h, io.NewSectionReader(w.f, 0, w.size)); err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("ocifs: reading upload: %w", err)
		}
		got = digest.NewDigest(dig.Algorithm(), h)
	}
	if got != dig {
		return ociregistry.Descriptor{}, fmt.Errorf("upload has digest %s, not %s: %w", got, dig, ociregistry.ErrDigestInvalid)
	}
	if err := w.r.syncFile(w.f); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing blob %s: %w", dig, err)
	}
	w.closed = true
	w.f.Close()
	udir := filepath.Join(w.r.dir, "uploads", w.id)
	if err := w.r.storeBlob(w.ctx, filepath.Join(udir, "data"), rdir, dp, octetStream); err != nil {
		w.release()
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing blob %s: %w", dig, err)
	}
	w.committed = true
	w.r.fs.removeAll(udir)
	w.release()
	return ociregistry.Descriptor{MediaType: octetStream, Digest: dig, Size: w.size}, nil
}

// Cancel abandons the upload and removes its data. It does nothing after
// Commit.
func (w *blobWriter) Cancel() error {
	if w.committed {
		return nil
	}
	if !w.closed {
		w.closed = true
		w.f.Close()
	}
	w.r.uploadsMu.Lock()
	delete(w.r.uploads, w.id)
	w.r.uploadsMu.Unlock()
	defer w.release()
	if err := w.r.fs.removeAll(filepath.Join(w.r.dir, "uploads", w.id)); err != nil {
		return fmt.Errorf("ocifs: cancelling upload: %w", err)
	}
	return nil
}

// maxUploadStates bounds the entries of Registry.uploads. An entry only
// spares a resumed upload the hashing of its data, so dropping one costs
// time, never correctness. It is a variable for tests.
var maxUploadStates = 4096

// saveUploadState keeps the hash state of the upload id, dropping others
// when there are maxUploadStates already: a client that starts uploads
// and abandons them must not make the Registry grow.
func (r *Registry) saveUploadState(id string, st uploadState) {
	r.uploadsMu.Lock()
	defer r.uploadsMu.Unlock()
	if _, ok := r.uploads[id]; !ok && len(r.uploads) >= maxUploadStates {
		for k := range r.uploads {
			delete(r.uploads, k)
			if len(r.uploads) < maxUploadStates*3/4 {
				break
			}
		}
	}
	r.uploads[id] = st
}

// dropUploadStates forgets the hash states of the uploads whose
// directory is gone: removed as stale, by GC or by another Registry.
func (r *Registry) dropUploadStates() {
	r.uploadsMu.Lock()
	ids := make([]string, 0, len(r.uploads))
	for id := range r.uploads {
		ids = append(ids, id)
	}
	r.uploadsMu.Unlock()
	var gone []string
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(r.dir, "uploads", id)); notFound(err) {
			gone = append(gone, id)
		}
	}
	r.uploadsMu.Lock()
	for _, id := range gone {
		delete(r.uploads, id)
	}
	r.uploadsMu.Unlock()
}

// maybeCleanStale runs cleanStale when it has not run for a while.
func (r *Registry) maybeCleanStale() {
	interval := min(r.opts.UploadMaxAge/4, 10*time.Minute)
	now := time.Now()
	r.uploadsMu.Lock()
	due := now.Sub(r.lastClean) >= interval
	if due {
		r.lastClean = now
	}
	r.uploadsMu.Unlock()
	if due {
		r.cleanStale(now)
	}
}

// cleanStale removes uploads that have had no write for longer than
// Options.UploadMaxAge, and files in tmp/ that have had none for longer
// than an hour (or UploadMaxAge when that is shorter): they were left by
// writers that died, since a live writer keeps writing.
func (r *Registry) cleanStale(now time.Time) {
	removeStale(r.fs, r.dir, now, r.opts.UploadMaxAge, false)
	r.dropUploadStates()
	r.uploadsMu.Lock()
	r.lastClean = now
	r.uploadsMu.Unlock()
}

// removeStale removes stale uploads and temporary files in the registry
// at dir, and returns how many uploads it removed; with dryRun it
// removes nothing and returns how many it would remove. Its error joins
// the failures to remove.
func removeStale(fs fsys, dir string, now time.Time, maxAge time.Duration, dryRun bool) (int, error) {
	var errs []error
	removed := 0
	udir := filepath.Join(dir, "uploads")
	entries, _ := os.ReadDir(udir)
	for _, e := range entries {
		p := filepath.Join(udir, e.Name())
		fi, err := os.Stat(filepath.Join(p, "data"))
		if err != nil {
			// No data: a crash while the upload was being made,
			// or it is being made now.
			fi, err = os.Stat(p)
		}
		if err != nil || now.Sub(fi.ModTime()) <= maxAge {
			continue
		}
		if dryRun {
			removed++
			continue
		}
		if err := fs.removeAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if dryRun {
		return removed, nil
	}
	tdir := filepath.Join(dir, "tmp")
	tmpAge := min(maxAge, time.Hour)
	entries, _ = os.ReadDir(tdir)
	for _, e := range entries {
		p := filepath.Join(tdir, e.Name())
		if fi, err := os.Stat(p); err == nil && now.Sub(fi.ModTime()) > tmpAge {
			if err := fs.remove(p); err != nil && !notFound(err) {
				errs = append(errs, err)
			}
		}
	}
	// Nothing is fsynced: should a removal be lost to a crash, the
	// next clean-up removes the file again.
	return removed, errors.Join(errs...)
}

// lazyUpload returns a lazyWriter for the upload id in repo.
func (r *Registry) lazyUpload(ctx context.Context, repo, id string, chunkSize int) (ociregistry.BlobWriter, error) {
	udir, err := r.uploadDir(repo, id)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(filepath.Join(udir, "data"))
	if err != nil {
		if notFound(err) {
			return nil, errUploadUnknown(repo, id)
		}
		return nil, fmt.Errorf("ocifs: resuming upload: %w", err)
	}
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	return &lazyWriter{ctx: ctx, r: r, repo: repo, id: id, size: fi.Size(), chunkSize: chunkSize}, nil
}

// lazyWriter is a writer of an upload that takes its turn (see
// PushBlobChunkedResume) only when it first writes, commits or cancels:
// until then it holds nothing, and tells the size the upload had when it
// was made.
type lazyWriter struct {
	ctx       context.Context
	r         *Registry
	repo, id  string
	size      int64
	chunkSize int

	// bw is the writer once the turn is taken, err why it could not be.
	bw     *blobWriter
	err    error
	closed bool
}

// turn waits for the upload's turn, at the size w was made with.
func (w *lazyWriter) turn() (*blobWriter, error) {
	if w.closed {
		return nil, errClosed
	}
	if w.bw == nil && w.err == nil {
		w.bw, w.err = w.r.resume(w.ctx, w.repo, w.id, w.size, w.chunkSize)
	}
	return w.bw, w.err
}

// Write appends p to the upload.
func (w *lazyWriter) Write(p []byte) (int, error) {
	bw, err := w.turn()
	if err != nil {
		return 0, err
	}
	return bw.Write(p)
}

// ReadFrom appends everything from src to the upload.
func (w *lazyWriter) ReadFrom(src io.Reader) (int64, error) {
	bw, err := w.turn()
	if err != nil {
		return 0, err
	}
	return bw.ReadFrom(src)
}

// Commit stores the upload as a blob, as blobWriter.Commit does.
func (w *lazyWriter) Commit(dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	bw, err := w.turn()
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return bw.Commit(dig)
}

// Cancel waits for the upload's turn, whatever its size by then, and
// removes it; it does nothing when the upload is gone.
func (w *lazyWriter) Cancel() error {
	if w.bw == nil || w.closed {
		// (A closed writer has let go of its turn.)
		bw, err := w.r.resume(w.ctx, w.repo, w.id, -1, w.chunkSize)
		if err != nil {
			if errors.Is(err, ociregistry.ErrBlobUploadUnknown) {
				return nil
			}
			return err
		}
		w.bw = bw
	}
	w.closed = true
	return w.bw.Cancel()
}

// Close releases the writer, keeping the upload.
func (w *lazyWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.bw != nil {
		return w.bw.Close()
	}
	return nil
}

// Size returns the number of bytes in the upload.
func (w *lazyWriter) Size() int64 {
	if w.bw != nil {
		return w.bw.Size()
	}
	return w.size
}

// ChunkSize returns the chunk size asked for, or DefaultChunkSize.
func (w *lazyWriter) ChunkSize() int { return w.chunkSize }

// ID returns the upload's ID.
func (w *lazyWriter) ID() string { return w.id }
