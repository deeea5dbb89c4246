package ociserver

import (
	"container/list"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
)

// DefaultMaxUploads is the most uploads in progress when
// Options.MaxUploads is zero.
const DefaultMaxUploads = 10000

// DefaultUploadIdleTimeout is how long an upload session may go
// untouched when Options.UploadIdleTimeout is zero.
const DefaultUploadIdleTimeout = time.Hour

// uploadRetryAfter is the Retry-After sent with a 429 when no other is
// known. Uploads finish or are abandoned all the time, so a slot is
// likely to be free again soon.
const uploadRetryAfter = 10 * time.Second

// maxCancelPerSweep bounds the expired uploads one request cancels in the
// backend, so that no request pays for many; the others stay counted
// until a later request cancels them.
const maxCancelPerSweep = 64

// UploadSweeper is implemented by the handler that New returns, for
// servers that sweep abandoned uploads while idle: the server by itself
// cancels them only when a new upload starts. Its owner calls
// SweepUploads on a ticker it stops at shutdown; nothing runs between
// calls.
type UploadSweeper interface {
	// SweepUploads cancels in the backend every upload session that
	// the server started and that has gone untouched for longer than
	// Options.UploadIdleTimeout, which frees its slot and what it
	// holds in the backend, and returns how many it cancelled. It stops
	// early when ctx is done. A server whose uploads are not limited
	// (negative Options.MaxUploads) tracks no session and cancels none.
	// It returns no error: a session the backend no longer has is
	// already gone.
	SweepUploads(ctx context.Context) int
}

// SweepUploads implements UploadSweeper.
func (s *server) SweepUploads(ctx context.Context) int {
	return s.uploads.sweep(ctx, s.backend)
}

// uploadKey names an upload session.
type uploadKey struct {
	repo, id string
}

// uploadLimiter counts the uploads in progress: the sessions the server
// has started and not seen finished, cancelled or idle for longer than
// idle, and the single-request uploads being received. It is what bounds
// the uploads that clients can make the backend hold: a session idle for
// longer than idle is cancelled in the backend.
type uploadLimiter struct {
	max  int
	idle time.Duration
	// now tells the time; tests replace it to move time at will.
	now func() time.Time

	mu sync.Mutex
	// sessions maps each session to its element in byUse.
	sessions map[uploadKey]*list.Element
	// byUse holds the sessions as *trackedUpload, least recently used
	// first, so that the idle ones are found at its front.
	byUse list.List
	// pending counts the slots reserved by requests in progress.
	pending int
}

// trackedUpload is a session and the time it was last used.
type trackedUpload struct {
	key  uploadKey
	used time.Time
}

func newUploadLimiter(max int, idle time.Duration) *uploadLimiter {
	return &uploadLimiter{max: max, idle: idle, now: time.Now, sessions: make(map[uploadKey]*list.Element)}
}

// errTooManyUploads is the answer to a request that would start one
// upload more than the limit allows.
func errTooManyUploads(max int) error {
	return &ociregistry.HTTPError{
		StatusCode: http.StatusTooManyRequests,
		Header:     http.Header{"Retry-After": {strconv.Itoa(int(uploadRetryAfter / time.Second))}},
		Err:        fmt.Errorf("%d uploads are in progress, the server's limit; finish or cancel one, or retry later: %w", max, ociregistry.ErrTooManyRequests),
	}
}

// reserve takes a slot for an upload that the request is about to start,
// after cancelling in backend up to maxCancelPerSweep sessions that have
// been idle too long. It returns an error that Is ErrTooManyRequests
// when no slot is free. The slot must be given back with release, or
// turned into a session with started.
func (l *uploadLimiter) reserve(ctx context.Context, backend ociregistry.Interface) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	expired := l.takeExpiredLocked(maxCancelPerSweep)
	full := len(l.sessions)+l.pending >= l.max
	if !full {
		l.pending++
	}
	l.mu.Unlock()
	// The backend is called without the lock: it may be slow.
	for _, k := range expired {
		cancelUpload(ctx, backend, k)
	}
	if full {
		return errTooManyUploads(l.max)
	}
	return nil
}

// takeExpiredLocked stops counting up to max sessions that have been
// idle for longer than l.idle and returns them, for the caller to cancel
// in the backend. It must be called with l.mu held.
func (l *uploadLimiter) takeExpiredLocked(max int) []uploadKey {
	now := l.now()
	var expired []uploadKey
	for e := l.byUse.Front(); e != nil && len(expired) < max; e = l.byUse.Front() {
		u := e.Value.(*trackedUpload)
		if now.Sub(u.used) <= l.idle {
			break
		}
		expired = append(expired, u.key)
		l.byUse.Remove(e)
		delete(l.sessions, u.key)
	}
	return expired
}

// sweep cancels in backend every session that has been idle for longer
// than l.idle, maxCancelPerSweep at a time so that the lock is held
// briefly, and returns how many it cancelled. It stops when ctx is done.
func (l *uploadLimiter) sweep(ctx context.Context, backend ociregistry.Interface) int {
	if l == nil {
		return 0
	}
	n := 0
	for ctx.Err() == nil {
		l.mu.Lock()
		expired := l.takeExpiredLocked(maxCancelPerSweep)
		l.mu.Unlock()
		if len(expired) == 0 {
			break
		}
		for _, k := range expired {
			// A session taken but not cancelled because ctx ended is
			// left to the backend's own timeouts.
			cancelUpload(ctx, backend, k)
		}
		n += len(expired)
	}
	return n
}

// cancelUpload cancels the session k in backend, if it is still there.
func cancelUpload(ctx context.Context, backend ociregistry.Interface, k uploadKey) {
	bw, err := backend.PushBlobChunkedResume(ctx, k.repo, k.id, -1, 0)
	if err == nil {
		bw.Cancel()
	}
}

// release gives back a slot taken by reserve.
func (l *uploadLimiter) release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.pending--
	l.mu.Unlock()
}

// started turns a slot taken by reserve into the session k.
func (l *uploadLimiter) started(k uploadKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.pending--
	l.touchLocked(k)
	l.mu.Unlock()
}

// touch records that the session k was used. A session the server does
// not know (started before a restart, or through another server) is
// counted from now on: it is in progress in the backend.
func (l *uploadLimiter) touch(k uploadKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.touchLocked(k)
	l.mu.Unlock()
}

func (l *uploadLimiter) touchLocked(k uploadKey) {
	now := l.now()
	if e := l.sessions[k]; e != nil {
		e.Value.(*trackedUpload).used = now
		l.byUse.MoveToBack(e)
		return
	}
	l.sessions[k] = l.byUse.PushBack(&trackedUpload{key: k, used: now})
}

// done records that the session k is finished, cancelled or gone.
func (l *uploadLimiter) done(k uploadKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if e := l.sessions[k]; e != nil {
		l.byUse.Remove(e)
		delete(l.sessions, k)
	}
	l.mu.Unlock()
}
