// Package repolock holds locks by repository name, whose waiting ends
// with the waiter's context.
package repolock

import (
	"context"
	"sync"
)

// Locks holds one lock per repository, each made when first wanted and
// dropped once nobody holds or waits for it, so that the map holds only
// the repositories in use. Waiting for a lock ends with the caller's
// context, unlike waiting for a sync.Mutex. The zero value is ready.
type Locks struct {
	mu sync.Mutex
	m  map[string]*repoLock
}

// repoLock is the lock of one repository: a semaphore of one, held by
// whoever sent to sem.
type repoLock struct {
	sem chan struct{}
	// users counts those that hold or wait for the lock; it is guarded
	// by repoLocks.mu.
	users int
}

// Lock takes the lock of repo, waiting for it no longer than ctx lasts.
// It returns ctx's error when ctx ends first; otherwise the caller
// calls the returned function to release the lock.
func (l *Locks) Lock(ctx context.Context, repo string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*repoLock)
	}
	rl := l.m[repo]
	if rl == nil {
		rl = &repoLock{sem: make(chan struct{}, 1)}
		l.m[repo] = rl
	}
	rl.users++
	l.mu.Unlock()

	select {
	case rl.sem <- struct{}{}:
		return func() {
			<-rl.sem
			l.release(repo, rl)
		}, nil
	case <-ctx.Done():
		l.release(repo, rl)
		return nil, ctx.Err()
	}
}

// release records that one user of rl is done with it, and drops rl
// once it has none.
func (l *Locks) release(repo string, rl *repoLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rl.users--
	if rl.users == 0 {
		delete(l.m, repo)
	}
}

// Size returns how many repositories have a lock; tests check that
// locks do not pile up.
func (l *Locks) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
