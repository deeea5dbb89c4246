package ociproxy

import (
	"fmt"
	"hash"
	"io"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

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
