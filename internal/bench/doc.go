// Package bench holds the project's benchmark: it starts "ocireg serve",
// CNCF Distribution's registry with its filesystem driver, and a plain Go
// http.FileServer as processes on 127.0.0.1, and measures over HTTP blob
// push and pull throughput, manifest GET and HEAD requests per second at
// concurrency 32, and each server's resident memory. BenchmarkCopy
// measures the copy clients instead (ocireg cp, crane, regctl, oras,
// skopeo, each started as a process per copy) copying an image from
// Distribution to ocireg, with sub-benchmarks named client=NAME
// (benchstat -col /client).
//
// Every benchmark has one sub-benchmark per server, named server=NAME, so
// that benchstat can compare them (benchstat -col /server). Run
// ../../bench.sh for the full run and a table of ratios, or
//
//	go test -run '^$' -bench . -count 3 ./internal/bench
//
// Add -big to also serve a 1 GiB blob and report the servers' memory
// growth while doing so, and -backend=mem to measure "ocireg serve --mem"
// instead of --dir, or -backend=s3 for the object-storage case: "ocireg
// serve" with a registry of kind s3 against Distribution's s3 driver,
// both over one versitygw started for the run. Under a plain go test, two tests run: a quick one
// checking that the servers start and answer /v2/, and, on Linux and
// without -short, one that pushes and pulls a 1 GiB blob through
// "ocireg serve --dir" and fails when the server's resident memory grows
// by 32 MiB or more during the pull.
//
// The package has no non-test code.
package bench
