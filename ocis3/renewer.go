package ocis3

import (
	"context"
	"sync"
	"time"
)

// renewer keeps an object that announces work in progress (a
// collection's fence, a deletion's marker) fresh from a goroutine of its
// own, so that a long listing or a slow request of the work does not let
// it go stale, while a replica that dies, or stops, stops renewing it.
type renewer struct {
	mu      sync.Mutex
	renewed time.Time // of the last renewal that succeeded
	stop    chan struct{}
	done    chan struct{}
}

// startRenewer calls renew every period until halt is called or ctx is
// done; the object was written just before.
func startRenewer(ctx context.Context, period time.Duration, renew func(context.Context) error) *renewer {
	rn := &renewer{renewed: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(rn.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-rn.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := renew(ctx); err == nil {
				rn.mu.Lock()
				rn.renewed = time.Now()
				rn.mu.Unlock()
			}
		}
	}()
	return rn
}

// freshWithin reports whether the object was last written within d: the
// work may go on only while others still see it announced.
func (rn *renewer) freshWithin(d time.Duration) bool {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return time.Since(rn.renewed) < d
}

// halt stops the renewals and waits for the goroutine to end.
func (rn *renewer) halt() {
	close(rn.stop)
	<-rn.done
}
