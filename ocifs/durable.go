package ocifs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// mkdirAll is os.MkdirAll that also fsyncs the parent of every directory
// it creates, so that a new directory survives a crash as well as the
// files later renamed into it.
func mkdirAll(fs fsys, path string) error {
	err := fs.mkdir(path)
	switch {
	case err == nil:
		return fs.syncDir(filepath.Dir(path))
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
		if err := mkdirAll(fs, parent); err != nil {
			return err
		}
		return mkdirAll(fs, path)
	}
	return err
}

// tempFile creates a file in tmp/, where nothing is ever served from.
func (r *Registry) tempFile() (file, error) {
	f, err := r.fs.createTemp(filepath.Join(r.dir, "tmp"), "w-")
	if err != nil && isNotExist(err) {
		// Someone removed tmp/; make it again.
		if err := mkdirAll(r.fs, filepath.Join(r.dir, "tmp")); err != nil {
			return nil, err
		}
		f, err = r.fs.createTemp(filepath.Join(r.dir, "tmp"), "w-")
	}
	return f, err
}

// writer returns the writer through which content goes to f, which is
// at offset off.
func (r *Registry) writer(f file, off int64) io.Writer {
	w := &writebackWriter{f: f, off: off}
	w.osFile, _ = f.(*os.File)
	if r.wrapWriter != nil {
		return r.wrapWriter(w)
	}
	return w
}

// writebackWriter writes to a file so that the fsync that must come
// before the file is renamed into place has little left to do: big
// aligned writes go straight to the device (see writeDirect), and other
// big writes have the kernel start writing them to disk at once, so that
// writeback overlaps with the rest of the push.
type writebackWriter struct {
	f file
	// osFile is f when it is an *os.File, which can be written with
	// direct I/O and whose writeback can be started.
	osFile *os.File
	off    int64
	// noDirect is set once the file system refused direct I/O.
	noDirect bool
}

// writebackMin is the smallest write worth writing directly or starting
// writeback for.
const writebackMin = 256 << 10

func (w *writebackWriter) Write(p []byte) (int, error) {
	if len(p) >= writebackMin && w.osFile != nil && !w.noDirect {
		n, done, err := writeDirect(w.osFile, p, w.off)
		if done {
			w.off += int64(n)
			return n, err
		}
		w.noDirect = err == errNoDirect
	}
	n, err := w.f.Write(p)
	if n >= writebackMin && w.osFile != nil {
		startWriteback(w.osFile, w.off, int64(n))
	}
	w.off += int64(n)
	return n, err
}

// discard closes and removes a temporary file that will not be used.
func (r *Registry) discard(f file) {
	f.Close()
	r.fs.remove(f.Name())
}

// install makes the temporary file f durable and renames it to dest,
// creating dest's directory when needed. It closes f; on failure f is
// removed.
func (r *Registry) install(f file, dest string) error {
	if err := r.syncFile(f); err != nil {
		r.discard(f)
		return err
	}
	if err := r.closeFile(f); err != nil {
		r.fs.remove(f.Name())
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
func (r *Registry) syncFile(f file) error {
	if err := r.injected("fsync", f.Name()); err != nil {
		return err
	}
	return f.Sync()
}

// closeFile closes f. An injected failure still closes it, as a failed
// close does.
func (r *Registry) closeFile(f file) error {
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
		err = r.fs.rename(src, dest)
		if err != nil && isNotExist(err) {
			if err = mkdirAll(r.fs, dir); err == nil {
				err = r.fs.rename(src, dest)
			}
		}
	}
	if err != nil {
		r.fs.remove(src)
		return err
	}
	if err := r.injected("syncdir", dir); err != nil {
		return err
	}
	return r.fs.syncDir(dir)
}

// writeFileAtomic writes data to dest so that dest is either absent, as
// it was, or complete: never partial.
func (r *Registry) writeFileAtomic(dest string, data []byte) error {
	f, err := r.tempFile()
	if err != nil {
		return err
	}
	if _, err := r.writer(f, 0).Write(data); err != nil {
		r.discard(f)
		return err
	}
	return r.install(f, dest)
}

// removeDurable removes a file and fsyncs its directory. It returns an
// error that Is os.ErrNotExist when there was no file.
func (r *Registry) removeDurable(path string) error {
	if err := r.fs.remove(path); err != nil {
		return err
	}
	return r.fs.syncDir(filepath.Dir(path))
}

// touch sets a file's modification time to now. The garbage collector
// keeps blobs modified within its grace period, so a blob is touched
// whenever a new link to it is made.
func (r *Registry) touch(path string) error {
	return r.fs.chtimes(path, time.Now())
}
