#!/usr/bin/env bash
# Runs a case of the x0tta6bl4 Testground plan on the local:exec runner
# (no Docker): builds testground v0.6.0 and sync-service v0.1.0 from the
# Go module proxy into a cache directory outside the repo (once), starts
# the sync service and the testground daemon, imports this plan and runs
# the case; exits 0 only when the run's outcome is success.
#
#   testground/run-local.sh [CASE [INSTANCES [--test-param k=v]...]]
#
# CASE defaults to mesh-heal, INSTANCES to 5. The cache is
# $X0TTA6BL4_TESTGROUND_CACHE, else ~/.cache/x0tta6bl4-testground.
set -euo pipefail

case_name=${1:-mesh-heal}
instances=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache=${X0TTA6BL4_TESTGROUND_CACHE:-$HOME/.cache/x0tta6bl4-testground}
bin=$cache/bin
mkdir -p "$bin" "$cache/src"

# build MODULE VERSION PKG OUT: build a command of a module exactly as its
# own go.mod and go.sum pin it (go install MODULE@VERSION would ask the
# proxy for the module's version list, which it may refuse).
build() {
	local mod=$1 ver=$2 pkg=$3 out=$4
	[ -x "$bin/$out" ] && return 0
	echo "run-local: building $mod@$ver (once)" >&2
	local dir
	dir=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	rm -rf "$cache/src/$out"
	cp -r "$dir" "$cache/src/$out"
	chmod -R u+w "$cache/src/$out"
	(cd "$cache/src/$out" && go build -o "$bin/$out.tmp" "$pkg")
	mv "$bin/$out.tmp" "$bin/$out"
}
build github.com/testground/testground v0.6.0 . testground
build github.com/testground/sync-service v0.1.0 ./cmd testground-sync-service

export TESTGROUND_HOME=$cache/home
mkdir -p "$TESTGROUND_HOME"
log=$cache/logs
mkdir -p "$log"

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
	for _ in $(seq 100); do
		port_free "$1" || return 0
		sleep 0.1
	done
	echo "run-local: nothing listens on port $1 (see $log)" >&2
	return 1
}
for p in 5050 8042; do
	if ! port_free $p; then
		echo "run-local: port $p is taken (another sync service or testground daemon?)" >&2
		exit 1
	fi
done
"$bin/testground-sync-service" >"$log/sync-service.log" 2>&1 &
pids+=($!)
"$bin/testground" daemon >"$log/daemon.log" 2>&1 &
pids+=($!)
wait_port 5050
wait_port 8042

# The plan as testground sees it: a copy whose go.mod replaces the node's
# module with this checkout by absolute path (the daemon builds a copy of
# the plan elsewhere, where ../ would not lead here).
stage=$cache/plan/x0tta6bl4
rm -rf "$stage"
mkdir -p "$stage"
cp -r "$here"/. "$stage"/
(cd "$stage" && go mod edit -replace "github.com/x0tta6bl4/x0tta6bl4=$repo")
rm -rf "$TESTGROUND_HOME/plans/x0tta6bl4"
"$bin/testground" plan import --from "$stage" --name x0tta6bl4 >"$log/import.log" 2>&1

status=0
"$bin/testground" run single --plan x0tta6bl4 --testcase "$case_name" \
	--builder exec:go --runner local:exec --instances "$instances" \
	--wait "$@" 2>&1 | tee "$log/run.log" || status=${PIPESTATUS[0]}
outcome=$(sed -n 's/.*result [^ ]*: \([a-z]*\).*/\1/p' "$log/run.log" | tail -1)
echo "run-local: $case_name with $instances instances: outcome ${outcome:-unknown}"
[ "$status" = 0 ] && [ "$outcome" = success ]
