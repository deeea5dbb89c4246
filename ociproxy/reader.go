package ociproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync/atomic"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// maxFillAttempts bounds how often GetBlob waits for a fetch that then
// fails to fill the cache, before it reads from upstream uncached.
const maxFillAttempts = 3

// errAbandoned ends a fetch whose caller closed the blob before reading
// all of it.
var errAbandoned = errors.New("ociproxy: blob closed before it was read whole")

// checkRepoDigest checks names before anything is asked of upstream.
func checkRepoDigest(repo string, dg ociregistry.Digest) error {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return err
	}
	return ociregistry.CheckDigest(dg)
}

// GetBlob returns the blob from the cache, or else streams it from
// upstream while storing it in the cache, as the package documentation
// describes. It answers upstream's error when the cache does not have
// the blob and upstream cannot supply it. Reading the blob fails at its
// end, without returning its last bytes, with an error that Is
// ociregistry.ErrDigestInvalid or ociregistry.ErrSizeInvalid when
// upstream sent other content than the digest names; the content is then
// not cached. So a server that streams the blob to a client cuts the
// body short rather than complete wrong content.
func (p *proxy) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := checkRepoDigest(repo, dg); err != nil {
		return nil, err
	}
	key := repo + "@" + string(dg)
	for attempt := 0; ; attempt++ {
		rd, err := p.cache.GetBlob(ctx, repo, dg)
		if err == nil {
			return rd, nil
		}
		if !isNotFound(err) {
			p.logger.Warn("ociproxy: cannot read blob from cache", "repo", repo, "digest", dg, "err", err)
		}
		if attempt >= p.maxFillAttempts {
			// The cache is not getting filled (it may refuse
			// writes, or callers keep giving up half way): stop
			// queueing behind other fetches. What upstream sends
			// is still checked, as a fill would check it.
			return p.getBlobUncached(ctx, repo, dg)
		}
		p.fillMu.Lock()
		f := p.fills[key]
		if f == nil {
			f = &fill{done: make(chan struct{}), start: time.Now()}
			p.fills[key] = f
			p.fillMu.Unlock()
			return p.startFill(ctx, repo, dg, key, f)
		}
		p.fillMu.Unlock()
		stalled, err := p.waitFill(ctx, f)
		if err != nil {
			return nil, err
		}
		if stalled {
			// The fetch's caller holds its reader without reading
			// it, or upstream stopped sending: stop waiting, and
			// read the blob verified but uncached, as above.
			p.logger.Warn("ociproxy: blob fetch stalled; reading blob from upstream uncached", "repo", repo, "digest", dg, "stallTimeout", p.opts.FillStallTimeout)
			return p.getBlobUncached(ctx, repo, dg)
		}
		if f.openErr != nil && !isContextErr(f.openErr) {
			// Upstream answered the fetch with an error, such as
			// "unknown": asking again would get the same.
			return nil, f.openErr
		}
	}
}

// getBlobUncached returns the blob from upstream, failing at its end
// when the content does not match the digest, without caching it.
func (p *proxy) getBlobUncached(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	up, desc, err := p.openUpstream(ctx, repo, dg)
	if err != nil {
		return nil, err
	}
	return &verifyReader{verifier: newVerifier(up, desc)}, nil
}

// openUpstream opens the blob upstream and returns it with its
// descriptor. The verifier needs the size up front (to hold back the
// last bytes), so a reader that does not know it (an HTTP response sent
// without a Content-Length, say) has it resolved.
func (p *proxy) openUpstream(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, ociregistry.Descriptor, error) {
	up, err := p.up.GetBlob(ctx, repo, dg)
	if err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	desc := up.Descriptor()
	desc.Digest = dg
	if desc.Size < 0 {
		rdesc, err := p.up.ResolveBlob(ctx, repo, dg)
		if err == nil && rdesc.Size < 0 {
			err = fmt.Errorf("ociproxy: upstream gives no size for blob %s: %w", dg, ociregistry.ErrSizeInvalid)
		}
		if err != nil {
			up.Close()
			return nil, ociregistry.Descriptor{}, err
		}
		desc.Size = rdesc.Size
	}
	return up, desc, nil
}

// fill is a fetch of a blob from upstream into the cache.
type fill struct {
	// done is closed when the fetch has ended, successfully or not.
	done chan struct{}
	// openErr holds upstream's error when it could not supply the
	// blob at all. It is set before done is closed.
	openErr error
	// start is when the fetch began. It is set before the fill is
	// shared, and is read with its monotonic clock reading.
	start time.Time
	// progress is when the fetch last read bytes of the blob, in
	// nanoseconds since start.
	progress atomic.Int64
}

// touch records that the fetch f has just read bytes of the blob.
func (f *fill) touch() {
	f.progress.Store(int64(time.Since(f.start)))
}

// idle returns how long the fetch f has read no bytes of the blob.
func (f *fill) idle() time.Duration {
	return time.Since(f.start) - time.Duration(f.progress.Load())
}

// waitFill waits for the fetch f to end, answering ctx's error should
// ctx end first. It reports whether the fetch stalled instead: read no
// bytes of the blob for Options.FillStallTimeout.
func (p *proxy) waitFill(ctx context.Context, f *fill) (stalled bool, err error) {
	timeout := p.opts.FillStallTimeout
	var timer *time.Timer
	var check <-chan time.Time // nil, never ready, without a timeout
	if timeout > 0 {
		timer = time.NewTimer(max(timeout-f.idle(), 0))
		defer timer.Stop()
		check = timer.C
	}
	for {
		select {
		case <-f.done:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		case <-check:
			idle := f.idle()
			if idle >= timeout {
				return true, nil
			}
			timer.Reset(timeout - idle)
		}
	}
}

// endFill records the end of the fetch f of key.
func (p *proxy) endFill(key string, f *fill, openErr error) {
	p.fillMu.Lock()
	delete(p.fills, key)
	p.fillMu.Unlock()
	f.openErr = openErr
	close(f.done)
}

// startFill opens the blob upstream and returns a reader that streams it
// to the caller while writing it into the cache.
func (p *proxy) startFill(ctx context.Context, repo string, dg ociregistry.Digest, key string, f *fill) (ociregistry.BlobReader, error) {
	up, desc, err := p.openUpstream(ctx, repo, dg)
	if err != nil {
		p.endFill(key, f, err)
		return nil, err
	}
	cw, err := p.cache.PushBlobChunked(ctx, repo, 0)
	if err != nil {
		p.logger.Warn("ociproxy: cannot write blob to cache", "repo", repo, "digest", dg, "err", err)
		cw = nil
	}
	return &fillReader{
		verifier: newVerifier(up, desc),
		p:        p,
		repo:     repo,
		key:      key,
		f:        f,
		cw:       cw,
	}, nil
}

// verifier reads a blob from upstream and checks it against its
// descriptor: its size and its digest.
type verifier struct {
	up   ociregistry.BlobReader
	desc ociregistry.Descriptor
	h    hash.Hash
	// n counts the bytes read from upstream.
	n int64
}

func newVerifier(up ociregistry.BlobReader, desc ociregistry.Descriptor) verifier {
	return verifier{up: up, desc: desc, h: desc.Digest.Algorithm().Hash()}
}

// next reads the next bytes of the blob into buf. It answers io.EOF,
// possibly with the blob's last bytes, once the blob has been read whole
// and verified. Any other error means that upstream failed or sent other
// content than the descriptor names, and then n is 0: the bytes that
// complete a blob are held back until it has been verified, so that a
// caller that passes bytes on as it reads them (such as ociserver, which
// has sent "200 OK" by then) never passes on the whole of wrong content,
// and its client sees a body cut short.
func (v *verifier) next(buf []byte) (int, error) {
	left := max(v.desc.Size-v.n, 0)
	if left > 0 && len(buf) == 0 {
		return 0, nil
	}
	// Reading no more than the blob's size leaves any excess in
	// upstream's stream, where checkEnd finds it.
	if int64(len(buf)) > left {
		buf = buf[:left]
	}
	var n int
	var err error
	if len(buf) > 0 {
		n, err = v.up.Read(buf)
		v.h.Write(buf[:n])
		v.n += int64(n)
	}
	switch {
	case err != nil && err != io.EOF:
		return 0, err
	case v.n < v.desc.Size && err == io.EOF:
		return 0, fmt.Errorf("ociproxy: upstream sent %d bytes of blob %s, not %d: %w", v.n, v.desc.Digest, v.desc.Size, ociregistry.ErrSizeInvalid)
	case v.n < v.desc.Size:
		return n, nil
	}
	if got := digest.NewDigest(v.desc.Digest.Algorithm(), v.h); got != v.desc.Digest {
		return 0, fmt.Errorf("ociproxy: upstream sent content with digest %s for blob %s: %w", got, v.desc.Digest, ociregistry.ErrDigestInvalid)
	}
	if err != io.EOF {
		if err := v.checkEnd(); err != nil {
			return 0, err
		}
	}
	return n, io.EOF
}

// checkEnd checks that upstream's stream ends after the blob's last
// byte.
func (v *verifier) checkEnd() error {
	var b [1]byte
	// A reader may answer (0, nil) now and then; a few tries tell
	// that from one that never ends.
	for range 100 {
		n, err := v.up.Read(b[:])
		switch {
		case n > 0:
			return fmt.Errorf("ociproxy: upstream sent more than the %d bytes of blob %s: %w", v.desc.Size, v.desc.Digest, ociregistry.ErrSizeInvalid)
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}

// verifyReader is a BlobReader that reads a blob from upstream and
// fails at its end when the content does not match the descriptor, as
// verifier.next describes.
type verifyReader struct {
	verifier
	// err is what Read answers once the blob has ended.
	err error
}

func (r *verifyReader) Descriptor() ociregistry.Descriptor { return r.desc }

func (r *verifyReader) Read(buf []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.next(buf)
	r.err = err
	return n, err
}

func (r *verifyReader) Close() error { return r.up.Close() }

// fillReader streams a blob from upstream to its caller, writing it into
// the cache as it goes, and commits it to the cache when the caller has
// read it all and it matches its digest.
type fillReader struct {
	verifier
	p    *proxy
	repo string
	key  string
	f    *fill
	// cw writes to the cache; it is nil when the content is not
	// being cached.
	cw ociregistry.BlobWriter
	// ended is set once the fetch has ended, with err what Read
	// answers from then on.
	ended bool
	err   error
}

func (r *fillReader) Descriptor() ociregistry.Descriptor { return r.desc }

func (r *fillReader) Read(buf []byte) (int, error) {
	if r.ended {
		return 0, r.err
	}
	n, err := r.next(buf)
	if n > 0 {
		r.f.touch()
	}
	if n > 0 && r.cw != nil {
		if _, werr := r.cw.Write(buf[:n]); werr != nil {
			r.p.logger.Warn("ociproxy: cannot write blob to cache", "repo", r.repo, "digest", r.desc.Digest, "err", werr)
			r.cw.Cancel()
			r.cw = nil
		}
	}
	if err != nil {
		r.end(err)
	}
	return n, err
}

// end ends the fetch with err, which is io.EOF when the content was read
// whole and verified: the cache upload is then committed, and otherwise
// cancelled. Callers waiting for the fetch are released.
func (r *fillReader) end(err error) {
	r.ended, r.err = true, err
	if r.cw != nil {
		if err == io.EOF {
			if _, cerr := r.cw.Commit(r.desc.Digest); cerr != nil {
				r.p.logger.Warn("ociproxy: cannot commit blob to cache", "repo", r.repo, "digest", r.desc.Digest, "err", cerr)
			}
		}
		// Cancel does nothing after a successful Commit.
		r.cw.Cancel()
		r.cw = nil
	}
	// Waiting callers look in the cache, and fetch again should the
	// blob not be there.
	r.p.endFill(r.key, r.f, nil)
}

// Close closes the upstream reader. When the caller has not read the
// whole blob the fetch is abandoned, and nothing is cached. (A caller
// that read as many bytes as the blob's size has had it verified and
// cached by the read that completed it.)
func (r *fillReader) Close() error {
	if !r.ended {
		r.end(errAbandoned)
	}
	return r.up.Close()
}

// GetBlobRange returns part of the blob from the cache or, when the
// cache does not have it, from upstream without caching it (a part
// cannot be verified against the digest). It answers upstream's error
// when neither has the blob.
func (p *proxy) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	if err := checkRepoDigest(repo, dg); err != nil {
		return nil, err
	}
	rd, err := p.cache.GetBlobRange(ctx, repo, dg, o0, o1)
	if err == nil || !isNotFound(err) && !errors.Is(err, ociregistry.ErrUnsupported) {
		return rd, err
	}
	return p.up.GetBlobRange(ctx, repo, dg, o0, o1)
}

// ResolveBlob returns the blob's descriptor from the cache or else from
// upstream, answering upstream's error when neither has it.
func (p *proxy) ResolveBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := checkRepoDigest(repo, dg); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if desc, err := p.cache.ResolveBlob(ctx, repo, dg); err == nil {
		return desc, nil
	}
	return p.up.ResolveBlob(ctx, repo, dg)
}

// manifestData is a manifest's content with its descriptor.
type manifestData struct {
	desc ociregistry.Descriptor
	data []byte
}

// GetManifest returns the manifest from the cache, or else fetches it
// from upstream, checks it against its digest, stores it in the cache and
// returns it. It answers upstream's error when neither has it, and an
// error that Is ociregistry.ErrDigestInvalid when upstream sent other
// content.
func (p *proxy) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	if err := checkRepoDigest(repo, dg); err != nil {
		return nil, err
	}
	m, err := p.manifest(ctx, repo, dg)
	if err != nil {
		return nil, err
	}
	return newBytesReader(m), nil
}

// manifest returns the manifest with digest dg in repo, from the cache
// or else fetched from upstream into the cache.
func (p *proxy) manifest(ctx context.Context, repo string, dg ociregistry.Digest) (manifestData, error) {
	if m, err := readManifest(p.cache.GetManifest(ctx, repo, dg)); err == nil {
		return m, nil
	}
	return p.manifests.do(ctx, repo+"@"+string(dg), func() (manifestData, error) {
		m, err := readManifest(p.up.GetManifest(ctx, repo, dg))
		if err != nil {
			return manifestData{}, err
		}
		if got := dg.Algorithm().FromBytes(m.data); got != dg {
			return manifestData{}, fmt.Errorf("ociproxy: upstream sent manifest with digest %s for %s: %w", got, dg, ociregistry.ErrDigestInvalid)
		}
		m.desc.Digest = dg
		if _, err := p.cache.PushManifest(ctx, repo, "", m.data, m.desc.MediaType); err != nil {
			p.logger.Warn("ociproxy: cannot store manifest in cache", "repo", repo, "digest", dg, "err", err)
		}
		return m, nil
	})
}

// readManifest reads the whole of a manifest that a Get method returned,
// and closes it.
func readManifest(rd ociregistry.BlobReader, err error) (manifestData, error) {
	if err != nil {
		return manifestData{}, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxManifestSize+1))
	if err != nil {
		return manifestData{}, err
	}
	if len(data) > maxManifestSize {
		return manifestData{}, fmt.Errorf("ociproxy: manifest is bigger than %d bytes: %w", maxManifestSize, ociregistry.ErrManifestInvalid)
	}
	desc := rd.Descriptor()
	desc.Size = int64(len(data))
	return manifestData{desc: desc, data: data}, nil
}

// ResolveManifest returns the manifest's descriptor from the cache or
// else from upstream, answering upstream's error when neither has it.
func (p *proxy) ResolveManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	if err := checkRepoDigest(repo, dg); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if desc, err := p.cache.ResolveManifest(ctx, repo, dg); err == nil {
		return desc, nil
	}
	return p.up.ResolveManifest(ctx, repo, dg)
}

// GetTag returns the manifest that the tag points to, resolved as
// ResolveTag does, from the cache or else from upstream.
func (p *proxy) GetTag(ctx context.Context, repo string, tag string) (ociregistry.BlobReader, error) {
	desc, err := p.ResolveTag(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	m, err := p.manifest(ctx, repo, desc.Digest)
	if err != nil {
		return nil, err
	}
	return newBytesReader(m), nil
}

// tagEntry is what a tag resolved to upstream, and when.
type tagEntry struct {
	desc ociregistry.Descriptor
	at   time.Time
}

// ResolveTag returns the descriptor that the tag points to upstream,
// remembered for Options.TagTTL. Resolving a tag fetches its manifest
// into the cache and points the cache's tag at it. When upstream fails
// with anything but "not found", the cache's tag is answered and a
// warning logged; otherwise upstream's error is returned. With
// Options.WritesToCache, a tag that upstream does not know is looked up
// in the cache.
func (p *proxy) ResolveTag(ctx context.Context, repo string, tag string) (ociregistry.Descriptor, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := ociregistry.CheckTag(tag); err != nil {
		return ociregistry.Descriptor{}, err
	}
	key := repo + ":" + tag
	p.tagMu.Lock()
	e, ok := p.tags[key]
	p.tagMu.Unlock()
	if ok && p.now().Sub(e.at) < p.opts.TagTTL {
		return e.desc, nil
	}
	return p.tagLookups.do(ctx, key, func() (ociregistry.Descriptor, error) {
		return p.lookupTag(ctx, repo, tag, key)
	})
}

// lookupTag resolves the tag upstream, as ResolveTag describes.
func (p *proxy) lookupTag(ctx context.Context, repo, tag, key string) (ociregistry.Descriptor, error) {
	at := p.now()
	desc, err := p.up.ResolveTag(ctx, repo, tag)
	switch {
	case err == nil:
		m, err := p.manifest(ctx, repo, desc.Digest)
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		// Point the cache's tag at the manifest, for when upstream
		// cannot be reached.
		if cd, err := p.cache.ResolveTag(ctx, repo, tag); err != nil || cd.Digest != desc.Digest {
			if _, err := p.cache.PushManifest(ctx, repo, tag, m.data, m.desc.MediaType); err != nil {
				p.logger.Warn("ociproxy: cannot tag manifest in cache", "repo", repo, "tag", tag, "digest", desc.Digest, "err", err)
			}
		}
		if p.opts.TagTTL > 0 {
			p.rememberTag(key, tagEntry{desc: m.desc, at: at})
		}
		return m.desc, nil
	case isNotFound(err):
		p.forgetTag(key)
		if p.opts.WritesToCache {
			if cd, cerr := p.cache.ResolveTag(ctx, repo, tag); cerr == nil {
				return cd, nil
			}
		}
		return ociregistry.Descriptor{}, err
	case isContextErr(err) && ctx.Err() != nil:
		return ociregistry.Descriptor{}, err
	}
	cd, cerr := p.cache.ResolveTag(ctx, repo, tag)
	if cerr != nil {
		return ociregistry.Descriptor{}, err
	}
	p.logger.Warn("ociproxy: upstream failed; serving cached tag", "repo", repo, "tag", tag, "digest", cd.Digest, "err", err)
	return cd, nil
}

// maxTags bounds the tags a proxy remembers, so that pulls of ever new
// tags cannot grow its memory without end. Forgetting a tag costs no more
// than resolving it upstream again.
const maxTags = 100_000

// rememberTag records what the tag key resolved to. When the proxy
// already remembers maxTags tags, the expired ones are dropped first,
// and all of them if that frees less than half: each sweep then pays for
// at least maxTags/2 inserts.
func (p *proxy) rememberTag(key string, e tagEntry) {
	p.tagMu.Lock()
	defer p.tagMu.Unlock()
	if _, ok := p.tags[key]; !ok && len(p.tags) >= p.maxTags {
		now := p.now()
		for k, old := range p.tags {
			if now.Sub(old.at) >= p.opts.TagTTL {
				delete(p.tags, k)
			}
		}
		if len(p.tags) > p.maxTags/2 {
			clear(p.tags)
		}
	}
	p.tags[key] = e
}

// forgetTag drops what the tag key was resolved to.
func (p *proxy) forgetTag(key string) {
	p.tagMu.Lock()
	delete(p.tags, key)
	p.tagMu.Unlock()
}

// bytesReader is a BlobReader over content held in memory.
type bytesReader struct {
	*bytes.Reader
	desc ociregistry.Descriptor
}

func newBytesReader(m manifestData) *bytesReader {
	return &bytesReader{Reader: bytes.NewReader(m.data), desc: m.desc}
}

func (r *bytesReader) Descriptor() ociregistry.Descriptor { return r.desc }

func (r *bytesReader) Close() error { return nil }
