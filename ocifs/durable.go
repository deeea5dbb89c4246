package ocifs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// mkdirAll is os.MkdirAll that also fsyncs the parent of every directory
// it creates, so that a new directory survives a crash as well as the
// files later renamed into it.
func mkdirAll(path string) error {
	err := os.Mkdir(path, 0o777)
	switch {
	case err == nil:
		return syncDir(filepath.Dir(path))
	case errors.Is(err, os.ErrExist):
		fi, serr := os.Stat(path)
		if serr != nil {
			return serr
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", path)
		}
		return nil
	case errors.Is(err, os.ErrNotExist):
		parent := filepath.Dir(path)
		if parent == path {
			return err
		}
		if err := mkdirAll(parent); err != nil {
			return err
		}
		return mkdirAll(path)
	}
	return err
}

// syncDir fsyncs a directory, making the entries renamed into it or
// removed from it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems cannot fsync a directory; their renames are
	// as durable as they get.
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// tempFile creates a file in tmp/, where nothing is ever served from.
func (r *Registry) tempFile() (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(r.dir, "tmp"), "w-")
	if err != nil && isNotExist(err) {
		// Someone removed tmp/; make it again.
		if err := mkdirAll(filepath.Join(r.dir, "tmp")); err != nil {
			return nil, err
		}
		f, err = os.CreateTemp(filepath.Join(r.dir, "tmp"), "w-")
	}
	return f, err
}

// writer returns the writer through which content goes to f, which is
// at offset off.
func (r *Registry) writer(f *os.File, off int64) io.Writer {
	var w io.Writer = &writebackWriter{f: f, off: off}
	if r.wrapWriter != nil {
		w = r.wrapWriter(w)
	}
	return w
}

// writebackWriter writes to a file and has the kernel start writing each
// big write to disk at once: the fsync that must come before the file is
// renamed into place then overlaps with the rest of the push.
type writebackWriter struct {
	f   *os.File
	off int64
}

// writebackMin is the smallest write worth starting writeback for.
const writebackMin = 256 << 10

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if n >= writebackMin {
		startWriteback(w.f, w.off, int64(n))
	}
	w.off += int64(n)
	return n, err
}

// discard closes and removes a temporary file that will not be used.
func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// install makes the temporary file f durable and renames it to dest,
// creating dest's directory when needed. It closes f; on failure f is
// removed.
func (r *Registry) install(f *os.File, dest string) error {
	if err := r.syncFile(f); err != nil {
		discard(f)
		return err
	}
	if err := r.closeFile(f); err != nil {
		os.Remove(f.Name())
		return err
	}
	return r.renameDurable(f.Name(), dest)
}

// injected returns the error that r.fault makes op on path fail with, if
// any.
func (r *Registry) injected(op, path string) error {
	if r.fault == nil {
		return nil
	}
	if err := r.fault(op, path); err != nil {
		return &os.PathError{Op: op, Path: path, Err: err}
	}
	return nil
}

// syncFile fsyncs f.
func (r *Registry) syncFile(f *os.File) error {
	if err := r.injected("fsync", f.Name()); err != nil {
		return err
	}
	return f.Sync()
}

// closeFile closes f. An injected failure still closes it, as a failed
// close does.
func (r *Registry) closeFile(f *os.File) error {
	err := f.Close()
	if ierr := r.injected("close", f.Name()); ierr != nil {
		return ierr
	}
	return err
}

// renameDurable renames src to dest, creating dest's directory when
// needed, and fsyncs dest's directory. On failure src is removed.
func (r *Registry) renameDurable(src, dest string) error {
	dir := filepath.Dir(dest)
	err := r.injected("rename", dest)
	if err == nil {
		err = os.Rename(src, dest)
		if err != nil && isNotExist(err) {
			if err = mkdirAll(dir); err == nil {
				err = os.Rename(src, dest)
			}
		}
	}
	if err != nil {
		os.Remove(src)
		return err
	}
	if err := r.injected("syncdir", dir); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeFileAtomic writes data to dest so that dest is either absent, as
// it was, or complete: never partial.
func (r *Registry) writeFileAtomic(dest string, data []byte) error {
	f, err := r.tempFile()
	if err != nil {
		return err
	}
	if _, err := r.writer(f, 0).Write(data); err != nil {
		discard(f)
		return err
	}
	return r.install(f, dest)
}

// removeDurable removes a file and fsyncs its directory. It returns an
// error that Is os.ErrNotExist when there was no file.
func removeDurable(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// touch sets a file's modification time to now. The garbage collector
// keeps blobs modified within its grace period, so a blob is touched
// whenever a new link to it is made.
func touch(path string) error {
	now := time.Now()
	return os.Chtimes(path, now, now)
}
