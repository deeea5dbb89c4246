//go:build !unix

package ocifs

import (
	"context"
	"os"
)

// Where there is no flock, Registry values lock each other out only
// within one process, and the garbage collector relies on its grace
// period alone.

type sharedLock struct{}

func newSharedLock(root string) *sharedLock { return &sharedLock{} }

func (l *sharedLock) acquire(ctx context.Context) error { return nil }

func (l *sharedLock) release() {}

func lockExclusive(ctx context.Context, root string) (func(), error) { return func() {}, nil }

func lockFile(ctx context.Context, path string) (func(), error) { return func() {}, nil }

func lockExisting(ctx context.Context, path string) (func(), error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return func() {}, nil
}
