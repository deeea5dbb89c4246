// Package soak holds the load and soak benchmark of "ocireg serve": many
// concurrent clients doing a realistic mix of registry requests for a
// fixed time against the disk store, the memory store and a pull-through
// proxy, each a process of its own on 127.0.0.1. It reports errors,
// latency percentiles, requests per second, and the server's resident
// memory and open files sampled over the run, which should stay flat.
//
// It is a benchmark, run by ./bench.sh (BenchmarkSoak); TestSoakBrief
// runs the same mix for a few seconds in the test command and fails on
// any error, so the harness and the servers' answers stay right.
package soak
