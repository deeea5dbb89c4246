//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockOutbox takes the outbox folder dir for this process, with an
// exclusive flock on dir/.lock that lasts until the returned file is
// closed: two servers on one outbox would number their events alike and
// overwrite each other's.
func lockOutbox(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("events: outbox %s is used by another process; each server needs an outbox of its own", dir)
		}
		return nil, fmt.Errorf("events: locking %s: %w", dir, err)
	}
	return f, nil
}
