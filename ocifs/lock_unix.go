//go:build unix

package ocifs

import (
	"os"
	"sync"
	"syscall"
)

// sharedLock is a shared flock on a file, taken by any number of
// goroutines at once: the first takes the flock and the last releases
// it, since a flock belongs to the open file, not to a goroutine. The
// garbage collector takes the exclusive flock through another open file,
// which conflicts with this one even within one process.
type sharedLock struct {
	path string

	mu sync.Mutex
	n  int
	f  *os.File
}

func newSharedLock(path string) *sharedLock {
	return &sharedLock{path: path}
}

// acquire takes the shared lock, waiting while the garbage collector
// holds the exclusive one.
func (l *sharedLock) acquire() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		if l.f == nil {
			f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o666)
			if err != nil {
				return err
			}
			l.f = f
		}
		if err := flock(l.f, syscall.LOCK_SH); err != nil {
			return err
		}
	}
	l.n++
	return nil
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

// lockExclusive takes the exclusive lock on path and returns the function
// that releases it.
func lockExclusive(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	if err := flock(f, syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		flock(f, syscall.LOCK_UN)
		f.Close()
	}, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
