// Package bench holds the project's benchmark: it starts "ocireg serve",
// CNCF Distribution's registry with its filesystem driver, and a plain Go
// http.FileServer as processes on 127.0.0.1, and measures over HTTP blob
// push and pull throughput, manifest GET and HEAD requests per second at
// concurrency 32, and each server's resident memory.
//
// Every benchmark has one sub-benchmark per server, named server=NAME, so
// that benchstat can compare them (benchstat -col /server). Run
// ../../bench.sh for the full run and a table of ratios, or
//
//	go test -run '^$' -bench . -count 3 ./internal/bench
//
// Add -big to also serve a 1 GiB blob and report the servers' memory
// growth while doing so, and -backend=mem to measure "ocireg serve --mem"
// instead of --dir. Under a plain go test, only a quick test runs,
// checking that the servers start and answer /v2/.
//
// The package has no non-test code.
package bench
