package ocifs

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// failFS is the operating system's fsys, but for the removes and
// directory fsyncs that fail says fail.
type failFS struct {
	osFS
	fail func(op, path string) error
}

func (f *failFS) remove(name string) error {
	if err := f.fail("remove", name); err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return f.osFS.remove(name)
}

func (f *failFS) syncDir(dir string) error {
	if err := f.fail("syncdir", dir); err != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return f.osFS.syncDir(dir)
}

// TestGCReportsErrors makes the garbage collector's removes and fsyncs
// fail: it must say so, and keep content whose link's removal it could
// not make durable, since a crash could bring the link back.
func TestGCReportsErrors(t *testing.T) {
	tests := []struct {
		name string
		// fail says which operation fails, given the two stray
		// blobs' digests.
		fail func(op, path string, d1, d2 ociregistry.Digest) bool
		// kept says which of the two blobs' content must stay.
		kept1, kept2 bool
	}{{
		name: "RemoveContent",
		fail: func(op, path string, d1, d2 ociregistry.Digest) bool {
			return op == "remove" && strings.HasSuffix(path, filepath.Join("blobs", "sha256", d1.Encoded()))
		},
		kept1: true,
	}, {
		name: "SyncLinkDir",
		fail: func(op, path string, d1, d2 ociregistry.Digest) bool {
			return op == "syncdir" && strings.HasSuffix(path, filepath.Join("repos", "a", "_blobs", "sha256"))
		},
		kept1: true,
	}, {
		name: "SyncBlobDir",
		fail: func(op, path string, d1, d2 ociregistry.Digest) bool {
			return op == "syncdir" && strings.HasSuffix(path, string(filepath.Separator)+filepath.Join("blobs", "sha256"))
		},
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			ffs := &failFS{fail: func(op, path string) error { return nil }}
			r, err := newRegistry(dir, nil, ffs)
			qt.Assert(t, qt.IsNil(err))
			d1 := pushTestBlob(t, r, "a", "stray in a")
			d2 := pushTestBlob(t, r, "b", "stray in b")
			old := time.Now().Add(-3 * time.Hour)
			filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err == nil {
					os.Chtimes(path, old, old)
				}
				return nil
			})
			ffs.fail = func(op, path string) error {
				if test.fail(op, path, d1, d2) {
					return syscall.EIO
				}
				return nil
			}
			_, err = r.GC(ctx, GCOptions{})
			qt.Assert(t, qt.ErrorIs(err, syscall.EIO))
			for _, b := range []struct {
				d    ociregistry.Digest
				kept bool
			}{{d1, test.kept1}, {d2, test.kept2}} {
				_, err := os.Stat(filepath.Join(dir, "blobs", "sha256", b.d.Encoded()))
				qt.Assert(t, qt.Equals(err == nil, b.kept), qt.Commentf("blob %s", b.d))
			}
			qt.Assert(t, qt.IsNil(Check(ctx, dir)))
		})
	}
}

func pushTestBlob(t *testing.T, r *Registry, repo, content string) ociregistry.Digest {
	data := []byte(content)
	d := digest.FromBytes(data)
	_, err := r.PushBlob(context.Background(), repo, ociregistry.Descriptor{Digest: d, Size: int64(len(data))}, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	return d
}
