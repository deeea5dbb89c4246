//go:build unix

package ocifs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The garbage collector and the pushes of every Registry on a directory
// meet at two flocks in it. A push holds gc.lock shared while it makes
// links; the collector holds it exclusively, for short spans, while it
// removes what it found unreferenced. So that pushes, which overlap one
// another, cannot keep the collector out for ever, the collector first
// takes gc.gate exclusively, and a push waits while anyone holds the
// gate before it takes gc.lock: pushes in flight finish, new ones wait
// for the span to end.

// sharedLock is the shared flock on gc.lock, taken by any number of
// goroutines at once: the first takes the flock and the last releases
// it, since a flock belongs to the open file, not to a goroutine. The
// garbage collector takes the exclusive flock through another open file,
// which conflicts with this one even within one process.
type sharedLock struct {
	root string

	mu   sync.Mutex
	n    int
	f    *os.File
	gate *os.File
}

func newSharedLock(root string) *sharedLock {
	return &sharedLock{root: root}
}

// acquire takes the shared lock, waiting while the garbage collector
// holds or wants the exclusive one. Its mutex is never held while it
// waits. It returns ctx's error when ctx is done first.
func (l *sharedLock) acquire(ctx context.Context) error {
	var delay time.Duration
	for {
		ok, err := l.tryAcquire()
		if ok || err != nil {
			return err
		}
		if err := pause(ctx, &delay); err != nil {
			return err
		}
	}
}

// tryAcquire takes the shared lock if it can at once.
func (l *sharedLock) tryAcquire() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		gate, err := openLockFile(filepath.Join(l.root, "gc.gate"))
		if err != nil {
			return false, err
		}
		f, err := openLockFile(filepath.Join(l.root, "gc.lock"))
		if err != nil {
			gate.Close()
			return false, err
		}
		l.gate, l.f = gate, f
	}
	// Only a collector holds the gate exclusively; probing it with a
	// shared flock tells whether one does. The probe is released at
	// once, and goroutines probing together through the one open file
	// share the flock, so it never keeps a collector waiting long.
	if err := flock(l.gate, syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return false, wouldBlock(err)
	}
	flock(l.gate, syscall.LOCK_UN)
	if l.n > 0 {
		l.n++
		return true, nil
	}
	if err := flock(l.f, syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return false, wouldBlock(err)
	}
	l.n = 1
	return true, nil
}

// release releases what acquire took.
func (l *sharedLock) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
	if l.n == 0 {
		flock(l.f, syscall.LOCK_UN)
	}
}

// lockExclusive takes the garbage collector's exclusive lock on the
// registry at root and returns the function that releases it. It
// returns ctx's error when ctx is done first.
func lockExclusive(ctx context.Context, root string) (func(), error) {
	unlockGate, err := lockFile(ctx, filepath.Join(root, "gc.gate"))
	if err != nil {
		return nil, err
	}
	unlock, err := lockFile(ctx, filepath.Join(root, "gc.lock"))
	if err != nil {
		unlockGate()
		return nil, err
	}
	return func() {
		unlock()
		unlockGate()
	}, nil
}

// lockFile takes an exclusive flock on the file at path, creating it
// (and its directory) when needed, and returns the function that
// releases it. It returns ctx's error when ctx is done first.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	return lockOpen(ctx, f)
}

// lockExisting takes an exclusive flock on the file at path, which must
// exist (it is not created), waiting while another holds it, and returns
// the function that releases it. It returns the error of opening the
// file, which satisfies notFound when there is none, and ctx's error when
// ctx is done first.
func lockExisting(ctx context.Context, path string) (func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return lockOpen(ctx, f)
}

// lockOpen takes an exclusive flock on f, polling while another holds
// it (a blocking flock could not be interrupted when ctx ends), and
// returns the function that releases it and closes f. f is closed when
// it fails.
func lockOpen(ctx context.Context, f *os.File) (func(), error) {
	var delay time.Duration
	for {
		err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err := wouldBlock(err); err != nil {
			f.Close()
			return nil, err
		}
		if err := pause(ctx, &delay); err != nil {
			f.Close()
			return nil, err
		}
	}
	return func() {
		flock(f, syscall.LOCK_UN)
		f.Close()
	}, nil
}

// openLockFile opens a lock file, creating it and its directory when
// needed. Lock files hold nothing, so nothing about them is fsynced.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil && isNotExist(err) {
		if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	}
	return f, err
}

// wouldBlock returns nil for the error of a flock that would have had to
// wait, and err otherwise.
func wouldBlock(err error) error {
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil
	}
	return err
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
