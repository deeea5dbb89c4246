package main

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
)

// TestGCPercentFollowsLiveHeap checks that an in-memory server collects
// at Go's default while its live heap is small, and at memGCPercent once
// it holds more than bigHeap, and back again when that is freed.
func TestGCPercentFollowsLiveHeap(t *testing.T) {
	if gogc, set := os.LookupEnv("GOGC"); set {
		os.Unsetenv("GOGC")
		t.Cleanup(func() { os.Setenv("GOGC", gogc) })
	}
	// The tuner then runs for the rest of the test binary, as it does
	// for a server's process; other tests do not depend on the
	// collector's setting.
	tuneGCForMemory()
	qt.Assert(t, qt.IsNotNil(gcTuner))

	waitForPercent := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for gcTuner.percent.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("GC percent %d, want %d", gcTuner.percent.Load(), want)
			}
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
	}
	waitForPercent(smallHeapGCPercent)
	func() {
		held := make([]byte, 2*bigHeap)
		for i := range held {
			held[i] = byte(i)
		}
		waitForPercent(memGCPercent)
		runtime.KeepAlive(held)
	}()
	waitForPercent(smallHeapGCPercent)
}
