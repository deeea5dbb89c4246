package ocis3

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// gcState is what gc/state says: whether a collection runs, and until
// when its lease holds should it die.
type gcState struct {
	etag    string // empty when there has never been a collection
	running bool
	expires time.Time
}

// live reports whether a collection holds the fence now.
func (g gcState) live(now time.Time) bool {
	return g.running && now.Before(g.expires)
}

// readGCState reads gc/state with one HEAD.
func (r *Registry) readGCState(ctx context.Context) (gcState, error) {
	obj, err := r.head(ctx, r.gcStateKey())
	if err != nil {
		if isNotFound(err) {
			return gcState{}, nil
		}
		return gcState{}, fmt.Errorf("ocis3: reading gc/state: %w", err)
	}
	g := gcState{etag: obj.etag, running: obj.meta["running"] == "true"}
	if sec, err := strconv.ParseInt(obj.meta["expires"], 10, 64); err == nil {
		g.expires = time.Unix(sec, 0)
	}
	return g, nil
}

// writeGCState writes gc/state, on the condition that it still has the
// ETag prev (or does not exist, when prev is empty), and returns its new
// ETag. The body changes on every write, so that the ETag does.
func (r *Registry) writeGCState(ctx context.Context, prev string, running bool, expires time.Time) (string, error) {
	body, _ := json.Marshal(map[string]any{"running": running, "expires": expires.UTC(), "written": time.Now().UTC().Format(time.RFC3339Nano)})
	po := putOptions{meta: map[string]string{
		"running": strconv.FormatBool(running),
		"expires": strconv.FormatInt(expires.Unix(), 10),
	}}
	if prev == "" {
		po.ifNoneMatch = true
	} else {
		po.ifMatch = prev
	}
	return r.put(ctx, r.gcStateKey(), body, po)
}

// fenceWaitPoll is how often an operation that a collection overlapped
// looks whether the collection has finished.
const fenceWaitPoll = 250 * time.Millisecond

// fence ends an operation that relied on content or links older than
// itself, with before the gc/state read as it began. When no collection
// overlapped the operation, nothing it relied on can have gone; else it
// waits for the collection to end and calls verify, which checks that
// what the operation relied on is still there. It returns verify's
// error, or the context's.
func (r *Registry) fence(ctx context.Context, before gcState, verify func() error) error {
	after, err := r.readGCState(ctx)
	if err != nil {
		return err
	}
	if after.etag == before.etag && !after.live(time.Now()) {
		return nil
	}
	for after.live(time.Now()) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(fenceWaitPoll):
		}
		if after, err = r.readGCState(ctx); err != nil {
			return err
		}
	}
	return verify()
}

// errCollected says that garbage collection removed what a push relied on.
func errCollected(what string, sentinel error) error {
	return fmt.Errorf("%s was removed by garbage collection during the push; push it again: %w", what, sentinel)
}
