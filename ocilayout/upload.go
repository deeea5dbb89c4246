package ocilayout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ocireg/ociregistry"
)

// uploadsDir is the directory, in the layout's, of the uploads in
// chunks under way. It is not part of the image layout specification;
// tools that read layouts look only at oci-layout, index.json and blobs/.
const uploadsDir = ".ocilayout-uploads"

// defaultChunkSize is the chunk size a BlobWriter asks for when its
// caller gives none.
const defaultChunkSize = 1 << 20

// PushBlobChunked starts an upload in chunks: the BlobWriter appends to a
// file under .ocilayout-uploads, which Commit checks and moves into
// blobs/. An upload that is closed stays there to be resumed by its ID
// until Commit or Cancel; nothing removes abandoned uploads. It returns an
// error that Is ociregistry.ErrNameInvalid for an invalid repository
// name, and the file system's error when the upload's file cannot be
// made.
func (l *Layout) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	dir := filepath.Join(l.dir, uploadsDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("ocilayout: %w", err)
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	f, err := os.OpenFile(filepath.Join(dir, id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return nil, fmt.Errorf("ocilayout: %w", err)
	}
	return &uploadWriter{l: l, id: id, f: f, chunkSize: chunkSize}, nil
}

// PushBlobChunkedResume resumes the upload with the given ID at offset,
// or where it is when offset is negative. It returns an error that Is
// ociregistry.ErrBlobUploadUnknown when there is no such upload, and
// ociregistry.ErrRangeInvalid when offset is not the upload's size.
func (l *Layout) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if err := checkRepo(repo); err != nil {
		return nil, err
	}
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		return nil, fmt.Errorf("upload %q: %w", id, ociregistry.ErrBlobUploadUnknown)
	}
	f, err := os.OpenFile(filepath.Join(l.dir, uploadsDir, id), os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("upload %q: %w", id, ociregistry.ErrBlobUploadUnknown)
	}
	if err != nil {
		return nil, fmt.Errorf("ocilayout: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ocilayout: %w", err)
	}
	if offset >= 0 && offset != fi.Size() {
		f.Close()
		return nil, fmt.Errorf("upload %q has %d bytes, not %d: %w", id, fi.Size(), offset, ociregistry.ErrRangeInvalid)
	}
	return &uploadWriter{l: l, id: id, f: f, size: fi.Size(), chunkSize: chunkSize}, nil
}

// uploadWriter is the BlobWriter of an upload in chunks. Like any
// BlobWriter, it is for one goroutine at a time.
type uploadWriter struct {
	l         *Layout
	id        string
	f         *os.File // nil once closed
	size      int64
	chunkSize int
	// ended is set by Commit and Cancel.
	ended bool
}

var errUploadEnded = errors.New("ocilayout: upload closed, committed or cancelled")

func (w *uploadWriter) path() string { return filepath.Join(w.l.dir, uploadsDir, w.id) }

// Write appends p to the upload.
func (w *uploadWriter) Write(p []byte) (int, error) {
	if w.f == nil {
		return 0, errUploadEnded
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("ocilayout: %w", err)
	}
	return n, nil
}

// Close closes the writer and keeps the upload, to be resumed by ID.
func (w *uploadWriter) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("ocilayout: %w", err)
	}
	return nil
}

// Size returns the number of bytes in the upload.
func (w *uploadWriter) Size() int64 { return w.size }

// ChunkSize returns the chunk size asked for, or 1 MiB.
func (w *uploadWriter) ChunkSize() int {
	if w.chunkSize > 0 {
		return w.chunkSize
	}
	return defaultChunkSize
}

// ID returns the upload's ID.
func (w *uploadWriter) ID() string { return w.id }

// Commit checks the upload's content against dig and moves it into
// blobs/. It returns an error that Is ociregistry.ErrDigestInvalid when
// the content does not match, and the upload stays, to be cancelled.
func (w *uploadWriter) Commit(dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	if w.ended {
		return ociregistry.Descriptor{}, errUploadEnded
	}
	if err := ociregistry.CheckDigest(dig); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := w.Close(); err != nil {
		return ociregistry.Descriptor{}, err
	}
	f, err := os.Open(w.path())
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocilayout: %w", err)
	}
	v := dig.Verifier()
	_, err = io.Copy(v, f)
	f.Close()
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocilayout: %w", err)
	}
	if !v.Verified() {
		return ociregistry.Descriptor{}, fmt.Errorf("upload %q: content does not match digest %s: %w", w.id, dig, ociregistry.ErrDigestInvalid)
	}
	dst := w.l.blobPath(dig)
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocilayout: %w", err)
	}
	if err := os.Rename(w.path(), dst); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("ocilayout: %w", err)
	}
	w.ended = true
	return ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: dig, Size: w.size}, nil
}

// Cancel removes the upload. After Commit it does nothing.
func (w *uploadWriter) Cancel() error {
	if w.ended {
		return nil
	}
	w.Close()
	w.ended = true
	if err := os.Remove(w.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ocilayout: %w", err)
	}
	return nil
}
