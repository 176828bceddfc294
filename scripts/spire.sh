#!/usr/bin/env bash
# spire.sh builds and runs a real SPIRE server and agent for the SPIFFE
# tests (node's TestSPIRE...). Nothing here is needed to build or run a node.
#
#   scripts/spire.sh build
#       Build spire-server and spire-agent (SPIRE v1.13.3) once, from the Go
#       module proxy, into the cache dir (about 6 minutes; later calls return
#       at once). The cache dir is $X0TTA6BL4_SPIRE_DIR, else
#       ${XDG_CACHE_HOME:-$HOME/.cache}/x0tta6bl4/spire/v1.13.3.
#   scripts/spire.sh bindir
#       Print the directory holding the two binaries (built or not).
#   scripts/spire.sh up DIR SPIFFE_ID
#       Start a server and an agent with their state, sockets and logs in DIR
#       (the server on a free 127.0.0.1 port, both APIs on unix sockets),
#       attest the agent with a join token, and register SPIFFE_ID for
#       workloads of the calling user (selector unix:uid:<uid>). Waits until
#       the agent serves the Workload API, then prints its address
#       (unix://DIR/agent.sock). The trust domain is SPIFFE_ID's. If
#       X0TTA6BL4_SPIRE_OWNER names a process ID, both stop when that process
#       ends, so a killed test leaves nothing running.
#   scripts/spire.sh entry DIR SPIFFE_ID
#       Register one more SPIFFE_ID for the calling user's workloads.
#   scripts/spire.sh down DIR
#       Stop the server and agent started in DIR.
set -euo pipefail

version=1.13.3
cache=${X0TTA6BL4_SPIRE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/x0tta6bl4/spire/v$version}
bin=$cache/bin

die() { echo "spire.sh: $*" >&2; exit 1; }

build() {
	if [[ -x $bin/spire-server && -x $bin/spire-agent ]]; then
		return
	fi
	command -v go >/dev/null || die "go is needed to build SPIRE"
	mkdir -p "$bin"
	local mod
	mod=$(mktemp -d)
	trap 'rm -rf "$mod"' RETURN
	(
		cd "$mod"
		go mod init x0tta6bl4.test/spirebuild >/dev/null 2>&1
		go get -tool "github.com/spiffe/spire/cmd/spire-server@v$version"
		go get -tool "github.com/spiffe/spire/cmd/spire-agent@v$version"
		GOBIN=$bin go install github.com/spiffe/spire/cmd/spire-server github.com/spiffe/spire/cmd/spire-agent
	)
	[[ -x $bin/spire-server && -x $bin/spire-agent ]] || die "build left no binaries in $bin"
}

need_bins() {
	[[ -x $bin/spire-server && -x $bin/spire-agent ]] || die "SPIRE not built: run $0 build"
}

# free_port prints a loopback TCP port nothing listens on.
free_port() {
	local p
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port"
}

# wait_for TRIES CMD...: run CMD every 0.2 s until it succeeds.
wait_for() {
	local tries=$1
	shift
	for ((i = 0; i < tries; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	return 1
}

register() {
	local dir=$1 id=$2
	"$bin/spire-server" entry create -socketPath "$dir/server.sock" \
		-parentID "spiffe://$(trust_domain "$id")/x0tta6bl4-test/agent" \
		-spiffeID "$id" -selector "unix:uid:$(id -u)" >"$dir/entry-$(echo "$id" | tr -c 'a-zA-Z0-9\n' _).log"
}

trust_domain() {
	local rest=${1#spiffe://}
	[[ $rest != "$1" ]] || die "not a SPIFFE ID: $1"
	echo "${rest%%/*}"
}

up() {
	local dir=$1 id=$2
	need_bins
	local td port
	td=$(trust_domain "$id")
	port=$(free_port)
	mkdir -p "$dir/server-data" "$dir/agent-data"
	cat >"$dir/server.conf" <<EOF
server {
    bind_address = "127.0.0.1"
    bind_port = "$port"
    socket_path = "$dir/server.sock"
    trust_domain = "$td"
    data_dir = "$dir/server-data"
    log_level = "WARN"
    default_x509_svid_ttl = "1h"
}
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "$dir/server-data/datastore.sqlite3"
        }
    }
    KeyManager "memory" {
        plugin_data {}
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
}
EOF
	"$bin/spire-server" run -config "$dir/server.conf" >"$dir/server.log" 2>&1 &
	echo $! >"$dir/server.pid"
	wait_for 150 "$bin/spire-server" healthcheck -socketPath "$dir/server.sock" ||
		die "server did not come up (see $dir/server.log)"

	local token
	token=$("$bin/spire-server" token generate -socketPath "$dir/server.sock" \
		-spiffeID "spiffe://$td/x0tta6bl4-test/agent" -ttl 600 | awk '/^Token:/ {print $2}')
	[[ -n $token ]] || die "no join token"
	register "$dir" "$id"
	"$bin/spire-server" bundle show -socketPath "$dir/server.sock" >"$dir/bundle.pem"

	cat >"$dir/agent.conf" <<EOF
agent {
    data_dir = "$dir/agent-data"
    log_level = "WARN"
    server_address = "127.0.0.1"
    server_port = "$port"
    socket_path = "$dir/agent.sock"
    trust_bundle_path = "$dir/bundle.pem"
    trust_domain = "$td"
}
plugins {
    KeyManager "memory" {
        plugin_data {}
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    WorkloadAttestor "unix" {
        plugin_data {}
    }
}
EOF
	"$bin/spire-agent" run -config "$dir/agent.conf" -joinToken "$token" >"$dir/agent.log" 2>&1 &
	echo $! >"$dir/agent.pid"
	wait_for 150 "$bin/spire-agent" healthcheck -socketPath "$dir/agent.sock" ||
		die "agent did not come up (see $dir/agent.log)"
	# Healthy is not synced: wait until the agent issues the registered SVID.
	wait_for 150 "$bin/spire-agent" api fetch x509 -socketPath "$dir/agent.sock" ||
		die "agent issued no SVID for uid $(id -u) (see $dir/agent.log)"
	if [[ -n ${X0TTA6BL4_SPIRE_OWNER:-} ]]; then
		local owner=$X0TTA6BL4_SPIRE_OWNER server agent
		server=$(cat "$dir/server.pid")
		agent=$(cat "$dir/agent.pid")
		(
			while kill -0 "$owner" 2>/dev/null; do sleep 1; done
			kill "$agent" "$server" 2>/dev/null
		) </dev/null >/dev/null 2>&1 &
		echo $! >"$dir/watchdog.pid"
	fi
	echo "unix://$dir/agent.sock"
}

down() {
	local dir=$1 pids=()
	if [[ -f $dir/watchdog.pid ]]; then
		kill "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
		rm -f "$dir/watchdog.pid"
	fi
	for f in "$dir/agent.pid" "$dir/server.pid"; do
		[[ -f $f ]] || continue
		pids+=("$(cat "$f")")
		rm -f "$f"
	done
	[[ ${#pids[@]} -gt 0 ]] || return 0
	kill "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "${pids[@]}" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "${pids[@]}" 2>/dev/null || true
}

case ${1:-} in
build) build ;;
bindir) echo "$bin" ;;
up)
	[[ $# -eq 3 ]] || die "usage: $0 up DIR SPIFFE_ID"
	up "$2" "$3"
	;;
entry)
	[[ $# -eq 3 ]] || die "usage: $0 entry DIR SPIFFE_ID"
	need_bins
	register "$2" "$3"
	;;
down)
	[[ $# -eq 2 ]] || die "usage: $0 down DIR"
	down "$2"
	;;
*) die "usage: $0 build | bindir | up DIR SPIFFE_ID | entry DIR SPIFFE_ID | down DIR" ;;
esac
