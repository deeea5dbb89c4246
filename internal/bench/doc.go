// Package bench holds the project's benchmark: it starts, as processes
// on 127.0.0.1, "ocireg serve" with each of its stores (--mem, --dir, and
// a pull-through proxy of another ocireg whose cache is warmed first),
// CNCF Distribution's registry with its filesystem driver,
// go-containerregistry's in-memory registry (crane registry serve), and
// a plain Go http.FileServer, and measures over HTTP monolithic and
// chunked blob push, blob pull, manifest GET and HEAD by tag at
// concurrency 32, tag and repository listing at scale, and the resident
// memory of the in-memory servers against what they hold. It measures
// the machine's own limits in the same run: the SHA-256 rate of one core
// and the rate of a write followed by fdatasync. -servers=ocireg-s3,
// distribution-s3 measures the object-storage case instead: "ocireg
// serve" with a registry of kind s3 against Distribution's s3 driver,
// both over one versitygw started for the run. BenchmarkCopy measures
// the copy clients (ocireg cp, crane, regctl, oras, skopeo, each started
// as a process per copy) copying an image from Distribution to ocireg.
//
// Every server benchmark has one sub-benchmark per server, named
// server=NAME, so that benchstat can compare them (benchstat -col
// /server). Run ../../bench.sh for the full run and a table of ratios,
// or
//
//	go test -run '^$' -bench . -count 3 ./internal/bench
//
// -servers chooses the servers (all by default), OCIREG_BENCH_BIN an
// ocireg binary to measure instead of one built from this tree, and
// -big also serves a 1 GiB blob and reports the servers' memory growth
// while doing so. Under a plain go test, tests check that the servers
// start and answer /v2/ and, on Linux and without -short, that "ocireg
// serve --dir" does not grow its memory serving a 1 GiB blob and that
// "ocireg serve --mem" holds what it stores once.
//
// The package has no non-test code.
package bench
