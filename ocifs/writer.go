package ocifs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
)

// copyBufferSize is the size of the buffer content is copied through:
// big enough that hashing, not system calls, sets the pace.
const copyBufferSize = 1 << 20

// octetStream is the media type of blobs pushed without one.
const octetStream = "application/octet-stream"

// PushBlob stores a blob in repo, reading its content from rd into a
// temporary file while hashing it; the file becomes the blob only when
// its digest and size match desc. The reader is read without any lock
// held. It returns an error that Is ociregistry.ErrNameInvalid for a bad
// repository name, ociregistry.ErrDigestInvalid for a bad digest or
// content that does not match it, ociregistry.ErrSizeInvalid for content
// whose length is not desc.Size, and the file system's error (such as
// syscall.ENOSPC) when the blob cannot be written; nothing is stored then.
func (r *Registry) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	rdir, dp, err := checkRepoDigest(r.dir, repo, desc.Digest)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	f, err := r.tempFile()
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing blob: %w", err)
	}
	h := desc.Digest.Algorithm().Hash()
	limit := desc.Size + 1
	if desc.Size < 0 {
		limit = 1<<63 - 1
	}
	n, err := copyHashing(r.writer(f, 0), h, io.LimitReader(rd, limit))
	if err != nil {
		r.discard(f)
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing blob %s: %w", desc.Digest, err)
	}
	if desc.Size >= 0 && n != desc.Size {
		r.discard(f)
		return ociregistry.Descriptor{}, fmt.Errorf("blob %s has size %d, not %d: %w", desc.Digest, n, desc.Size, ociregistry.ErrSizeInvalid)
	}
	if got := digest.NewDigest(desc.Digest.Algorithm(), h); got != desc.Digest {
		r.discard(f)
		return ociregistry.Descriptor{}, fmt.Errorf("blob has digest %s, not %s: %w", got, desc.Digest, ociregistry.ErrDigestInvalid)
	}
	if err := r.syncFile(f); err != nil {
		r.discard(f)
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing blob %s: %w", desc.Digest, err)
	}
	if err := r.closeFile(f); err != nil {
		r.fs.remove(f.Name())
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing blob %s: %w", desc.Digest, err)
	}
	mediaType := desc.MediaType
	if mediaType == "" {
		mediaType = octetStream
	}
	if err := r.storeBlob(ctx, f.Name(), rdir, dp, mediaType); err != nil {
		r.fs.remove(f.Name()) // when it was not renamed
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing blob %s: %w", desc.Digest, err)
	}
	// The link may be older and say otherwise.
	return r.ResolveBlob(ctx, repo, desc.Digest)
}

// copyHashing copies src to both w and h. Reading, hashing and writing
// run in three goroutines, with up to copyBuffers chunks in flight
// between them, so that a push costs the slowest of the three rather
// than their sum: hashing sets the pace on a fast disk, writing on a
// slow one, and neither stops while the next chunk is read from the
// network. When it fails, h may have seen bytes that w did not. It
// returns the number of bytes written.
func copyHashing(w io.Writer, h hash.Hash, src io.Reader) (int64, error) {
	// A slot is a buffer with the length read into it and the
	// consumers (writer, hasher) yet to finish with it.
	type slot struct {
		buf  *[]byte
		n    int
		left atomic.Int32
	}
	var slots [copyBuffers]slot
	free := make(chan *slot, copyBuffers)
	toWrite := make(chan *slot, copyBuffers)
	toHash := make(chan *slot, copyBuffers)
	for i := range slots {
		free <- &slots[i] // its buffer is taken when first needed
	}
	release := func(s *slot) {
		if s.left.Add(-1) == 0 {
			free <- s
		}
	}
	type result struct {
		n   int64
		err error
	}
	written := make(chan result, 1)
	hashed := make(chan struct{})
	var failed atomic.Bool
	go func() {
		var res result
		for s := range toWrite {
			if res.err == nil {
				nw, err := w.Write((*s.buf)[:s.n])
				res.n += int64(nw)
				if err != nil {
					res.err = err
					failed.Store(true)
				}
			}
			release(s)
		}
		written <- res
	}()
	go func() {
		defer close(hashed)
		for s := range toHash {
			h.Write((*s.buf)[:s.n])
			release(s)
		}
	}()
	rerr := func() error {
		// Closing the channels even when src panics lets the writer
		// and the hasher end, rather than wait for chunks that never
		// come.
		defer close(toHash)
		defer close(toWrite)
		for !failed.Load() {
			s := <-free
			if s.buf == nil {
				// A small blob needs one buffer, not copyBuffers.
				s.buf = copyBufPool.Get().(*[]byte)
			}
			nr, err := fill(src, *s.buf)
			if nr > 0 {
				s.n = nr
				s.left.Store(2)
				toWrite <- s
				toHash <- s
			} else {
				free <- s
			}
			switch {
			case err == io.EOF:
				return nil
			case err != nil:
				return err
			}
		}
		return nil
	}()
	res := <-written
	<-hashed
	for range copyBuffers {
		if s := <-free; s.buf != nil {
			copyBufPool.Put(s.buf)
		}
	}
	if res.err != nil {
		return res.n, res.err
	}
	return res.n, rerr
}

// fill reads from src until buf is full, src ends (io.EOF) or reading
// fails. Unlike io.ReadFull it passes on every error of src as it is:
// io.ErrUnexpectedEOF, which net/http answers for a request body cut
// short of its Content-Length, must fail the copy rather than end it.
func fill(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		nr, err := src.Read(buf[n:])
		n += nr
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// copyBuffers is how many chunks of copyBufferSize copyHashing keeps
// between reading and writing: enough to ride out a slow write, few
// enough that many uploads at once stay within a few MiB each.
const copyBuffers = 4

// copyBufPool holds copyHashing's buffers between uploads, as *[]byte
// so that putting one back allocates nothing.
var copyBufPool = sync.Pool{New: func() any {
	b := make([]byte, copyBufferSize)
	return &b
}}

// storeBlob renames the complete, synced file at src to be the content
// of the blob at dp, and links it into the repository at rdir; when ctx
// ends before the garbage collector lets it in, src is left as it is. The
// garbage collector is kept out meanwhile: the blob's fresh modification
// time and its new link protect it once it is let back in.
func (r *Registry) storeBlob(ctx context.Context, src, rdir, dp, mediaType string) error {
	if err := r.gcLock.acquire(ctx); err != nil {
		// src stays: an upload's data can be committed again.
		return err
	}
	defer r.gcLock.release()
	if err := r.renameDurable(src, r.blobFile(dp)); err != nil {
		return err
	}
	// An upload's data may have been written long ago; the blob is new.
	if err := r.touch(r.blobFile(dp)); err != nil {
		return err
	}
	return r.linkBlob(blobLink(rdir, dp), mediaType)
}

// linkBlob makes a repository's link to a blob. A link that is already
// there keeps its media type, as in ocimem, and is touched so that the
// garbage collector sees it as new.
func (r *Registry) linkBlob(path, mediaType string) error {
	if err := r.touch(path); err == nil {
		return nil
	}
	return r.writeFileAtomic(path, []byte(mediaType))
}

// writeLink writes a link file, leaving it alone but touching it when it
// already holds data, so that the garbage collector sees it as new.
func (r *Registry) writeLink(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return r.touch(path)
	}
	return r.writeFileAtomic(path, data)
}

// MountBlob makes a blob of fromRepo available in toRepo by linking the
// shared content: nothing is copied. It returns an error that Is
// ociregistry.ErrNameInvalid or ociregistry.ErrDigestInvalid for a bad
// name or digest, and ociregistry.ErrBlobUnknown when fromRepo does not
// hold the blob.
func (r *Registry) MountBlob(ctx context.Context, fromRepo, toRepo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	fromDir, dp, err := checkRepoDigest(r.dir, fromRepo, dig)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	toDir, err := repoDir(r.dir, toRepo)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	mt, err := os.ReadFile(blobLink(fromDir, dp))
	if err != nil {
		return ociregistry.Descriptor{}, blobError(fromRepo, dig, err)
	}
	if err := r.gcLock.acquire(ctx); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: %w", err)
	}
	defer r.gcLock.release()
	// Touching the content both checks that it is there and tells the
	// garbage collector that it has a new link.
	if err := r.touch(r.blobFile(dp)); err != nil {
		return ociregistry.Descriptor{}, blobError(fromRepo, dig, err)
	}
	fi, err := os.Stat(r.blobFile(dp))
	if err != nil {
		return ociregistry.Descriptor{}, blobError(fromRepo, dig, err)
	}
	if err := r.linkBlob(blobLink(toDir, dp), string(mt)); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: mounting blob %s: %w", dig, err)
	}
	return ociregistry.Descriptor{MediaType: string(mt), Digest: dig, Size: fi.Size()}, nil
}

// PushManifest stores a manifest in repo and points tag at it when tag is
// not empty. The manifest must parse as mediaType (taken from the content
// when empty) and, unless Options.LaxChildReferences is set, the config,
// distributable layers and child manifests it refers to must be in repo;
// its subject need not exist. Content that repo holds already keeps the
// media type it was first stored with. The content is stored first, then the
// links that make it visible, then the tag, so that a crash leaves no tag
// pointing at a missing manifest. It returns an error that Is
// ociregistry.ErrNameInvalid for a bad repository name,
// ociregistry.ErrManifestInvalid for a bad tag or content,
// ociregistry.ErrManifestBlobUnknown for a missing reference, and the
// file system's error when it cannot be written.
func (r *Registry) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	rdir, err := repoDir(r.dir, repo)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	var tp string
	if tag != "" {
		if tp, err = tagPath(rdir, tag); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	pm, err := ocimanifest.Parse(contents, mediaType)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	m := newManifestDigests(contents)

	// Write the content before taking any lock.
	tmp, err := r.writeTemp(contents)
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing manifest %s: %w", m.d256, err)
	}
	defer r.fs.remove(tmp) // a no-op once it has been renamed

	unlock, err := r.lockRepo(ctx, repo)
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: %w", err)
	}
	defer unlock()
	// The garbage collector stays out from the check of the references
	// to the tag, so that it cannot remove what was checked.
	if err := r.gcLock.acquire(ctx); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: %w", err)
	}
	defer r.gcLock.release()
	if err := r.checkReferences(rdir, pm); err != nil {
		return ociregistry.Descriptor{}, err
	}
	pm = keepStoredType(rdir, m, contents, pm)
	primary := m.primary(pm)
	desc := primary.descriptor()
	if err := r.renameDurable(tmp, r.blobFile(m.dp256)); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing manifest %s: %w", m.d256, err)
	}
	if err := r.linkManifest(rdir, m, pm, desc); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocifs: storing manifest %s: %w", m.d256, err)
	}
	if tp != "" {
		tagData, _ := json.Marshal(primary)
		if err := r.writeLink(tp, tagData); err != nil {
			return ociregistry.Descriptor{}, fmt.Errorf("ocifs: tagging manifest %s as %q: %w", desc.Digest, tag, err)
		}
	}
	return desc, nil
}

// manifestDigests are the digests of a manifest's content and their
// paths: the content is stored under its sha256 digest and linked by
// both.
type manifestDigests struct {
	d256, d512   ociregistry.Digest
	dp256, dp512 string
	size         int64
}

func newManifestDigests(contents []byte) manifestDigests {
	m := manifestDigests{
		d256: digest.SHA256.FromBytes(contents),
		d512: digest.SHA512.FromBytes(contents),
		size: int64(len(contents)),
	}
	m.dp256, _ = digestPath(m.d256)
	m.dp512, _ = digestPath(m.d512)
	return m
}

// primary returns the descriptor handed out for the manifest pm: it
// uses the digest of pm.Algorithm, and names the stored content when
// that is not sha256.
func (m manifestDigests) primary(pm *ocimanifest.Parsed) storedDescriptor {
	sd := storedDescriptor{MediaType: pm.MediaType, Digest: m.d256, Size: m.size}
	if pm.Algorithm == digest.SHA512 {
		sd.Digest, sd.Content = m.d512, m.d256
	}
	return sd
}

// writeTemp writes data to a new temporary file, synced and closed, and
// returns its path.
func (r *Registry) writeTemp(data []byte) (string, error) {
	f, err := r.tempFile()
	if err != nil {
		return "", err
	}
	if _, err := r.writer(f, 0).Write(data); err != nil {
		r.discard(f)
		return "", err
	}
	if err := r.syncFile(f); err != nil {
		r.discard(f)
		return "", err
	}
	if err := r.closeFile(f); err != nil {
		r.fs.remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// keepStoredType returns pm, or, when the repository at rdir holds this
// content already as another media type, the content parsed as that
// type: content keeps the type it was first stored with (and the digest
// that type chose), so that pushing its bytes again never changes how it
// is served.
func keepStoredType(rdir string, m manifestDigests, contents []byte, pm *ocimanifest.Parsed) *ocimanifest.Parsed {
	old, err := readDescriptor(manifestLink(rdir, m.dp256))
	if err != nil || old.MediaType == pm.MediaType {
		return pm
	}
	if opm, err := ocimanifest.Parse(contents, old.MediaType); err == nil {
		return opm
	}
	return pm
}

// linkManifest links the stored manifest pm, described by desc, into
// the repository at rdir: its referrer entry, if it has a subject, then
// its links by sha512 and by sha256.
func (r *Registry) linkManifest(rdir string, m manifestDigests, pm *ocimanifest.Parsed, desc ociregistry.Descriptor) error {
	if pm.Subject != nil {
		// The referrer's file comes before the manifest's link, and
		// Referrers skips manifests without a link, so a crash
		// between the two leaves nothing wrong.
		sdp, _ := digestPath(pm.Subject.Digest)
		rdesc := desc
		rdesc.ArtifactType = pm.ArtifactType
		rdesc.Annotations = pm.Annotations
		data, _ := json.Marshal(rdesc)
		if err := r.writeLink(filepath.Join(referrerDir(rdir, sdp), referrerName(desc.Digest)), data); err != nil {
			return err
		}
	}
	link256, _ := json.Marshal(storedDescriptor{MediaType: pm.MediaType, Digest: m.d256, Size: m.size})
	link512, _ := json.Marshal(storedDescriptor{MediaType: pm.MediaType, Digest: m.d512, Size: m.size, Content: m.d256})
	// The sha512 link comes first: DeleteManifest and the garbage
	// collector find a manifest through its sha256 link.
	if err := r.writeLink(manifestLink(rdir, m.dp512), link512); err != nil {
		return err
	}
	return r.writeLink(manifestLink(rdir, m.dp256), link256)
}

// checkReferences checks that the blobs and child manifests that pm
// refers to are in the repository at rdir (unless
// Options.LaxChildReferences is set) with the sizes pm's descriptors
// give, as a client that pulls them will check.
func (r *Registry) checkReferences(rdir string, pm *ocimanifest.Parsed) error {
	lax := r.opts.LaxChildReferences
	for _, b := range pm.Blobs {
		dp, _ := digestPath(b.Digest)
		_, err := os.Stat(blobLink(rdir, dp))
		var fi os.FileInfo
		if err == nil {
			fi, err = os.Stat(r.blobFile(dp))
		}
		switch {
		case err != nil && !notFound(err):
			return fmt.Errorf("ocifs: checking blob %s: %w", b.Digest, err)
		case err != nil && !lax:
			return fmt.Errorf("manifest refers to blob %s: %w", b.Digest, ociregistry.ErrManifestBlobUnknown)
		case err == nil && fi.Size() != b.Size:
			return fmt.Errorf("blob %s has size %d, not the %d its descriptor says: %w", b.Digest, fi.Size(), b.Size, ociregistry.ErrManifestInvalid)
		}
	}
	for _, m := range pm.Children {
		dp, _ := digestPath(m.Digest)
		sd, err := readDescriptor(manifestLink(rdir, dp))
		switch {
		case err != nil && !notFound(err):
			return fmt.Errorf("ocifs: checking manifest %s: %w", m.Digest, err)
		case err != nil && !lax:
			return fmt.Errorf("index refers to manifest %s: %w", m.Digest, ociregistry.ErrManifestBlobUnknown)
		case err == nil && sd.Size != m.Size:
			return fmt.Errorf("child manifest %s has size %d, not the %d its descriptor says: %w", m.Digest, sd.Size, m.Size, ociregistry.ErrManifestInvalid)
		}
	}
	return nil
}
