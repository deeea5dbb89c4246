package repolock_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry/internal/repolock"
)

// TestLocks checks that a repository's lock keeps out a second taker
// until released, that waiting ends with the waiter's context, that
// other repositories do not wait, and that no lock stays once unused.
func TestLocks(t *testing.T) {
	var l repolock.Locks
	unlock, err := l.Lock(t.Context(), "a")
	qt.Assert(t, qt.IsNil(err))
	other, err := l.Lock(t.Context(), "b")
	qt.Assert(t, qt.IsNil(err))
	other()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = l.Lock(ctx, "a")
	qt.Assert(t, qt.ErrorIs(err, context.DeadlineExceeded))
	unlock()
	unlock, err = l.Lock(t.Context(), "a")
	qt.Assert(t, qt.IsNil(err))
	unlock()
	qt.Assert(t, qt.Equals(l.Size(), 0))
}
