package ocifs

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// fsys holds the operations with which a Registry and the garbage
// collector change the registry's directory. Reading goes to the os
// package directly. Everything that changes what survives a power cut
// goes through fsys, so that a test can stand in a file system that
// keeps what was not yet fsynced apart and drops it at a simulated
// power cut (see powerloss_test.go).
type fsys interface {
	// createTemp is os.CreateTemp.
	createTemp(dir, pattern string) (file, error)
	// openFile is os.OpenFile.
	openFile(name string, flag int, perm os.FileMode) (file, error)
	// mkdir is os.Mkdir with permission 0o777.
	mkdir(name string) error
	// rename is os.Rename.
	rename(oldpath, newpath string) error
	// remove is os.Remove.
	remove(name string) error
	// removeAll is os.RemoveAll.
	removeAll(name string) error
	// syncDir fsyncs a directory, making the entries created in it,
	// renamed into it or removed from it durable.
	syncDir(dir string) error
	// chtimes sets a file's access and modification times to t.
	chtimes(name string, t time.Time) error
}

// file is an open file of an fsys. An *os.File is one.
type file interface {
	io.Writer
	io.ReaderAt
	Sync() error
	Close() error
	Name() string
	Stat() (os.FileInfo, error)
}

// osFS is the fsys of the operating system.
type osFS struct{}

func (osFS) createTemp(dir, pattern string) (file, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		// A nil *os.File in a file interface would not be nil.
		return nil, err
	}
	return f, nil
}

func (osFS) openFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) mkdir(name string) error { return os.Mkdir(name, 0o777) }

func (osFS) rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) remove(name string) error { return os.Remove(name) }

func (osFS) removeAll(name string) error { return os.RemoveAll(name) }

func (osFS) chtimes(name string, t time.Time) error { return os.Chtimes(name, t, t) }

func (osFS) syncDir(dir string) error {
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
