package ociproxy

import (
	"context"
	"sync"
)

// group shares the result of a call among the callers that ask for the
// same key while it runs.
type group[T any] struct {
	mu sync.Mutex
	m  map[string]*call[T]
}

// call is one call of a group under way or just ended.
type call[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// do calls fn, unless a call for key is under way, in which case it
// waits for that call's result. Should that call fail because its
// caller's context ended, do calls fn itself.
func (g *group[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	for {
		g.mu.Lock()
		if g.m == nil {
			g.m = make(map[string]*call[T])
		}
		c, ok := g.m[key]
		if !ok {
			c = &call[T]{done: make(chan struct{})}
			g.m[key] = c
			g.mu.Unlock()
			c.val, c.err = fn()
			g.mu.Lock()
			delete(g.m, key)
			g.mu.Unlock()
			close(c.done)
			return c.val, c.err
		}
		g.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
		// The call's own client went away: try again. (A call whose
		// upstream did not answer in time failed for everyone.)
		if c.err != nil && isContextErr(c.err) && !isUpstreamFailure(c.err) && ctx.Err() == nil {
			continue
		}
		return c.val, c.err
	}
}
