package ociproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
)

// fillBufSize is the size of the reads of a fill from upstream: the
// memory a fill holds, and how often its readers are told of progress.
const fillBufSize = 128 << 10

// errCached says that a fill found the blob in the cache when it
// started: a fill that ended just before had put it there.
var errCached = errors.New("ociproxy: blob is in the cache")

// errNoSpool says that a fill could not make its spool file, so that
// its callers read the blob from upstream uncached instead.
var errNoSpool = errors.New("ociproxy: cannot make spool file")

// fill is a fetch of a blob from upstream into the cache. It runs in a
// goroutine of its own, at upstream's pace, writing what upstream sends
// to a spool file and to an upload to the cache. Its readers (any number
// of callers of GetBlob) read the spool file, each at its own pace and
// each waiting, no longer than its context lasts, for the bytes not yet
// written. Once the blob is in the cache, readers that have not reached
// its end read the rest from the cache instead and let go of the spool
// file, which is removed when its last holder lets go.
type fill struct {
	p    *proxy
	repo string
	key  string

	// ready is closed once upstream has answered: desc and spool are
	// set, or else openErr is.
	ready   chan struct{}
	desc    ociregistry.Descriptor
	spool   *os.File
	openErr error

	mu sync.Mutex
	// written is how many bytes of the blob readers may read from the
	// spool file. It stays below the blob's size until the blob has
	// been verified, so that no reader gets the whole of wrong
	// content.
	written int64
	// cached is set once the blob has been committed to the cache.
	cached bool
	// err is set when the fill failed: what readers get once they
	// have read all that was written.
	err error
	// changed is closed, and replaced, when written or err change.
	changed chan struct{}
	// refs counts the holders of the spool file: the fill goroutine
	// until it ends, and each reader until it closes or moves to the
	// cache.
	refs int
}

// joinFill returns the fill of the blob dg in repo, starting one if
// none is under way, with a reference taken for the caller, who calls
// release when done. It returns nil when a fill would have to be started
// but Options.MaxFills of them hold their spool files already.
func (p *proxy) joinFill(ctx context.Context, repo string, dg ociregistry.Digest) *fill {
	key := repo + "@" + string(dg)
	p.fillMu.Lock()
	defer p.fillMu.Unlock()
	if f := p.fills[key]; f != nil {
		// The fill removes itself from fills before it lets go of
		// its reference, so the spool file is still there.
		f.acquire()
		return f
	}
	select {
	case p.fillSlots <- struct{}{}:
	default:
		return nil
	}
	f := &fill{
		p:       p,
		repo:    repo,
		key:     key,
		ready:   make(chan struct{}),
		changed: make(chan struct{}),
		refs:    2, // the fill goroutine's and the caller's
	}
	f.desc.Digest = dg
	p.fills[key] = f
	// The fill outlives the request that started it, since other
	// callers may read it, but keeps the request's values (such as
	// what ociclient needs to authenticate).
	go f.run(context.WithoutCancel(ctx))
	return f
}

func (f *fill) acquire() {
	f.mu.Lock()
	f.refs++
	f.mu.Unlock()
}

// release lets go of a reference to the spool file. The last one
// removes it and frees the fill's slot.
func (f *fill) release() {
	f.mu.Lock()
	f.refs--
	last := f.refs == 0
	f.mu.Unlock()
	if !last {
		return
	}
	if f.spool != nil {
		f.spool.Close()
		os.Remove(f.spool.Name())
	}
	<-f.p.fillSlots
}

// update changes the fill's state under its lock, and wakes its
// readers.
func (f *fill) update(change func()) {
	f.mu.Lock()
	change()
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// run fetches the blob from upstream into the spool file and the
// cache. It ends when upstream has sent the whole blob, fails, or sends
// nothing for Options.FillStallTimeout.
func (f *fill) run(ctx context.Context) {
	p := f.p
	defer func() {
		p.fillMu.Lock()
		delete(p.fills, f.key)
		p.fillMu.Unlock()
		f.release()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := p.newStallTimer(cancel)
	defer stall.stop()

	up, desc, spool, err := f.open(ctx, stall)
	if err != nil {
		f.openErr = err
		close(f.ready)
		return
	}
	defer up.Close()
	f.desc, f.spool = desc, spool
	close(f.ready)
	f.fetch(ctx, up, stall)
}

// open opens the blob upstream and makes the spool file for it,
// returning the blob's descriptor as upstream gives it. Its error is
// errCached when the cache holds the blob already, one that Is
// errNoSpool when the spool file cannot be made, and otherwise
// upstream's.
func (f *fill) open(ctx context.Context, stall *stallTimer) (ociregistry.BlobReader, ociregistry.Descriptor, *os.File, error) {
	p := f.p
	// A caller that missed the cache just before another fill
	// committed the blob, and found that fill gone, started this one.
	if _, err := p.cache.ResolveBlob(ctx, f.repo, f.desc.Digest); err == nil {
		return nil, ociregistry.Descriptor{}, nil, errCached
	}
	up, desc, err := p.openUpstream(ctx, f.repo, f.desc.Digest)
	if err != nil {
		return nil, ociregistry.Descriptor{}, nil, stall.explain(err, f.desc.Digest)
	}
	spool, err := os.CreateTemp(p.opts.TempDir, "ociproxy-fill-*")
	if err != nil {
		up.Close()
		p.logger.Warn("ociproxy: cannot make spool file; reading blob from upstream uncached", "repo", f.repo, "digest", desc.Digest, "err", err)
		return nil, ociregistry.Descriptor{}, nil, fmt.Errorf("%w: %w", errNoSpool, err)
	}
	return up, desc, spool, nil
}

// fetch copies the blob from up into the spool file and, when the cache
// takes it, into a chunked upload to the cache, verifying it on the way,
// and tells the readers how far it got through f.update. The upload is
// committed once the whole blob checks out, and cancelled otherwise.
func (f *fill) fetch(ctx context.Context, up ociregistry.BlobReader, stall *stallTimer) {
	p, desc := f.p, f.desc
	cw, err := p.cache.PushBlobChunked(ctx, f.repo, 0)
	if err != nil {
		p.logger.Warn("ociproxy: cannot write blob to cache", "repo", f.repo, "digest", desc.Digest, "err", err)
		cw = nil
	}
	defer func() {
		if cw != nil {
			// Cancel does nothing after a successful Commit.
			cw.Cancel()
		}
	}()
	v := newVerifier(up, desc)
	buf := make([]byte, fillBufSize)
	for {
		n, err := v.next(buf)
		if n > 0 {
			stall.progress()
			if _, werr := f.spool.WriteAt(buf[:n], v.n-int64(n)); werr != nil {
				err = fmt.Errorf("ociproxy: cannot write spool file: %w", werr)
			} else {
				cw = f.writeToCache(cw, buf[:n])
			}
			// The time spent writing is not upstream's.
			stall.progress()
		}
		switch {
		case err == nil:
			// The verifier returns no error only while bytes
			// of the blob are still to come.
			f.update(func() { f.written = v.n })
		case err == io.EOF:
			cached := f.commitToCache(cw)
			f.update(func() { f.written, f.cached = desc.Size, cached })
			return
		default:
			err = stall.explain(err, desc.Digest)
			// Cancelled before the readers hear of the failure,
			// which they may take for the end of the fill.
			if cw != nil {
				cw.Cancel()
				cw = nil
			}
			p.logger.Warn("ociproxy: blob fetch failed", "repo", f.repo, "digest", desc.Digest, "err", err)
			f.update(func() { f.err = err })
			return
		}
	}
}

// writeToCache writes data to cw, the upload of the blob to the cache,
// and returns cw, or nil when there is no upload (cw is nil) or it
// failed (and has been cancelled): a cache that cannot take the blob
// does not stop the fill.
func (f *fill) writeToCache(cw ociregistry.BlobWriter, data []byte) ociregistry.BlobWriter {
	if cw == nil {
		return nil
	}
	if _, err := cw.Write(data); err != nil {
		f.p.logger.Warn("ociproxy: cannot write blob to cache", "repo", f.repo, "digest", f.desc.Digest, "err", err)
		cw.Cancel()
		return nil
	}
	return cw
}

// commitToCache commits cw, the upload of the verified blob to the
// cache, and reports whether the cache now holds the blob.
func (f *fill) commitToCache(cw ociregistry.BlobWriter) bool {
	if cw == nil {
		return false
	}
	if _, err := cw.Commit(f.desc.Digest); err != nil {
		f.p.logger.Warn("ociproxy: cannot commit blob to cache", "repo", f.repo, "digest", f.desc.Digest, "err", err)
		return false
	}
	return true
}

// stallTimer ends a fill, through cancel, when upstream sends nothing
// for Options.FillStallTimeout.
type stallTimer struct {
	timeout time.Duration
	t       *time.Timer // nil when fills may stall for ever
	mu      sync.Mutex
	fired   bool
}

func (p *proxy) newStallTimer(cancel func()) *stallTimer {
	s := &stallTimer{timeout: p.opts.FillStallTimeout}
	if s.timeout > 0 {
		s.t = time.AfterFunc(s.timeout, func() {
			s.mu.Lock()
			s.fired = true
			s.mu.Unlock()
			cancel()
		})
	}
	return s
}

// progress records that upstream sent bytes.
func (s *stallTimer) progress() {
	if s.t != nil {
		s.t.Reset(s.timeout)
	}
}

func (s *stallTimer) stop() {
	if s.t != nil {
		s.t.Stop()
	}
}

// explain returns err, said to come from a stall when the timer fired.
func (s *stallTimer) explain(err error, dg ociregistry.Digest) error {
	s.mu.Lock()
	fired := s.fired
	s.mu.Unlock()
	if !fired {
		return err
	}
	// The context error that the stall caused is not wrapped: the
	// caller's context did not end, upstream failed.
	return fmt.Errorf("ociproxy: upstream sent nothing of blob %s for %v (%v)", dg, s.timeout, err)
}

// fillReader reads a blob as its fill writes it, at its own pace: from
// the spool file and, once the blob is in the cache, from the cache.
type fillReader struct {
	f *fill
	// ctx bounds the waits for the fill to write more.
	ctx context.Context
	// off is how many bytes have been read.
	off int64
	// cached reads the rest of the blob from the cache; once it is
	// set, the reader holds no reference to the spool file.
	cached ociregistry.BlobReader
	// noCache is set once the cache failed to give the rest, so that
	// the reader stays on the spool file without asking again.
	noCache bool
	closed  bool
}

func (r *fillReader) Descriptor() ociregistry.Descriptor { return r.f.desc }

func (r *fillReader) Read(buf []byte) (int, error) {
	if r.cached != nil {
		n, err := r.cached.Read(buf)
		r.off += int64(n)
		return n, err
	}
	if r.closed {
		return 0, errors.New("ociproxy: read of a closed blob")
	}
	f := r.f
	for {
		f.mu.Lock()
		written, cached, ferr, changed := f.written, f.cached, f.err, f.changed
		f.mu.Unlock()
		size := f.desc.Size
		if cached && !r.noCache && r.off < size && r.moveToCache() {
			return r.Read(buf)
		}
		if r.off < written {
			if len(buf) == 0 {
				return 0, nil
			}
			buf = buf[:min(int64(len(buf)), written-r.off)]
			n, err := f.spool.ReadAt(buf, r.off)
			r.off += int64(n)
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		switch {
		case ferr != nil:
			return 0, ferr
		case r.off >= size && written == size:
			return 0, io.EOF
		}
		select {
		case <-changed:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// moveToCache makes the reader read the rest of the blob from the cache,
// letting go of the spool file. It reports whether it did.
func (r *fillReader) moveToCache() bool {
	f := r.f
	rd, err := f.p.cache.GetBlobRange(r.ctx, f.repo, f.desc.Digest, r.off, -1)
	if err != nil {
		r.noCache = true
		return false
	}
	r.cached = rd
	r.closed = true
	f.release()
	return true
}

// Close lets go of what the reader holds. The fill goes on without it.
func (r *fillReader) Close() error {
	if r.cached != nil {
		err := r.cached.Close()
		r.cached = nil
		return err
	}
	if !r.closed {
		r.closed = true
		r.f.release()
	}
	return nil
}
