package ocifs

import (
	"context"
	"sync"
	"time"
)

// keyedLocks are mutexes by name, made when first locked and dropped
// when nobody holds or waits for them, so that they cost memory only
// for the names in use. Waiting for one stops when the context is done.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	// held holds a token while the lock is held.
	held chan struct{}
	// refs counts those holding or waiting; guarded by keyedLocks.mu.
	refs int
}

// lock locks the lock of key and returns the function that unlocks it.
// It returns ctx's error when ctx is done first.
func (k *keyedLocks) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedLock)
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{held: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	select {
	case l.held <- struct{}{}:
	case <-ctx.Done():
		k.drop(key, l)
		return nil, ctx.Err()
	}
	return func() {
		<-l.held
		k.drop(key, l)
	}, nil
}

func (k *keyedLocks) drop(key string, l *keyedLock) {
	k.mu.Lock()
	l.refs--
	if l.refs == 0 {
		delete(k.m, key)
	}
	k.mu.Unlock()
}

// Waiting for a flock held in another process (or through another open
// file) polls, since flock cannot be interrupted by a context: first
// after minPoll, then at ever longer intervals up to maxPoll.
const (
	minPoll = 500 * time.Microsecond
	maxPoll = 20 * time.Millisecond
)

// pause waits *delay, or until ctx is done, and doubles *delay up to
// maxPoll. It returns ctx's error when ctx is done.
func pause(ctx context.Context, delay *time.Duration) error {
	if *delay == 0 {
		*delay = minPoll
	}
	t := time.NewTimer(*delay)
	defer t.Stop()
	*delay = min(*delay*2, maxPoll)
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
