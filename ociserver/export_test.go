package ociserver

import (
	"net/http"
	"time"
)

// SetUploadClock makes the handler h, returned by New, tell the time of
// its upload sessions with now, so that tests move time at will instead
// of waiting for it (and racing against a busy machine).
func SetUploadClock(h http.Handler, now func() time.Time) {
	if l := h.(*server).uploads; l != nil {
		l.mu.Lock()
		l.now = now
		l.mu.Unlock()
	}
}

// ReadFailure is readFailure, for tests.
var ReadFailure = readFailure
