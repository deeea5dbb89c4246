#!/usr/bin/env bash
# test.sh installs the real registry clients, CNCF Distribution and
# versitygw (an S3 server for the ocis3 tests) into
# ./.tools/bin (once; reruns only check versions), then runs go vet,
# staticcheck and go test -race in the library module and in each nested
# module (cmd/ocireg, the binary's; peertest; ocis3, the S3 backend),
# with OCIREG_REQUIRE_TOOLS=1 so that no test needing a tool can skip,
# and then each fuzz target for a few seconds (OCIREG_FUZZTIME).
# Needs Go, the Go module proxy, and apt (for skopeo) when skopeo is missing.
set -euo pipefail

cd "$(dirname "$0")"
root=$PWD
bin=$root/.tools/bin
mkdir -p "$bin"
start=$SECONDS

CRANE_VERSION=v0.22.1
REGCTL_VERSION=v0.11.7
ORAS_VERSION=v1.3.3
DISTRIBUTION_VERSION=v3.1.2
STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2
VERSITYGW_VERSION=v1.8.0

log() { echo "test.sh: $*" >&2; }

# has_version TOOL WANT ARGS... succeeds when bin/TOOL runs with ARGS and
# prints WANT.
has_version() {
	local tool=$1 want=$2
	shift 2
	[[ -x $bin/$tool ]] && "$bin/$tool" "$@" 2>/dev/null | grep -qF -- "$want"
}

# The go command must not pick up a go.work or vendor setting from the
# caller when it builds the tools.
export GOWORK=off

install_crane() {
	has_version crane "$CRANE_VERSION" version && return
	GOBIN=$bin go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
}

install_regctl() {
	has_version regctl "$REGCTL_VERSION" version --format '{{.VCSTag}}' && return
	GOBIN=$bin go install "github.com/regclient/regclient/cmd/regctl@$REGCTL_VERSION"
}

install_registry() {
	has_version registry "$DISTRIBUTION_VERSION" --version && return
	GOBIN=$bin go install "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION"
}

install_staticcheck() {
	has_version staticcheck "(${STATICCHECK_VERSION#v})" -version && return
	GOBIN=$bin go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
}

install_versitygw() {
	# versitygw --version prints no release; the binary's build
	# information holds the module version it was built from.
	[[ -x $bin/versitygw ]] && go version -m "$bin/versitygw" | grep -qE "^[[:space:]]+mod[[:space:]]+github.com/versity/versitygw[[:space:]]+$VERSITYGW_VERSION[[:space:]]" && return
	GOBIN=$bin go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
}

install_oras() {
	has_version oras "Version:    ${ORAS_VERSION#v}" version && return
	# oras is built inside its own module, as the release is, so that its
	# go.mod (not a go install resolution) picks the dependencies.
	local dir
	dir=$(go mod download -json "oras.land/oras@$ORAS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir ]] || { log "cannot download oras $ORAS_VERSION"; return 1; }
	(cd "$dir" && go build -o "$bin/oras" ./cmd/oras)
}

install_skopeo() {
	command -v skopeo >/dev/null && return
	local sudo=()
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null || { log "skopeo is missing and cannot apt-get install it without root or sudo"; return 1; }
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get install -y skopeo || { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y skopeo; }
}

# Install in parallel: most of the time goes in downloads and compiles
# that do not depend on each other.
pids=()
for tool in crane regctl registry oras skopeo staticcheck versitygw; do
	install_$tool >"$root/.tools/install-$tool.log" 2>&1 &
	pids+=("$!:$tool")
done
failed=0
for p in "${pids[@]}"; do
	if ! wait "${p%%:*}"; then
		log "installing ${p#*:} failed:"
		cat "$root/.tools/install-${p#*:}.log" >&2
		failed=1
	fi
done
((failed == 0)) || exit 1
log "tools ready in $((SECONDS - start))s: crane $CRANE_VERSION, regctl $REGCTL_VERSION, oras $ORAS_VERSION, registry $DISTRIBUTION_VERSION, versitygw $VERSITYGW_VERSION, $(skopeo --version)"

export OCIREG_TOOLS_BIN=$bin
export OCIREG_REQUIRE_TOOLS=1

# run_module runs go vet, staticcheck and go test -race in the module at $1; a hung
# test fails its package after 5 minutes, not the default 10. A failure
# is recorded, not fatal, so that one run reports on both modules.
status=0
run_module() {
	log "go vet ./... in $1"
	(cd "$1" && go vet ./...) || status=1
	log "staticcheck ./... in $1"
	(cd "$1" && "$bin/staticcheck" ./...) || status=1
	log "go test -race ./... in $1"
	(cd "$1" && go test -race -timeout 5m ./...) || status=1
}

# fuzz_targets lists every native fuzz target as "dir package target":
# the module's directory, the package within it, and the target. Each
# runs for $OCIREG_FUZZTIME (3s unless set) on top of its seed corpus
# (f.Add and testdata/fuzz), which plain go test runs already; an input
# that fails is written to the package's testdata/fuzz/<target>/, to be
# kept there once the bug is fixed. cmd/ocireg is run from its own
# directory so that the loop works whether or not it is a module of its
# own. ociserver's FuzzHandlerFS (each input costs fsyncs) and
# FuzzHandlerSequence are left out to keep this step near two minutes:
# go test runs their seeds, and README ("Fuzzing") says how to fuzz them
# for longer.
fuzz_targets=(
	". . FuzzUnmarshalError"
	". ociref FuzzParse"
	". internal/ocimanifest FuzzParse"
	". ociserver FuzzHandler"
	". ociserver FuzzHandlerStacked"
	". ociserver FuzzParseRange"
	". ociserver FuzzParseContentRange"
	". ociclient FuzzParseContentRange"
	". ociclient FuzzRangeEnd"
	". ociclient FuzzRetryAfter"
	". ociclient FuzzNextLink"
	". ociclient FuzzDecodeID"
	". ociauth FuzzParseChallenge"
	". ociauth FuzzChallengeRoundTrip"
	". ociauth FuzzConfigFile"
	". ociauth FuzzConfigRoundTrip"
	"cmd/ocireg . FuzzHtpasswd"
	"cmd/ocireg . FuzzConfig"
)
# Go 1.26's fuzzing coordinator can fail a run that found nothing with a
# bare "context deadline exceeded" when -fuzztime ends while a worker is
# mid-call (go.dev/issue/75804, fixed in Go 1.27). Such a run, and only
# such a run (no failing input written, no other failure), is run once
# more; a second failure fails the script.
run_fuzz() {
	local fuzztime=${OCIREG_FUZZTIME:-3s} t dir pkg target try out
	out=$(mktemp)
	for t in "${fuzz_targets[@]}"; do
		read -r dir pkg target <<<"$t"
		for try in 1 2; do
			log "fuzz $target in ./$pkg of $dir for $fuzztime"
			if (cd "$root/$dir" && go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "./$pkg") 2>&1 | tee "$out"; then
				break
			fi
			if ((try == 1)) && grep -q 'context deadline exceeded' "$out" &&
				! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$out"; then
				log "fuzz $target ended with the coordinator's deadline race (go.dev/issue/75804); running it again"
				continue
			fi
			status=1
			break
		done
	done
	rm -f "$out"
}

log "gofmt -l"
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
	log "not gofmt-ed: $unformatted"
	status=1
fi
# Each module is tested on its own (GOWORK is off): a nested module
# builds against the library through its replace directive, as it
# would for a user without go.work.
for mod in "$root" "$root/cmd/ocireg" "$root/peertest" "$root/ocis3"; do
	run_module "$mod"
done
run_fuzz
if ((status != 0)); then
	log "FAILED after $((SECONDS - start))s"
	exit 1
fi
log "all passed in $((SECONDS - start))s"
