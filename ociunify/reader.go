package ociunify

import (
	"context"
	"fmt"

	"github.com/ocireg/ociregistry"
)

// GetBlob returns the blob from whichever registry has it, asked as
// Options.ReadPolicy says. It answers the first registry's error when
// neither has it, or the error of a registry that failed otherwise.
func (u *unifier) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	return readContent(ctx, u, func(ctx context.Context, r ociregistry.Interface) (ociregistry.BlobReader, error) {
		return r.GetBlob(ctx, repo, dg)
	}, keepReader, closeReader)
}

// GetBlobRange is like GetBlob for part of the blob.
func (u *unifier) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	return readContent(ctx, u, func(ctx context.Context, r ociregistry.Interface) (ociregistry.BlobReader, error) {
		return r.GetBlobRange(ctx, repo, dg, o0, o1)
	}, keepReader, closeReader)
}

// GetManifest returns the manifest from whichever registry has it, as
// GetBlob does.
func (u *unifier) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	return readContent(ctx, u, func(ctx context.Context, r ociregistry.Interface) (ociregistry.BlobReader, error) {
		return r.GetManifest(ctx, repo, dg)
	}, keepReader, closeReader)
}

// ResolveBlob returns the blob's descriptor from whichever registry has
// it, as GetBlob does.
func (u *unifier) ResolveBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	return readContent(ctx, u, func(ctx context.Context, r ociregistry.Interface) (ociregistry.Descriptor, error) {
		return r.ResolveBlob(ctx, repo, dg)
	}, keepDescriptor, nil)
}

// ResolveManifest returns the manifest's descriptor from whichever
// registry has it, as GetBlob does.
func (u *unifier) ResolveManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	return readContent(ctx, u, func(ctx context.Context, r ociregistry.Interface) (ociregistry.Descriptor, error) {
		return r.ResolveManifest(ctx, repo, dg)
	}, keepDescriptor, nil)
}

// GetTag asks both registries for the tag, whatever the ReadPolicy, and
// returns the manifest of the one that has it. It answers an error that
// Is ErrInconsistent when both have the tag pointing at different
// manifests, the error of either registry when it fails with anything
// but "unknown", and an error that Is ociregistry.ErrManifestUnknown
// when neither has the tag.
func (u *unifier) GetTag(ctx context.Context, repo string, tag string) (ociregistry.BlobReader, error) {
	rd0, rd1, err0, err1 := both(u, func(r ociregistry.Interface) (ociregistry.BlobReader, error) {
		return r.GetTag(ctx, repo, tag)
	})
	var d0, d1 ociregistry.Descriptor
	if err0 == nil {
		d0 = rd0.Descriptor()
	}
	if err1 == nil {
		d1 = rd1.Descriptor()
	}
	i, err := chooseTag(repo, tag, d0, d1, err0, err1)
	// Close what is not returned.
	if err0 == nil && (err != nil || i != 0) {
		rd0.Close()
	}
	if err1 == nil && (err != nil || i != 1) {
		rd1.Close()
	}
	switch {
	case err != nil:
		return nil, err
	case i == 0:
		return rd0, nil
	default:
		return rd1, nil
	}
}

// ResolveTag returns the descriptor that the tag points to, looked up
// as GetTag does.
func (u *unifier) ResolveTag(ctx context.Context, repo string, tag string) (ociregistry.Descriptor, error) {
	d0, d1, err0, err1 := both(u, func(r ociregistry.Interface) (ociregistry.Descriptor, error) {
		return r.ResolveTag(ctx, repo, tag)
	})
	i, err := chooseTag(repo, tag, d0, d1, err0, err1)
	switch {
	case err != nil:
		return ociregistry.Descriptor{}, err
	case i == 0:
		return d0, nil
	default:
		return d1, nil
	}
}

// chooseTag decides which registry's answer to a tag lookup is returned,
// as GetTag describes.
func chooseTag(repo, tag string, d0, d1 ociregistry.Descriptor, err0, err1 error) (int, error) {
	switch {
	case err0 == nil && err1 == nil:
		if d0.Digest != d1.Digest {
			return 0, fmt.Errorf("tag %q in %s points to %s in r0 but %s in r1: %w", tag, repo, d0.Digest, d1.Digest, ErrInconsistent)
		}
		return 0, nil
	case err0 == nil && ociregistry.IsNotFound(err1):
		return 0, nil
	case err1 == nil && ociregistry.IsNotFound(err0):
		return 1, nil
	case ociregistry.IsNotFound(err0) && ociregistry.IsNotFound(err1):
		return 0, err0
	case err0 != nil && !ociregistry.IsNotFound(err0):
		// A registry that cannot answer may hold a different
		// manifest for the tag: answering with the other one's would
		// hide what ErrInconsistent is there to show.
		return 0, sideErr(0, err0)
	default:
		return 0, sideErr(1, err1)
	}
}

// readContent reads content addressed by digest with get, from r0 then
// r1 or from both at once as u's ReadPolicy says. keep turns the winning
// answer into the one returned, and receives the cancel func of its
// context, which it must call when the answer is no longer in use.
// discard, when not nil, releases an answer that is not returned.
func readContent[T any](
	ctx context.Context,
	u *unifier,
	get func(ctx context.Context, r ociregistry.Interface) (T, error),
	keep func(x T, cancel context.CancelFunc) T,
	discard func(T),
) (T, error) {
	if u.opts.ReadPolicy == ReadConcurrent {
		return readConcurrently(ctx, u, get, keep, discard)
	}
	return readInOrder(ctx, u, get)
}

// readInOrder reads content with get from r0, and from r1 when r0 does
// not have it. It answers r0's error when neither has it, and otherwise
// the error of the first that failed for another reason.
func readInOrder[T any](ctx context.Context, u *unifier, get func(ctx context.Context, r ociregistry.Interface) (T, error)) (T, error) {
	var zero T
	x, err0 := get(ctx, u.r0)
	if err0 == nil {
		return x, nil
	}
	if !ociregistry.IsNotFound(err0) {
		return zero, sideErr(0, err0)
	}
	x, err1 := get(ctx, u.r1)
	if err1 == nil {
		return x, nil
	}
	if ociregistry.IsNotFound(err1) {
		return zero, err0
	}
	return zero, sideErr(1, err1)
}

// readConcurrently reads content with get from both registries at once
// and returns the first answer, passed through keep, cancelling the
// other request and passing its answer, should it succeed anyway, to
// discard. When both fail, it answers the error of the first (r0, then
// r1) that failed for another reason than not having the content, else
// r0's.
func readConcurrently[T any](
	ctx context.Context,
	u *unifier,
	get func(ctx context.Context, r ociregistry.Interface) (T, error),
	keep func(x T, cancel context.CancelFunc) T,
	discard func(T),
) (T, error) {
	var zero T
	type result struct {
		i   int
		x   T
		err error
	}
	results := make(chan result, 2)
	var cancels [2]context.CancelFunc
	for i, r := range []ociregistry.Interface{u.r0, u.r1} {
		ctx, cancel := context.WithCancel(ctx)
		cancels[i] = cancel
		go func() {
			x, err := get(ctx, r)
			results <- result{i, x, err}
		}()
	}
	var errs [2]error
	for n := 0; n < 2; n++ {
		res := <-results
		if res.err != nil {
			cancels[res.i]()
			errs[res.i] = res.err
			continue
		}
		if n == 0 {
			// The other request is still running: stop it, and
			// release its answer should it have succeeded anyway.
			cancels[1-res.i]()
			go func() {
				if other := <-results; other.err == nil && discard != nil {
					discard(other.x)
				}
			}()
		}
		return keep(res.x, cancels[res.i]), nil
	}
	switch {
	case !ociregistry.IsNotFound(errs[0]):
		return zero, sideErr(0, errs[0])
	case !ociregistry.IsNotFound(errs[1]):
		return zero, sideErr(1, errs[1])
	default:
		return zero, errs[0]
	}
}

// keepReader returns rd such that closing it cancels its context.
func keepReader(rd ociregistry.BlobReader, cancel context.CancelFunc) ociregistry.BlobReader {
	return &cancelReader{BlobReader: rd, cancel: cancel}
}

// closeReader closes rd, which is not returned.
func closeReader(rd ociregistry.BlobReader) { rd.Close() }

// keepDescriptor returns d; its request is over, so its context can go.
func keepDescriptor(d ociregistry.Descriptor, cancel context.CancelFunc) ociregistry.Descriptor {
	cancel()
	return d
}

// cancelReader is a BlobReader whose context lives until it is closed.
type cancelReader struct {
	ociregistry.BlobReader
	cancel context.CancelFunc
}

func (r *cancelReader) Close() error {
	err := r.BlobReader.Close()
	r.cancel()
	return err
}
