#!/usr/bin/env bash
# bench.sh runs the benchmark of internal/bench: "ocireg serve" next to
# CNCF Distribution's filesystem driver (and a plain Go http.FileServer as
# the pull baseline), all as processes on 127.0.0.1 in the same run. It
# installs Distribution into ./.tools/bin when missing, prints go test's
# results, benchstat's comparison when benchstat can be fetched, and a
# table of medians with the ratios ocireg/distribution and
# ocireg/fileserver.
#
#   ./bench.sh                  # every benchmark, -count 3 -benchtime 3s (about 3 minutes)
#   ./bench.sh -big             # also serve a 1 GiB blob and report RSS growth
#   ./bench.sh -backend=mem     # benchmark ocireg serve --mem instead of --dir
#   ./bench.sh -backend=s3      # object storage: ocireg serve over versitygw against
#                               # Distribution's s3 driver over the same versitygw
#   COUNT=1 BENCHTIME=1s BENCH=Manifest ./bench.sh
#   SOAK=0 ./bench.sh           # without the load and soak benchmark (about 4 minutes)
#
# Extra arguments go to the test binary.
set -euo pipefail

cd "$(dirname "$0")"
bin=$PWD/.tools/bin
DISTRIBUTION_VERSION=v3.1.2

if ! [[ -x $bin/registry ]] || ! "$bin/registry" --version 2>/dev/null | grep -qF "$DISTRIBUTION_VERSION"; then
	echo "bench.sh: installing Distribution $DISTRIBUTION_VERSION into $bin" >&2
	mkdir -p "$bin"
	GOWORK=off GOBIN=$bin go install "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION"
fi
VERSITYGW_VERSION=v1.8.0
if [[ " $* " == *" -backend=s3 "* ]] && ! { [[ -x $bin/versitygw ]] && go version -m "$bin/versitygw" | grep -qE "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+$VERSITYGW_VERSION[[:space:]]"; }; then
	echo "bench.sh: installing versitygw $VERSITYGW_VERSION into $bin" >&2
	GOWORK=off GOBIN=$bin go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
fi
export OCIREG_TOOLS_BIN=$bin OCIREG_REQUIRE_TOOLS=1

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "load before: $(cat /proc/loadavg) ($(nproc) CPUs)"
go test -run '^$' -bench "${BENCH:-.}" -count "${COUNT:-3}" -benchtime "${BENCHTIME:-3s}" -timeout 60m ./internal/bench "$@" | tee "$out"
echo "load after: $(cat /proc/loadavg)"

echo
if benchstat=$(GOWORK=off go run golang.org/x/perf/cmd/benchstat@latest -col /server "$out" 2>/dev/null); then
	echo "$benchstat"
	echo
fi

# Medians over the counts, per benchmark, server and unit, with ratios.
awk '
/^Benchmark.*\/server=/ {
	split($1, parts, "/server=")
	bench = parts[1]; srv = parts[2]; sub(/-[0-9]+$/, "", srv)
	for (i = 3; i < NF; i += 2) {
		unit = $(i + 1)
		if (unit !~ /^(MiB\/s|req\/s|rss-MiB|peak-rss-MiB|rss-growth-MiB)$/) continue
		key = bench SUBSEP unit
		if (!(key in seen)) { seen[key] = 1; order[++n] = key }
		k = key SUBSEP srv
		vals[k] = vals[k] " " $i
	}
}
function median(s,    a, m, i, j, t) {
	m = split(s, a, " ")
	if (m == 0) return ""
	for (i = 2; i <= m; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return (m % 2) ? a[(m+1)/2] : (a[m/2] + a[m/2+1]) / 2
}
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2f", a / b) }
function show(v) { return v == "" ? "-" : sprintf("%.1f", v) }
END {
	if (n == 0) exit
	printf "| %-22s | %-14s | %9s | %12s | %10s | %11s | %10s |\n", "benchmark", "unit", "ocireg", "distribution", "fileserver", "ocireg/dist", "ocireg/fs"
	printf "|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------", "----------------", "-----------", "--------------", "------------", "-------------", "------------"
	for (i = 1; i <= n; i++) {
		split(order[i], p, SUBSEP)
		o = median(vals[order[i] SUBSEP "ocireg"])
		d = median(vals[order[i] SUBSEP "distribution"])
		f = median(vals[order[i] SUBSEP "fileserver"])
		printf "| %-22s | %-14s | %9s | %12s | %10s | %11s | %10s |\n", substr(p[1], 10), p[2], show(o), show(d), show(f), ratio(o, d), ratio(o, f)
	}
}' "$out"

# The load and soak benchmark (internal/soak): SOAK_CLIENTS clients for
# SOAK_DURATION against "ocireg serve" on disk, in memory and as a
# pull-through proxy, reporting errors, p50/p99 latency, requests per
# second, and the server's RSS and open files over the run. SOAK=0 skips it.
if [[ ${SOAK:-1} != 0 ]]; then
	echo
	echo "load and soak: ${SOAK_CLIENTS:-200} clients, ${SOAK_DURATION:-60s} per server"
	go test -run '^$' -bench Soak -benchtime 1x -timeout 30m ./internal/soak \
		-soak.clients "${SOAK_CLIENTS:-200}" -soak.duration "${SOAK_DURATION:-60s}" |
		grep -v 'level=' || true
fi
