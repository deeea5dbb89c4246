package main

import (
	"testing"
	"time"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

// TestLogBuffer checks that log lines are held only briefly: a line
// written reaches the output within flushEvery without another write,
// and everything is out once Close returns, as are lines written after.
func TestLogBuffer(t *testing.T) {
	var out toolstest.Buffer
	b := newLogBuffer(&out)
	b.Write([]byte("one\n"))
	deadline := time.Now().Add(10 * flushEvery)
	for out.String() == "" && time.Now().Before(deadline) {
		time.Sleep(flushEvery / 10)
	}
	qt.Assert(t, qt.Equals(out.String(), "one\n"))
	b.Write([]byte("two\n"))
	b.Close()
	qt.Assert(t, qt.Equals(out.String(), "one\ntwo\n"))
	b.Write([]byte("three\n"))
	qt.Assert(t, qt.Equals(out.String(), "one\ntwo\nthree\n"))
}
