package ocifs

import (
	"context"
	"io"
	"time"
)

// SetWrapWriter makes r write all file content through wrap, so that
// tests can make writes fail as on a full disk.
func SetWrapWriter(r *Registry, wrap func(io.Writer) io.Writer) {
	r.wrapWriter = wrap
}

// SetFault makes r call fault before every fsync, close and rename of a
// push, and fail the operation with its error when not nil.
func SetFault(r *Registry, fault func(op, path string) error) {
	r.fault = fault
}

// UploadStates returns how many uploads r keeps the hash state of.
func UploadStates(r *Registry) int {
	r.uploadsMu.Lock()
	defer r.uploadsMu.Unlock()
	return len(r.uploads)
}

// CleanStale removes the uploads that are stale at now.
func CleanStale(r *Registry, now time.Time) { r.cleanStale(now) }

// SetMaxUploadStates sets the bound of the upload states kept, until the
// test ends.
func SetMaxUploadStates(t interface{ Cleanup(func()) }, n int) {
	old := maxUploadStates
	maxUploadStates = n
	t.Cleanup(func() { maxUploadStates = old })
}

// LockRepo takes r's lock of repo, as a push into it does.
func LockRepo(ctx context.Context, r *Registry, repo string) (func(), error) {
	return r.lockRepo(ctx, repo)
}

// LockGC takes the garbage collector's exclusive lock on the registry in
// dir.
func LockGC(ctx context.Context, dir string) (func(), error) {
	return lockExclusive(ctx, dir)
}

// SetGCHook makes the garbage collector that r.GC runs call hook each
// time it releases its exclusive lock.
func SetGCHook(r *Registry, hook func()) {
	r.gcHook = hook
}

// ClockSlack is how long after a file changes its content may be cached.
const ClockSlack = clockSlack
