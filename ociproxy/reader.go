package ociproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
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
// end with an error that Is ociregistry.ErrDigestInvalid or
// ociregistry.ErrSizeInvalid when upstream sent other content than the
// digest names; the content is then not cached.
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
		if attempt >= maxFillAttempts {
			// The cache is not getting filled (it may refuse
			// writes, or callers keep giving up half way): stop
			// queueing behind other fetches.
			return p.up.GetBlob(ctx, repo, dg)
		}
		p.fillMu.Lock()
		f := p.fills[key]
		if f == nil {
			f = &fill{done: make(chan struct{})}
			p.fills[key] = f
			p.fillMu.Unlock()
			return p.startFill(ctx, repo, dg, key, f)
		}
		p.fillMu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.openErr != nil && !isContextErr(f.openErr) {
			// Upstream answered the fetch with an error, such as
			// "unknown": asking again would get the same.
			return nil, f.openErr
		}
	}
}

// fill is a fetch of a blob from upstream into the cache.
type fill struct {
	// done is closed when the fetch has ended, successfully or not.
	done chan struct{}
	// openErr holds upstream's error when it could not supply the
	// blob at all. It is set before done is closed.
	openErr error
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
	up, err := p.up.GetBlob(ctx, repo, dg)
	if err != nil {
		p.endFill(key, f, err)
		return nil, err
	}
	desc := up.Descriptor()
	desc.Digest = dg
	cw, err := p.cache.PushBlobChunked(ctx, repo, 0)
	if err != nil {
		p.logger.Warn("ociproxy: cannot write blob to cache", "repo", repo, "digest", dg, "err", err)
		cw = nil
	}
	return &fillReader{
		p:    p,
		repo: repo,
		key:  key,
		f:    f,
		up:   up,
		desc: desc,
		h:    dg.Algorithm().Hash(),
		cw:   cw,
	}, nil
}

// fillReader streams a blob from upstream to its caller, writing it into
// the cache as it goes, and commits it to the cache when the caller has
// read it all and it matches its digest.
type fillReader struct {
	p    *proxy
	repo string
	key  string
	f    *fill
	up   ociregistry.BlobReader
	desc ociregistry.Descriptor
	h    hash.Hash
	// n counts the bytes read from upstream.
	n int64
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
	n, err := r.up.Read(buf)
	if n > 0 {
		r.h.Write(buf[:n])
		r.n += int64(n)
		if r.n > r.desc.Size {
			r.end(fmt.Errorf("ociproxy: upstream sent more than the %d bytes of blob %s: %w", r.desc.Size, r.desc.Digest, ociregistry.ErrSizeInvalid))
			return n, r.err
		}
		if r.cw != nil {
			if _, werr := r.cw.Write(buf[:n]); werr != nil {
				r.p.logger.Warn("ociproxy: cannot write blob to cache", "repo", r.repo, "digest", r.desc.Digest, "err", werr)
				r.cw.Cancel()
				r.cw = nil
			}
		}
	}
	switch {
	case err == io.EOF:
		r.end(r.verify())
		return n, r.err
	case err != nil:
		r.end(err)
		return n, err
	}
	return n, nil
}

// verify checks the content read against the descriptor and returns
// io.EOF when it matches.
func (r *fillReader) verify() error {
	if r.n != r.desc.Size {
		return fmt.Errorf("ociproxy: upstream sent %d bytes of blob %s, not %d: %w", r.n, r.desc.Digest, r.desc.Size, ociregistry.ErrSizeInvalid)
	}
	if got := digest.NewDigest(r.desc.Digest.Algorithm(), r.h); got != r.desc.Digest {
		return fmt.Errorf("ociproxy: upstream sent content with digest %s for blob %s: %w", got, r.desc.Digest, ociregistry.ErrDigestInvalid)
	}
	return io.EOF
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
// whole blob the fetch is abandoned, and nothing is cached; a caller
// that read exactly the blob's size but not the end of the stream has
// read it all, so the end is read and checked on its behalf.
func (r *fillReader) Close() error {
	var buf [1]byte
	for i := 0; !r.ended && r.n == r.desc.Size && i < 3; i++ {
		r.Read(buf[:])
	}
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
			p.tagMu.Lock()
			p.tags[key] = tagEntry{desc: m.desc, at: at}
			p.tagMu.Unlock()
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
