package main

import (
	"os"
	"runtime"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"sync"
	"sync/atomic"
)

// The garbage collector's target percentage for a server that keeps its
// registry in memory depends on how much the heap holds.
//
// Go's default, 100, lets the heap grow to twice what is live before
// collecting, so that a registry holding 2 GiB of blobs could take 4 GiB
// after deletes and replaced uploads; at 20 it stays within 1.2 times,
// and in the benchmark it held 1.0 to 1.08 times. Blob content holds no
// pointers, so collecting more often costs little marking; what it costs
// is memory handed back to the system and taken again, which at 10 made
// a loop of pushes and deletes 15% slower than at 20, for no memory
// saved.
//
// While little is live, though, 20 means a collection for every few
// hundred kilobytes allocated: serving manifests from a small registry
// spent a tenth of its processor time collecting. Below bigHeap, where
// twice the live heap is still a small constant, the target is Go's
// default.
const (
	memGCPercent       = 20
	smallHeapGCPercent = 100
	// bigHeap is the live heap above which memGCPercent applies; below
	// smallHeap, smallHeapGCPercent applies again. The gap keeps a heap
	// near the line from switching at every collection.
	bigHeap   = 32 << 20
	smallHeap = 24 << 20
)

var (
	gcTunerOnce sync.Once
	gcTuner     *gcPercentTuner // set by tuneGCForMemory
)

// tuneGCForMemory sets the garbage collector for an in-memory registry,
// unless the user set GOGC: after every collection, the target
// percentage follows the live heap (see memGCPercent). It does so once
// per process, as the collector's setting is the process's.
func tuneGCForMemory() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	gcTunerOnce.Do(func() {
		gcTuner = &gcPercentTuner{live: []runtimemetrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		gcTuner.percent.Store(smallHeapGCPercent)
		debug.SetGCPercent(smallHeapGCPercent)
		gcTuner.adjust()
	})
}

// gcPercentTuner sets the collector's target percentage from the live
// heap after each collection.
type gcPercentTuner struct {
	percent atomic.Int32 // the target it set last
	live    []runtimemetrics.Sample
}

// adjust sets the target percentage for the live heap the last
// collection left, and arranges to be called again after the next one.
func (t *gcPercentTuner) adjust() {
	runtimemetrics.Read(t.live)
	if t.live[0].Value.Kind() == runtimemetrics.KindUint64 {
		live, percent := t.live[0].Value.Uint64(), t.percent.Load()
		switch {
		case percent == smallHeapGCPercent && live > bigHeap:
			t.set(memGCPercent)
		case percent == memGCPercent && live < smallHeap:
			t.set(smallHeapGCPercent)
		}
	}
	// The sentinel becomes unreachable at once, so its cleanup runs
	// after the next collection. It holds a pointer so that it is not
	// batched with other small objects, which would delay it.
	sentinel := &struct{ _ *byte }{}
	runtime.AddCleanup(sentinel, (*gcPercentTuner).adjust, t)
}

func (t *gcPercentTuner) set(percent int32) {
	t.percent.Store(percent)
	debug.SetGCPercent(int(percent))
}
