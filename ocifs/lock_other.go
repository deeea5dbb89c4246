//go:build !unix

package ocifs

// sharedLock does nothing where there is no flock: the garbage collector
// then relies on its grace period alone.
type sharedLock struct{}

func newSharedLock(path string) *sharedLock { return &sharedLock{} }

func (l *sharedLock) acquire() error { return nil }

func (l *sharedLock) release() {}

func lockExclusive(path string) (func(), error) { return func() {}, nil }
