package ocimem

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
)

// defaultChunkSize is the ChunkSize of a BlobWriter when the caller gives
// no hint. Any size suits memory; this one keeps HTTP requests few.
const defaultChunkSize = 1 << 20

// octetStream is the media type of blobs pushed without one.
const octetStream = "application/octet-stream"

// PushBlob stores a blob in repo, reading its content from rd, and
// returns its descriptor. A negative desc.Size means the size is not
// known in advance. It returns an error that Is
// ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrDigestInvalid for a bad digest or content that does not
// match it, and ociregistry.ErrSizeInvalid for content whose length is
// not desc.Size. Nothing is stored when it fails.
func (r *Registry) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(repo, desc.Digest); err != nil {
		return ociregistry.Descriptor{}, err
	}
	// Read and check the content before taking the lock, since rd may
	// be slow. The content is read straight into the chunks it is
	// stored in and hashed as it comes; content the registry holds
	// already is only hashed, and what is held kept.
	r.mu.Lock()
	sc := r.contents[desc.Digest]
	r.mu.Unlock()
	if sc != nil {
		return r.pushKnownBlob(repo, desc, sc.data, rd)
	}
	src := &reservingReader{r: r, rd: rd}
	defer func() { r.releaseUpload(src.n) }()
	if desc.Size >= 0 {
		// One byte more than expected is enough to see that there
		// are too many (and no size is so big that adding one
		// overflows).
		limit := min(desc.Size, math.MaxInt64-1) + 1
		// A push that cannot fit fails before anything is read. The
		// budget is taken only as memory is, so that a client that
		// declares a big blob and sends it slowly holds no more of
		// it than the chunk it is filling beyond what it has sent.
		if err := r.uploadRoom(desc.Size); err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
		src.rd = io.LimitReader(rd, limit)
	}
	bld := newBuilder(desc.Digest.Algorithm().Hash(), desc.Size)
	if desc.Size >= 0 {
		// Content of known size is taken a chunk of up to 4 MiB at
		// a time, so each chunk is counted as it is taken, not as it
		// fills: a client that declares a big blob and sends a byte
		// holds one chunk of the budget. (Content of unknown size
		// comes in chunks that grow with it, counted as they fill.)
		bld.reserve = src.reserve
	}
	if _, err := bld.readFrom(src); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("reading blob %s: %w", desc.Digest, err)
	}
	if err := checkPushed(desc, bld.size, bld.sum()); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.storePushed(repo, desc, bld.content()), nil
}

// pushKnownBlob is PushBlob for a blob whose content the registry holds
// as data: rd is read through a small buffer and checked against the
// digest, and data, which never changes, is stored whatever happened to
// the blob meanwhile.
func (r *Registry) pushKnownBlob(repo string, desc ociregistry.Descriptor, data content, rd io.Reader) (ociregistry.Descriptor, error) {
	h := desc.Digest.Algorithm().Hash()
	if desc.Size >= 0 {
		rd = io.LimitReader(rd, min(desc.Size, math.MaxInt64-1)+1)
	}
	bufp := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(h, rd, *bufp)
	copyBuffers.Put(bufp)
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("reading blob %s: %w", desc.Digest, err)
	}
	if err := checkPushed(desc, n, h); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.storePushed(repo, desc, data), nil
}

// checkPushed checks the size and hash of the content pushed for desc.
// It returns an error that Is ociregistry.ErrSizeInvalid or
// ociregistry.ErrDigestInvalid when they are wrong.
func checkPushed(desc ociregistry.Descriptor, size int64, h hash.Hash) error {
	if desc.Size >= 0 && size != desc.Size {
		if size > desc.Size {
			return fmt.Errorf("blob %s has more than the %d bytes declared: %w", desc.Digest, desc.Size, ociregistry.ErrSizeInvalid)
		}
		return fmt.Errorf("blob %s has %d bytes, not the %d declared: %w", desc.Digest, size, desc.Size, ociregistry.ErrSizeInvalid)
	}
	if got := digest.NewDigest(desc.Digest.Algorithm(), h); got != desc.Digest {
		return fmt.Errorf("blob content has digest %s, not %s: %w", got, desc.Digest, ociregistry.ErrDigestInvalid)
	}
	return nil
}

// storePushed stores data as the blob desc of repo and returns its
// descriptor.
func (r *Registry) storePushed(repo string, desc ociregistry.Descriptor, data content) ociregistry.Descriptor {
	mediaType := desc.MediaType
	if mediaType == "" {
		mediaType = octetStream
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addBlob(r.makeRepo(repo), desc.Digest, mediaType, data).descriptor(desc.Digest)
}

// copyBuffers holds the buffers that pushKnownBlob reads through.
var copyBuffers = sync.Pool{New: func() any {
	buf := make([]byte, 256<<10)
	return &buf
}}

// MountBlob makes a blob of fromRepo available in toRepo and returns its
// descriptor. The content is shared, not copied. It returns an error that
// Is ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for bad
// names or digests, and ociregistry.ErrBlobUnknown when fromRepo does not
// hold the blob.
func (r *Registry) MountBlob(ctx context.Context, fromRepo, toRepo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepositoryDigest(fromRepo, dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := ociregistry.CheckRepository(toRepo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	from := r.repo(fromRepo)
	if from == nil || from.blobs[dig] == nil {
		return ociregistry.Descriptor{}, fmt.Errorf("mounting blob %s from %s: %w", dig, fromRepo, ociregistry.ErrBlobUnknown)
	}
	b := from.blobs[dig]
	b = r.addBlob(r.makeRepo(toRepo), dig, b.mediaType, b.data)
	return b.descriptor(dig), nil
}

// PushManifest stores a manifest in repo and points tag at it when tag
// is not empty, moving the tag if it pointed elsewhere. It returns the
// manifest's descriptor, whose digest's algorithm is that of the digests
// in the manifest (see the package documentation). When mediaType is empty
// the content's mediaType field gives it.
//
// OCI and Docker image manifests and indexes are checked: they must
// parse, a mediaType field in the content must equal mediaType, and the
// config, the layers (except non-distributable ones and those with URLs)
// and the child manifests must be in repo unless
// Config.LaxChildReferences is set. The subject need not exist. Other
// media types are stored unchecked.
//
// The config, layers and child manifests that are in repo must have the
// sizes their descriptors give, even with Config.LaxChildReferences.
//
// Content that repo holds already keeps the media type it was first
// stored with: pushing its bytes again (under another tag, say) returns
// the stored descriptor, whatever mediaType says.
//
// It returns an error that Is ociregistry.ErrNameInvalid for a bad
// repository name, ociregistry.ErrManifestInvalid for a bad tag or
// content or a descriptor whose size is not that of the content it
// names, and ociregistry.ErrManifestBlobUnknown when a referenced blob
// or manifest is missing.
func (r *Registry) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if tag != "" {
		if err := ociregistry.CheckTag(tag); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	pm, err := ocimanifest.Parse(contents, mediaType)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	data := bytes.Clone(contents)
	if data == nil {
		data = []byte{}
	}
	m := &manifest{
		data:         data,
		mediaType:    pm.MediaType,
		digest:       pm.Algorithm.FromBytes(data),
		other:        otherAlgorithm(pm.Algorithm).FromBytes(data),
		artifactType: pm.ArtifactType,
		annotations:  pm.Annotations,
	}
	if pm.Subject != nil {
		m.subject = pm.Subject.Digest
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	rp := r.repo(repo)
	if err := checkReferences(rp, pm, r.cfg.LaxChildReferences); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("manifest %s in repository %s: %w", m.digest, repo, err)
	}
	if rp != nil {
		if old := rp.manifests[m.digest]; old != nil {
			// The same content is there already, perhaps pushed as
			// another media type: it keeps the type it was first
			// stored with (and the digest that type chose), so
			// that pushing its bytes again never changes how it
			// is served.
			if tag != "" {
				rp.setTag(tag, old.digest)
			}
			return old.descriptor(old.digest), nil
		}
	}
	rp = r.makeRepo(repo)
	rp.manifests[m.digest] = m
	rp.manifests[m.other] = m
	if m.subject != "" {
		// Inserting in order moves the referrers after it: pushing n
		// referrers of one subject costs O(n²) pointer moves (10 000
		// in well under a second), which buys listings with no sort.
		refs := rp.referrers[m.subject]
		i, found := slices.BinarySearchFunc(refs, m.digest, compareManifestDigest)
		if found {
			refs[i] = m
		} else {
			rp.referrers[m.subject] = slices.Insert(refs, i, m)
		}
	}
	if tag != "" {
		rp.setTag(tag, m.digest)
	}
	return m.descriptor(m.digest), nil
}

func otherAlgorithm(alg digest.Algorithm) digest.Algorithm {
	if alg == digest.SHA512 {
		return digest.SHA256
	}
	return digest.SHA512
}

// checkReferences checks that repo holds what pm refers to, with the
// sizes pm gives. It must be called with the registry's lock held. rp
// may be nil.
//
// Content that is missing is ociregistry.ErrManifestBlobUnknown, unless
// lax is set (Config.LaxChildReferences), which allows it. Content that
// is present with another size than its descriptor says is
// ociregistry.ErrManifestInvalid, lax or not: the digest names content
// the registry has, so pushing it again cannot help, as
// MANIFEST_BLOB_UNKNOWN would suggest; it is the manifest that is wrong,
// and a client that trusted its sizes would fail reading the content;
// MANIFEST_INVALID is the specification's code for a manifest that fails
// the registry's checks. (CNCF Distribution does not compare sizes at
// all, so it stores such a manifest.) Lax registries are meant for
// manifests pushed without their content, not with wrong descriptors.
func checkReferences(rp *repository, pm *ocimanifest.Parsed, lax bool) error {
	for _, desc := range pm.Blobs {
		var b *blob
		if rp != nil {
			b = rp.blobs[desc.Digest]
		}
		switch {
		case b == nil && !lax:
			return fmt.Errorf("blob %s not in repository: %w", desc.Digest, ociregistry.ErrManifestBlobUnknown)
		case b != nil && b.data.size != desc.Size:
			return fmt.Errorf("blob %s has size %d, not the %d its descriptor says: %w", desc.Digest, b.data.size, desc.Size, ociregistry.ErrManifestInvalid)
		}
	}
	for _, desc := range pm.Children {
		var m *manifest
		if rp != nil {
			m = rp.manifests[desc.Digest]
		}
		switch {
		case m == nil && !lax:
			return fmt.Errorf("child manifest %s not in repository: %w", desc.Digest, ociregistry.ErrManifestBlobUnknown)
		case m != nil && int64(len(m.data)) != desc.Size:
			return fmt.Errorf("child manifest %s has size %d, not the %d its descriptor says: %w", desc.Digest, len(m.data), desc.Size, ociregistry.ErrManifestInvalid)
		}
	}
	return nil
}

// removeReferrer removes m from the referrers index. It must be called
// with the registry's lock held.
func (rp *repository) removeReferrer(m *manifest) {
	if m.subject == "" {
		return
	}
	refs := rp.referrers[m.subject]
	i, found := slices.BinarySearchFunc(refs, m.digest, compareManifestDigest)
	if !found {
		return
	}
	refs = slices.Delete(refs, i, i+1)
	if len(refs) == 0 {
		delete(rp.referrers, m.subject)
		return
	}
	rp.referrers[m.subject] = refs
}

// compareManifestDigest orders manifests by their digest field.
func compareManifestDigest(m *manifest, d digest.Digest) int {
	return strings.Compare(string(m.digest), string(d))
}

// PushBlobChunked starts a chunked upload to repo. chunkSize is the size
// the returned writer's ChunkSize reports; zero or less means 1 MiB. It
// returns an error that Is ociregistry.ErrNameInvalid for a bad
// repository name.
func (r *Registry) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	id := rand.Text()
	// Uploads are hashed with SHA-256 as they come, since nearly
	// every digest is one; Commit hashes again for another algorithm.
	u := &upload{id: id, repo: repo, data: newBuilder(sha256.New(), -1)}
	u.touch()
	r.mu.Lock()
	r.sweepUploads()
	if r.uploads == nil {
		r.uploads = make(map[string]*upload)
	}
	r.uploads[id] = u
	r.mu.Unlock()
	return &writer{r: r, u: u, claimed: true, chunkSize: chunkSizeOr(chunkSize)}, nil
}

// PushBlobChunkedResume carries on the upload with the given ID in repo.
// A non-negative offset must equal the number of bytes written so far.
// A writer that writes to or commits the upload makes every earlier
// writer for it fail from then on; one that is only asked its size and
// closed (as a server answering a status request does) disturbs none.
// A writer fails to write with an error that Is
// ociregistry.ErrRangeInvalid when another wrote to the upload since it
// was made, and ociregistry.ErrBlobUploadInvalid when another has taken
// the upload over. PushBlobChunkedResume returns an
// error that Is ociregistry.ErrBlobUploadUnknown when repo has no such
// upload (it may have been committed, cancelled, or abandoned for longer
// than Config.UploadIdleTimeout), and ociregistry.ErrRangeInvalid when
// offset is wrong.
func (r *Registry) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.sweepUploads()
	u := r.uploads[id]
	r.mu.Unlock()
	if u == nil || u.repo != repo {
		return nil, fmt.Errorf("upload %q in repository %s: %w", id, repo, ociregistry.ErrBlobUploadUnknown)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done.Load() {
		return nil, fmt.Errorf("upload %q in repository %s: %w", id, repo, ociregistry.ErrBlobUploadUnknown)
	}
	if offset >= 0 && offset != u.data.size {
		return nil, fmt.Errorf("resuming upload %q at offset %d when it holds %d bytes: %w", id, offset, u.data.size, ociregistry.ErrRangeInvalid)
	}
	// Not touched: a writer made only to tell the size (a server's
	// status request, or its check of an upload it has seen idle) is
	// no use of the upload; writing or committing is.
	return &writer{r: r, u: u, gen: u.gen, offset: u.data.size, chunkSize: chunkSizeOr(chunkSize)}, nil
}

func chunkSizeOr(n int) int {
	if n <= 0 {
		return defaultChunkSize
	}
	return n
}

// upload is a chunked upload in progress.
//
// Lock order: an upload's mu may be held when taking the registry's lock,
// never the other way round; the registry only reads the atomic fields.
type upload struct {
	id   string
	repo string

	// lastUsed holds the time of the last operation, in Unix nanoseconds.
	lastUsed atomic.Int64

	// done is set when the upload is committed, cancelled or abandoned.
	done atomic.Bool

	// held is what the upload has taken of the budget of
	// Config.MaxUploadBytes. Whoever sets done gives it back, and so
	// does a Write that finds done set after taking more: whichever
	// of them comes last finds it non-zero.
	held atomic.Int64

	mu   sync.Mutex
	data *builder

	// reserved is set while a writer's ReadFrom reads into the spare
	// capacity of data without holding mu; reservation tells apart
	// the reads of ReadFrom, so that one whose space was taken back
	// (see upload.unreserve) knows to drop what it read.
	reserved    bool
	reservation uint64

	// gen counts the writers that have claimed the upload; only the
	// latest may add to it.
	gen int
}

func (u *upload) touch() {
	u.lastUsed.Store(time.Now().UnixNano())
}

// sweepUploads frees the uploads that have not been used for longer than
// the idle timeout. It must be called with r.mu held. Sweeping when
// uploads are started or resumed is enough to bound what abandoned
// uploads hold, and needs no goroutine.
func (r *Registry) sweepUploads() {
	deadline := time.Now().Add(-r.uploadIdleTimeout()).UnixNano()
	for id, u := range r.uploads {
		if u.lastUsed.Load() < deadline {
			u.done.Store(true)
			r.releaseUpload(u.held.Swap(0))
			delete(r.uploads, id)
		}
	}
}

// reserveUpload takes n bytes of the budget of Config.MaxUploadBytes.
// It returns an error that Is ociregistry.ErrTooManyRequests when they
// would pass it.
func (r *Registry) reserveUpload(n int64) error {
	limit := r.cfg.MaxUploadBytes
	if limit > 0 && n > limit {
		// Checked first, so that a huge n cannot overflow the count
		// and let other uploads past the limit while it is held.
		return fmt.Errorf("%d bytes would pass the limit of %d on uploads in progress: %w", n, limit, ociregistry.ErrTooManyRequests)
	}
	held := r.uploadBytes.Add(n)
	if limit > 0 && held > limit {
		r.uploadBytes.Add(-n)
		return fmt.Errorf("uploads in progress hold %d bytes; %d more would pass the limit of %d: %w", held-n, n, limit, ociregistry.ErrTooManyRequests)
	}
	return nil
}

// uploadRoom checks that n bytes more would fit within the budget of
// Config.MaxUploadBytes now, without taking them. It returns an error
// that Is ociregistry.ErrTooManyRequests when they would not.
func (r *Registry) uploadRoom(n int64) error {
	limit := r.cfg.MaxUploadBytes
	if limit <= 0 {
		return nil
	}
	if n > limit {
		return fmt.Errorf("%d bytes would pass the limit of %d on uploads in progress: %w", n, limit, ociregistry.ErrTooManyRequests)
	}
	if held := r.uploadBytes.Load(); held > limit-n {
		return fmt.Errorf("uploads in progress hold %d bytes; %d more would pass the limit of %d: %w", held, n, limit, ociregistry.ErrTooManyRequests)
	}
	return nil
}

// releaseUpload gives back n bytes taken by reserveUpload.
func (r *Registry) releaseUpload(n int64) {
	r.uploadBytes.Add(-n)
}

// reservingReader reads from rd what PushBlob stores, taking from the
// budget of Config.MaxUploadBytes whatever was not reserved in advance.
type reservingReader struct {
	r  *Registry
	rd io.Reader
	// n is what the reader has reserved, read or not.
	n int64
	// read counts the bytes read.
	read int64
}

func (rr *reservingReader) reserve(n int64) error {
	if err := rr.r.reserveUpload(n); err != nil {
		return err
	}
	rr.n += n
	return nil
}

func (rr *reservingReader) Read(p []byte) (int, error) {
	n, err := rr.rd.Read(p)
	if more := rr.read + int64(n) - rr.n; more > 0 {
		if rerr := rr.reserve(more); rerr != nil {
			return 0, rerr
		}
	}
	rr.read += int64(n)
	return n, err
}

// writer is a BlobWriter for an upload. A writer made by
// PushBlobChunkedResume claims the upload when it first writes or
// commits, not before, so that one made only to tell the upload's size
// leaves the writer that is adding to it alone.
type writer struct {
	r         *Registry
	u         *upload
	chunkSize int

	// The fields below are guarded by u.mu.

	// gen is the upload's gen when the writer claimed it or, until
	// claimed is set, when the writer was made.
	gen     int
	claimed bool
	// offset is the upload's size when the writer was made: it may
	// claim the upload only while the upload still has it.
	offset int64
	closed bool
}

// errWriterClosed is returned by a writer after Close or Commit.
var errWriterClosed = errors.New("blob writer is closed")

// usable checks that w may add to or commit the upload, and claims the
// upload for w if it has not yet. It must be called with w.u.mu held.
func (w *writer) usable() error {
	switch {
	case w.closed:
		return fmt.Errorf("upload %q: %w", w.u.id, errWriterClosed)
	case w.u.done.Load():
		return fmt.Errorf("upload %q: %w", w.u.id, ociregistry.ErrBlobUploadUnknown)
	case w.gen != w.u.gen:
		return fmt.Errorf("upload %q was resumed by another writer: %w", w.u.id, ociregistry.ErrBlobUploadInvalid)
	case !w.claimed && w.u.data.size != w.offset:
		return fmt.Errorf("upload %q went from %d to %d bytes through another writer: %w", w.u.id, w.offset, w.u.data.size, ociregistry.ErrRangeInvalid)
	case !w.claimed:
		w.u.gen++
		w.gen, w.claimed = w.u.gen, true
		w.u.touch()
	}
	return nil
}

// Write appends p to the upload.
func (w *writer) Write(p []byte) (int, error) {
	w.u.mu.Lock()
	defer w.u.mu.Unlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	if err := w.r.reserveUpload(int64(len(p))); err != nil {
		return 0, fmt.Errorf("upload %q: %w", w.u.id, err)
	}
	w.u.held.Add(int64(len(p)))
	if w.u.done.Load() {
		// Abandoned while this write took its bytes.
		w.r.releaseUpload(w.u.held.Swap(0))
		return 0, fmt.Errorf("upload %q: %w", w.u.id, ociregistry.ErrBlobUploadUnknown)
	}
	w.u.unreserve()
	w.u.data.write(p)
	w.u.touch()
	return len(p), nil
}

// unreserve takes back the space that a ReadFrom is reading into, if
// any, so that the caller can add to the content; that ReadFrom finds
// its reservation gone and drops what it read. It must be called with
// u.mu held.
func (u *upload) unreserve() {
	if u.reserved {
		u.data.seal()
		u.reserved = false
	}
}

// ReadFrom appends what r yields until io.EOF to the upload. It reads
// straight into the upload's memory, without holding the upload's lock
// while it waits for r: the space it reads into is reserved for it, and
// a writer that resumes the upload meanwhile takes it back.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	u := w.u
	defer func() {
		u.mu.Lock()
		u.data.stopHashing()
		u.mu.Unlock()
	}()
	var total int64
	for {
		u.mu.Lock()
		if err := w.usable(); err != nil {
			u.mu.Unlock()
			return total, err
		}
		u.unreserve()
		u.data.startHashing()
		buf := u.data.spare()
		u.reserved = true
		u.reservation++
		token := u.reservation
		u.mu.Unlock()

		n, err := r.Read(buf)

		u.mu.Lock()
		mine := u.reserved && u.reservation == token
		if mine {
			u.reserved = false
		}
		if n > 0 {
			if uerr := w.usable(); uerr != nil || !mine {
				u.mu.Unlock()
				if uerr == nil {
					uerr = fmt.Errorf("upload %q was resumed by another writer: %w", u.id, ociregistry.ErrBlobUploadInvalid)
				}
				return total, uerr
			}
			if rerr := w.r.reserveUpload(int64(n)); rerr != nil {
				u.mu.Unlock()
				return total, fmt.Errorf("upload %q: %w", u.id, rerr)
			}
			u.held.Add(int64(n))
			if u.done.Load() {
				// Abandoned while this read took its bytes.
				w.r.releaseUpload(u.held.Swap(0))
				u.mu.Unlock()
				return total, fmt.Errorf("upload %q: %w", u.id, ociregistry.ErrBlobUploadUnknown)
			}
			u.data.commit(n)
			u.touch()
			total += int64(n)
		}
		u.mu.Unlock()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close releases the writer and keeps the upload, so that it can be
// resumed.
func (w *writer) Close() error {
	w.u.mu.Lock()
	defer w.u.mu.Unlock()
	w.closed = true
	return nil
}

// Size returns the number of bytes in the upload.
func (w *writer) Size() int64 {
	w.u.mu.Lock()
	defer w.u.mu.Unlock()
	return w.u.data.size
}

// ChunkSize returns the chunk size asked for, or 1 MiB.
func (w *writer) ChunkSize() int { return w.chunkSize }

// ID returns the upload's ID.
func (w *writer) ID() string { return w.u.id }

// Commit checks the upload's content against dig and stores it as a blob
// of the upload's repository. It returns an error that Is
// ociregistry.ErrDigestInvalid for a bad digest or content that does not
// match it, in which case the upload stays and may be resumed, and
// ociregistry.ErrBlobUploadUnknown when the upload is gone.
func (w *writer) Commit(dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckDigest(dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	u := w.u
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := w.usable(); err != nil {
		return ociregistry.Descriptor{}, err
	}
	u.touch()
	u.unreserve()
	var got digest.Digest
	if dig.Algorithm() == digest.SHA256 {
		got = digest.NewDigest(digest.SHA256, u.data.sum())
	} else {
		u.data.stopHashing()
		got = digest.NewDigest(dig.Algorithm(), hashContent(dig.Algorithm().Hash(), content{chunks: u.data.chunks}))
	}
	if got != dig {
		return ociregistry.Descriptor{}, fmt.Errorf("upload %q has digest %s, not %s: %w", u.id, got, dig, ociregistry.ErrDigestInvalid)
	}
	// Only this writer may add to the upload, and it holds u.mu, so
	// the content can be finished before taking the registry's lock.
	data := u.data.content()

	r := w.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uploads[u.id] != u {
		return ociregistry.Descriptor{}, fmt.Errorf("upload %q: %w", u.id, ociregistry.ErrBlobUploadUnknown)
	}
	delete(r.uploads, u.id)
	u.done.Store(true)
	r.releaseUpload(u.held.Swap(0))
	w.closed = true
	b := r.addBlob(r.makeRepo(u.repo), dig, octetStream, data)
	return b.descriptor(dig), nil
}

// Cancel abandons the upload and frees its content. It does nothing
// after Commit or when the upload is already gone.
func (w *writer) Cancel() error {
	u := w.u
	u.mu.Lock()
	defer u.mu.Unlock()
	w.closed = true
	if u.done.Load() {
		return nil
	}
	r := w.r
	r.mu.Lock()
	if r.uploads[u.id] == u {
		delete(r.uploads, u.id)
	}
	r.mu.Unlock()
	u.done.Store(true)
	r.releaseUpload(u.held.Swap(0))
	// A ReadFrom of an earlier writer may still be hashing the old
	// content.
	u.data.stopHashing()
	u.data = &builder{}
	return nil
}
