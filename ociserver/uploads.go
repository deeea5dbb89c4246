package ociserver

import (
	"container/list"
	"context"
	"errors"
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
	// the server started or used and that has gone untouched for longer
	// than Options.UploadIdleTimeout, which frees its slot and what it
	// holds in the backend, and returns how many sessions it stopped
	// counting (cancelled, or found gone). A session that grew in the
	// backend meanwhile, through another server sharing it, is not
	// idle. It stops early when ctx is done. A server whose uploads
	// are not limited (negative Options.MaxUploads) tracks no session
	// and cancels none. It returns no error: a session the backend no
	// longer has is already gone.
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

// Several servers may share one backend (replicas behind a load
// balancer), and a session that one of them started may be used,
// finished or cancelled through another. A server therefore trusts what
// it has seen of a session only as far as the backend confirms it: before
// it cancels a session it has seen idle, it asks the backend whether the
// session has grown meanwhile (through another server); and when its
// slots are full, it asks whether the sessions it has not seen for a
// while are still there (they may have ended through another server).
// Asking is resuming the session and closing the writer at once, which
// changes nothing in the stores of this module.
const (
	// maxCheckAfter bounds how long a session must go unseen before a
	// full limiter asks the backend about it, and how long an answer
	// that it is still there holds: a quarter of the idle timeout, and
	// no more than this.
	maxCheckAfter = 10 * time.Second

	// checkBudget bounds the time one request or sweep spends asking the
	// backend about sessions; a session whose answer does not come in
	// time (one that another server's request holds, say) is taken to
	// be in use.
	checkBudget = 2 * time.Second
)

// uploadLimiter counts the uploads in progress: the sessions the server
// has started or used and not seen finished, cancelled or idle for longer
// than idle, and the single-request uploads being received. It is what
// bounds the uploads that clients can make the backend hold: a session
// idle for longer than idle is cancelled in the backend.
type uploadLimiter struct {
	max  int
	idle time.Duration
	// checkAfter is how long a session must go unseen before the
	// backend is asked about it (see maxCheckAfter).
	checkAfter time.Duration
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
	// seq numbers the changes to sessions (see trackedUpload.seq).
	seq uint64
}

// trackedUpload is what the server knows of a session.
type trackedUpload struct {
	key uploadKey
	// used is when the server last saw the session used, or found it
	// grown in the backend.
	used time.Time
	// size is the size the backend last gave for it; -1 when unknown.
	size int64
	// checked is when the backend last said it is there.
	checked time.Time
	// active counts this server's requests writing to it now.
	active int
	// seq numbers the record's last change, uniquely for the
	// limiter, so that an answer of the backend is applied only to
	// the record it was asked about.
	seq uint64
}

func newUploadLimiter(max int, idle time.Duration) *uploadLimiter {
	return &uploadLimiter{max: max, idle: idle, checkAfter: min(idle/4, maxCheckAfter), now: time.Now, sessions: make(map[uploadKey]*list.Element)}
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
// been idle too long. When no slot is free it asks the backend about the
// sessions it has not seen for l.checkAfter, and frees the slots of those
// that have ended. It returns an error that Is ErrTooManyRequests when
// no slot is free. The slot must be given back with release, or turned
// into a session with started.
func (l *uploadLimiter) reserve(ctx context.Context, backend ociregistry.Interface) error {
	if l == nil {
		return nil
	}
	l.expire(ctx, backend)
	if l.tryReserve() {
		return nil
	}
	if l.prune(ctx, backend) > 0 && l.tryReserve() {
		return nil
	}
	return errTooManyUploads(l.max)
}

// tryReserve takes a slot if one is free, and reports whether it did.
func (l *uploadLimiter) tryReserve() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sessions)+l.pending >= l.max {
		return false
	}
	l.pending++
	return true
}

// candidatesLocked returns copies of up to max sessions, least recently
// used first, that no request of the server is writing to and for which
// pick is true, stopping at the first for which stop is true. It must be
// called with l.mu held.
func (l *uploadLimiter) candidatesLocked(max int, stop, pick func(*trackedUpload) bool) []trackedUpload {
	var found []trackedUpload
	for e := l.byUse.Front(); e != nil && len(found) < max; e = e.Next() {
		u := e.Value.(*trackedUpload)
		if stop(u) {
			break
		}
		if u.active == 0 && pick(u) {
			found = append(found, *u)
		}
	}
	return found
}

// expire cancels in backend up to maxCancelPerSweep sessions that have
// been idle for longer than l.idle, and returns how many of them the
// backend answered for (each then leaves the idle ones: cancelled, found
// gone, or found in use) and how many it stopped counting. A session
// that grew in the backend meanwhile was used through another server: it
// is counted as used now instead.
func (l *uploadLimiter) expire(ctx context.Context, backend ociregistry.Interface) (answered, forgot int) {
	l.mu.Lock()
	now := l.now()
	idle := func(u *trackedUpload) bool { return now.Sub(u.used) > l.idle }
	expired := l.candidatesLocked(maxCancelPerSweep, func(u *trackedUpload) bool { return !idle(u) }, func(u *trackedUpload) bool {
		// Not one whose check ran out of time just now.
		return idle(u) && now.Sub(u.checked) >= l.checkAfter
	})
	l.mu.Unlock()
	return l.settleAll(ctx, backend, expired, true)
}

// prune asks the backend about up to maxCancelPerSweep sessions that the
// server has not seen used nor asked about for l.checkAfter, forgets those
// that are gone, and returns how many it forgot.
func (l *uploadLimiter) prune(ctx context.Context, backend ociregistry.Interface) int {
	l.mu.Lock()
	now := l.now()
	unseen := l.candidatesLocked(maxCancelPerSweep,
		func(u *trackedUpload) bool { return now.Sub(u.used) < l.checkAfter },
		func(u *trackedUpload) bool { return now.Sub(u.checked) >= l.checkAfter })
	l.mu.Unlock()
	_, forgot := l.settleAll(ctx, backend, unseen, false)
	return forgot
}

// settleAll settles each of the sessions us in turn (see settle), within
// checkBudget, and returns how many the backend answered for and how
// many it forgot.
func (l *uploadLimiter) settleAll(ctx context.Context, backend ociregistry.Interface, us []trackedUpload, cancelIdle bool) (answered, forgot int) {
	if len(us) == 0 {
		return 0, 0
	}
	ctx, cancel := context.WithTimeout(ctx, checkBudget)
	defer cancel()
	for _, u := range us {
		ok, gone := l.settle(ctx, backend, u, cancelIdle)
		if !ok {
			break
		}
		answered++
		if gone {
			forgot++
		}
	}
	return answered, forgot
}

// settle asks the backend about the session u, a copy of what the server
// knew of it, and updates what it knows: a session that is gone is
// forgotten, one that grew is counted as used now, and one that did not
// is cancelled in the backend when cancelIdle is set. A session that a
// request of the server used meanwhile is left alone, and so is one that
// ctx left no time to ask about. It reports whether the backend answered
// (false only when ctx is done) and whether it forgot the session.
func (l *uploadLimiter) settle(ctx context.Context, backend ociregistry.Interface, u trackedUpload, cancelIdle bool) (answered, gone bool) {
	bw, err := backend.PushBlobChunkedResume(ctx, u.key.repo, u.key.id, -1, 0)
	if err != nil {
		return l.unanswered(ctx, u, err)
	}
	size := bw.Size()
	bw.Close()
	if size != u.size {
		l.touchIfUnchanged(u, size)
		return true, false
	}
	if !cancelIdle {
		l.mu.Lock()
		if t := l.unchangedLocked(u); t != nil {
			t.checked = l.now()
		}
		l.mu.Unlock()
		return true, false
	}
	// Idle for longer than l.idle, here and in the backend. The cancel
	// goes through a writer at the size seen, which waits for its turn
	// (within ctx) and so cannot cancel under another server's request
	// that has added to the session since.
	bw, err = backend.PushBlobChunkedResume(ctx, u.key.repo, u.key.id, u.size, 0)
	if err != nil {
		return l.unanswered(ctx, u, err)
	}
	// The writer may have waited for its turn: a request of this
	// server may have used the session meanwhile.
	l.mu.Lock()
	unchanged := l.unchangedLocked(u) != nil
	l.mu.Unlock()
	if !unchanged {
		bw.Close()
		return true, false
	}
	if err := bw.Cancel(); err != nil {
		return l.unanswered(ctx, u, err)
	}
	return true, l.forget(u)
}

// unanswered updates what the server knows of the session u, a copy of
// its record, after the backend answered a question about it with err,
// and returns what settle does. A session that is gone is forgotten, and
// so is one the backend refuses to let the server handle (an error with
// a 4xx status, such as an access check's): it can neither be in use
// through this server nor be cancelled by it. A session the backend
// cannot say anything of (a 5xx error) is taken to be in use; one that
// grew meanwhile (ErrRangeInvalid) is in use. When ctx ended first, the
// session is skipped for l.checkAfter, so that a backend that keeps it
// waiting (another server's request holding it) does not hold up every
// request that checks.
func (l *uploadLimiter) unanswered(ctx context.Context, u trackedUpload, err error) (answered, gone bool) {
	status := ociregistry.HTTPStatus(err)
	switch {
	case errors.Is(err, ociregistry.ErrBlobUploadUnknown):
		return true, l.forget(u)
	case ctx.Err() != nil:
		l.mu.Lock()
		if t := l.unchangedLocked(u); t != nil {
			t.checked = l.now()
		}
		l.mu.Unlock()
		return false, false
	case status >= 400 && status < 500 && status != http.StatusRequestedRangeNotSatisfiable && status != http.StatusTooManyRequests:
		return true, l.forget(u)
	default:
		l.touchIfUnchanged(u, -1)
		return true, false
	}
}

// unchangedLocked returns the server's record of the session u if no
// request has changed it since u was copied, and nil otherwise. It must
// be called with l.mu held.
func (l *uploadLimiter) unchangedLocked(u trackedUpload) *trackedUpload {
	if e := l.sessions[u.key]; e != nil {
		if t := e.Value.(*trackedUpload); t.seq == u.seq {
			return t
		}
	}
	return nil
}

// touchIfUnchanged counts the session u as used now, with size bytes (-1
// when not known), unless a request has changed it since u was copied.
func (l *uploadLimiter) touchIfUnchanged(u trackedUpload, size int64) {
	l.mu.Lock()
	if l.unchangedLocked(u) != nil {
		l.touchLocked(u.key, size)
	}
	l.mu.Unlock()
}

// forget stops counting the session u, unless a request used it since u
// was copied. It reports whether it did.
func (l *uploadLimiter) forget(u trackedUpload) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unchangedLocked(u) == nil {
		return false
	}
	l.byUse.Remove(l.sessions[u.key])
	delete(l.sessions, u.key)
	return true
}

// sweep cancels in backend every session that has been idle for longer
// than l.idle, maxCancelPerSweep at a time so that the lock is held
// briefly, and returns how many it stopped counting. When more than half the
// slots are taken, it also asks the backend about the sessions it has not
// seen for l.checkAfter, so that slots of sessions ended through another
// server come free before they are needed. It stops when ctx is done.
func (l *uploadLimiter) sweep(ctx context.Context, backend ociregistry.Interface) int {
	if l == nil {
		return 0
	}
	n := 0
	for ctx.Err() == nil {
		answered, forgot := l.expire(ctx, backend)
		n += forgot
		if answered == 0 {
			break
		}
	}
	l.mu.Lock()
	busy := 2*len(l.sessions) > l.max
	l.mu.Unlock()
	if busy {
		l.prune(ctx, backend)
	}
	return n
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

// started turns a slot taken by reserve into the session k, which holds
// nothing yet.
func (l *uploadLimiter) started(k uploadKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.pending--
	l.touchLocked(k, 0)
	l.mu.Unlock()
}

// touch records that the session k was used, and that it held size bytes
// (-1 when not known). A session the server does not know (started before
// a restart, or through another server) is counted from now on: it is in
// progress in the backend.
func (l *uploadLimiter) touch(k uploadKey, size int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.touchLocked(k, size)
	l.mu.Unlock()
}

// touchKnown records that the session k, if counted, was used.
func (l *uploadLimiter) touchKnown(k uploadKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.sessions[k] != nil {
		l.touchLocked(k, -1)
	}
	l.mu.Unlock()
}

func (l *uploadLimiter) touchLocked(k uploadKey, size int64) *trackedUpload {
	now := l.now()
	if e := l.sessions[k]; e != nil {
		u := e.Value.(*trackedUpload)
		u.used, u.checked = now, now
		if size >= 0 {
			u.size = size
		}
		l.seq++
		u.seq = l.seq
		l.byUse.MoveToBack(e)
		return u
	}
	l.seq++
	u := &trackedUpload{key: k, used: now, checked: now, size: size, seq: l.seq}
	l.sessions[k] = l.byUse.PushBack(u)
	return u
}

// begin records that a request of the server starts writing to the
// session k, which is never cancelled nor asked about meanwhile; end
// records that it has finished, leaving the session with size bytes (-1
// when not known).
func (l *uploadLimiter) begin(k uploadKey) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.touchLocked(k, -1).active++
	l.mu.Unlock()
}

func (l *uploadLimiter) end(k uploadKey, size int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if e := l.sessions[k]; e != nil {
		// The session may have been forgotten and counted anew
		// meanwhile, without this request.
		if u := e.Value.(*trackedUpload); u.active > 0 {
			u.active--
		}
		l.touchLocked(k, size)
	}
	l.mu.Unlock()
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
