package main

import (
	"os"
	"runtime/debug"
)

// memGCPercent is the garbage collector's target percentage for a
// server that keeps its registry in memory. Go's default, 100, lets the
// heap grow to twice what is live before collecting, so that a registry
// holding 2 GiB of blobs could take 4 GiB after deletes and replaced
// uploads; at 10 it stays within about 1.1 times. Blob content holds no
// pointers, so collecting more often costs little: the collector marks
// only the small structures around the content.
const memGCPercent = 10

// tuneGCForMemory sets the garbage collector for an in-memory registry,
// unless the user set GOGC.
func tuneGCForMemory() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(memGCPercent)
	}
}
