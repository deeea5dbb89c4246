package ocis3

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// A collection announces itself in fence objects: gc/state for the whole
// run, and gc/repos/<repo> while it collects one repository's links. An
// operation that relies on objects older than itself reads the fence
// that covers them before and after; a change in between means that a
// collection overlapped it.

// gcRepoStateKey is the key of the fence of one repository's links.
func (r *Registry) gcRepoStateKey(repo string) string {
	return r.prefix + "gc/repos/" + catalogName(repo)
}

// gcState is what a fence object says: whether a collection holds it,
// and until when should the collection die.
type gcState struct {
	etag    string // empty when the object does not exist
	running bool
	expires time.Time
	run     string // the ID of the collection that holds or last held it
}

// live reports whether a collection holds the fence now.
func (g gcState) live(now time.Time) bool {
	return g.running && now.Before(g.expires)
}

// readGCState reads a fence object with one HEAD.
func (r *Registry) readGCState(ctx context.Context, key string) (gcState, error) {
	obj, err := r.head(ctx, key)
	if err != nil {
		if isNotFound(err) {
			return gcState{}, nil
		}
		return gcState{}, fmt.Errorf("ocis3: reading %s: %w", key, err)
	}
	g := gcState{etag: obj.etag, running: obj.meta["running"] == "true", run: obj.meta["run"]}
	if sec, err := strconv.ParseInt(obj.meta["expires"], 10, 64); err == nil {
		g.expires = time.Unix(sec, 0)
	}
	return g, nil
}

// writeGCState writes a fence object for the collection run, on the
// condition that it still has the ETag prev (or does not exist, when
// prev is empty), and returns its new ETag. The body changes on every
// write, so that the ETag does.
func (r *Registry) writeGCState(ctx context.Context, key, prev, run string, running bool, expires time.Time) (string, error) {
	body, _ := json.Marshal(map[string]any{"running": running, "expires": expires.UTC(), "run": run, "written": time.Now().UTC().Format(time.RFC3339Nano)})
	po := putOptions{meta: map[string]string{
		"running": strconv.FormatBool(running),
		"expires": strconv.FormatInt(expires.Unix(), 10),
		"run":     run,
	}}
	if prev == "" {
		po.ifNoneMatch = true
	} else {
		po.ifMatch = prev
	}
	return r.put(ctx, key, body, po)
}

// fenceWaitPoll is how often an operation that a collection overlapped
// looks whether the collection has let go.
const fenceWaitPoll = 250 * time.Millisecond

// fence ends an operation that relied on objects older than itself,
// with before the fence object key as read when it began. When no
// collection overlapped the operation, nothing it relied on can have
// gone; else it waits for the collection that held the fence as the
// operation ended to let go of it and calls verify, which checks that
// what the operation relied on is still there. A collection that takes
// the fence after that one started after the operation's own writes,
// and keeps what they made: waiting for it too would make an operation
// wait through collections run back to back. It returns verify's error,
// or the context's.
func (r *Registry) fence(ctx context.Context, key string, before gcState, verify func() error) error {
	after, err := r.readGCState(ctx, key)
	if err != nil {
		return err
	}
	if after.etag == before.etag && !after.live(time.Now()) {
		return nil
	}
	for run := after.run; after.live(time.Now()) && after.run == run; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(fenceWaitPoll):
		}
		if after, err = r.readGCState(ctx, key); err != nil {
			return err
		}
	}
	return verify()
}

// lease is a fence object that a collection holds, renewed every third
// of gcLease while held.
type lease struct {
	r    *Registry
	key  string
	run  string // the collection's ID, the same in every write
	etag string // owned by the renewer until it halts
	rn   *renewer
}

// acquire takes the fence object key, and returns an error when another
// collection holds it.
func (r *Registry) acquire(ctx context.Context, key string) (*lease, error) {
	st, err := r.readGCState(ctx, key)
	if err != nil {
		return nil, err
	}
	if st.live(time.Now()) {
		return nil, fmt.Errorf("ocis3: gc: another collection holds %s until %v", key, st.expires)
	}
	run := rand.Text()
	etag, err := r.writeGCState(ctx, key, st.etag, run, true, time.Now().Add(gcLease))
	if err != nil {
		if isConflict(err) {
			return nil, fmt.Errorf("ocis3: gc: another collection took %s at the same time", key)
		}
		return nil, fmt.Errorf("ocis3: gc: %w", err)
	}
	l := &lease{r: r, key: key, run: run, etag: etag}
	l.rn = startRenewer(ctx, gcLease/3, func(ctx context.Context) error {
		etag, err := r.writeGCState(ctx, key, l.etag, run, true, time.Now().Add(gcLease))
		if err == nil {
			l.etag = etag
		}
		return err
	})
	return l, nil
}

// keep returns an error when the lease was not renewed for half of
// gcLease, after which nothing more may be deleted: pushes may soon take
// the collection for dead.
func (l *lease) keep(ctx context.Context) error {
	if !l.rn.freshWithin(gcLease / 2) {
		return fmt.Errorf("ocis3: gc: could not renew %s: the collection stops", l.key)
	}
	return ctx.Err()
}

// release lets go of the fence object, whatever the state of ctx.
func (l *lease) release(ctx context.Context) error {
	l.rn.halt()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := l.r.writeGCState(ctx, l.key, l.etag, l.run, false, time.Now())
	return err
}

// errCollected says that garbage collection removed what a push relied on.
func errCollected(what string, sentinel error) error {
	return fmt.Errorf("%s was removed by garbage collection during the push; push it again: %w", what, sentinel)
}
