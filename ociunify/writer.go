package ociunify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ocireg/ociregistry"
)

// errSideDone tells the copy in PushBlob that a registry has stopped
// reading, having pushed the blob or failed to.
var errSideDone = errors.New("ociunify: registry stopped reading")

// PushBlob pushes the blob to both registries at once, reading rd only
// once, and returns the descriptor from r0. It fails when either push
// fails, with the errors of those that failed; the push may then have
// succeeded in the other registry.
func (u *unifier) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	type result struct {
		desc ociregistry.Descriptor
		err  error
	}
	var results [2]result
	var pws [2]*io.PipeWriter
	done := make(chan struct{}, 2)
	for i, r := range []ociregistry.Interface{u.r0, u.r1} {
		pr, pw := io.Pipe()
		pws[i] = pw
		go func() {
			d, err := r.PushBlob(ctx, repo, desc, pr)
			results[i] = result{d, err}
			// A registry may stop reading before the end, when the
			// blob is too long or already there: later writes to
			// its pipe must not block.
			pr.CloseWithError(errSideDone)
			done <- struct{}{}
		}()
	}
	copyErr := fanOut(rd, pws[:])
	for _, pw := range pws {
		if copyErr != nil {
			pw.CloseWithError(copyErr)
		} else {
			pw.Close()
		}
	}
	<-done
	<-done
	return joinWrite(results[0].desc, results[0].err, results[1].err)
}

// fanOut copies rd to every writer in ws until rd ends or no writer is
// still reading. It returns the error from reading rd, if any.
func fanOut(rd io.Reader, ws []*io.PipeWriter) error {
	active := make([]bool, len(ws))
	for i := range active {
		active[i] = true
	}
	nactive := len(ws)
	buf := make([]byte, 32<<10)
	for nactive > 0 {
		n, err := rd.Read(buf)
		if n > 0 {
			for i, w := range ws {
				if active[i] {
					if _, werr := w.Write(buf[:n]); werr != nil {
						// The only error is errSideDone: that
						// registry's PushBlob has returned.
						active[i] = false
						nactive--
					}
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// PushBlobChunked starts an upload in both registries. The returned
// BlobWriter writes to both; its ID names both uploads, so that
// PushBlobChunkedResume resumes both. It fails when either registry
// cannot start the upload, after cancelling the other's.
func (u *unifier) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	w0, w1, err0, err1 := both(u, func(r ociregistry.Interface) (ociregistry.BlobWriter, error) {
		return r.PushBlobChunked(ctx, repo, chunkSize)
	})
	if err0 != nil || err1 != nil {
		if err0 == nil {
			w0.Cancel()
		}
		if err1 == nil {
			w1.Cancel()
		}
		return joinWrite[ociregistry.BlobWriter](nil, err0, err1)
	}
	return &blobWriter{u: u, w: [2]ociregistry.BlobWriter{w0, w1}}, nil
}

// PushBlobChunkedResume resumes both uploads that id names. It answers
// an error that Is ociregistry.ErrBlobUploadUnknown when id is not one
// that this registry handed out, or the errors of the registries that
// could not resume their upload; the other's is then closed, still
// resumable. When the two uploads hold different amounts of content,
// it closes both and answers an error that Is ErrInconsistent.
func (u *unifier) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return nil, err
	}
	ids, ok := decodeID(id)
	if !ok {
		return nil, fmt.Errorf("upload %q: %w", id, ociregistry.ErrBlobUploadUnknown)
	}
	var ws [2]ociregistry.BlobWriter
	var errs [2]error
	done := make(chan struct{})
	go func() {
		ws[1], errs[1] = u.r1.PushBlobChunkedResume(ctx, repo, ids[1], offset, chunkSize)
		close(done)
	}()
	ws[0], errs[0] = u.r0.PushBlobChunkedResume(ctx, repo, ids[0], offset, chunkSize)
	<-done
	if errs[0] != nil || errs[1] != nil {
		for i, w := range ws {
			if errs[i] == nil {
				w.Close()
			}
		}
		return joinWrite[ociregistry.BlobWriter](nil, errs[0], errs[1])
	}
	if s0, s1 := ws[0].Size(), ws[1].Size(); s0 != s1 {
		ws[0].Close()
		ws[1].Close()
		return nil, fmt.Errorf("upload %q holds %d bytes in r0 but %d in r1: %w", id, s0, s1, ErrInconsistent)
	}
	return &blobWriter{u: u, w: ws}, nil
}

// encodeID returns the ID of a unified upload, made of the IDs of the
// uploads in each registry. Each is base64-encoded so that neither can
// contain the separator, and the result is safe in a URL path.
func encodeID(id0, id1 string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id0)) + "." + base64.RawURLEncoding.EncodeToString([]byte(id1))
}

// decodeID returns the IDs that encodeID combined, and whether id is
// well formed.
func decodeID(id string) ([2]string, bool) {
	s0, s1, ok := strings.Cut(id, ".")
	if !ok {
		return [2]string{}, false
	}
	b0, err0 := base64.RawURLEncoding.DecodeString(s0)
	b1, err1 := base64.RawURLEncoding.DecodeString(s1)
	if err0 != nil || err1 != nil || len(b0) == 0 || len(b1) == 0 {
		return [2]string{}, false
	}
	return [2]string{string(b0), string(b1)}, true
}

// blobWriter writes an upload to both registries.
type blobWriter struct {
	u *unifier
	w [2]ociregistry.BlobWriter
}

// each calls f for both writers concurrently and returns their errors.
func (w *blobWriter) each(f func(i int, bw ociregistry.BlobWriter) error) (err0, err1 error) {
	done := make(chan struct{})
	go func() {
		err1 = f(1, w.w[1])
		close(done)
	}()
	err0 = f(0, w.w[0])
	<-done
	return err0, err1
}

func (w *blobWriter) Write(p []byte) (int, error) {
	err0, err1 := w.each(func(_ int, bw ociregistry.BlobWriter) error {
		n, err := bw.Write(p)
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
		return err
	})
	if _, err := joinWrite(0, err0, err1); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *blobWriter) Size() int64 { return w.w[0].Size() }

func (w *blobWriter) ChunkSize() int { return w.w[0].ChunkSize() }

func (w *blobWriter) ID() string { return encodeID(w.w[0].ID(), w.w[1].ID()) }

func (w *blobWriter) Close() error {
	_, err := joinWrite(0, w.w[0].Close(), w.w[1].Close())
	return err
}

func (w *blobWriter) Commit(dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	var desc ociregistry.Descriptor
	err0, err1 := w.each(func(i int, bw ociregistry.BlobWriter) error {
		d, err := bw.Commit(dg)
		if i == 0 {
			desc = d
		}
		return err
	})
	return joinWrite(desc, err0, err1)
}

func (w *blobWriter) Cancel() error {
	_, err := joinWrite(0, w.w[0].Cancel(), w.w[1].Cancel())
	return err
}

// MountBlob mounts the blob in both registries at once. It fails when
// either mount fails, with the errors of those that failed.
func (u *unifier) MountBlob(ctx context.Context, fromRepo, toRepo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	d0, _, err0, err1 := both(u, func(r ociregistry.Interface) (ociregistry.Descriptor, error) {
		return r.MountBlob(ctx, fromRepo, toRepo, dg)
	})
	return joinWrite(d0, err0, err1)
}

// PushManifest pushes the manifest to both registries at once and
// returns the descriptor from r0. It fails when either push fails, with
// the errors of those that failed.
func (u *unifier) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	d0, _, err0, err1 := both(u, func(r ociregistry.Interface) (ociregistry.Descriptor, error) {
		return r.PushManifest(ctx, repo, tag, contents, mediaType)
	})
	return joinWrite(d0, err0, err1)
}
