#!/usr/bin/env bash
# Starts, stops and inspects a 3-node Qdrant cluster on loopback (127.0.0.1), for the tests of
# Starling's Qdrant-backed store against a replicated, sharded collection and for users who want
# to try one. It runs the test server binary at ../shared/bin/qdrant (override: QDRANT_BIN); see
# ../shared/bin/QDRANT.md. Each node gets free ports chosen here (HTTP, gRPC, P2P), its own
# storage, snapshots and empty working directory under DIR/nodeN, and its log at DIR/nodeN/log.
#
# Usage:
#   scripts/qdrant-cluster.sh start DIR      start 3 nodes; wait (60 s at most) until every node
#                                            answers /readyz and node 1 sees 3 peers; write
#                                            DIR/cluster.env (NODEn_HTTP/GRPC/P2P/PID, sourceable)
#                                            and print the gRPC URLs, one per line
#   scripts/qdrant-cluster.sh stop DIR [N]   SIGTERM all nodes (or node N), SIGKILL after 10 s
#   scripts/qdrant-cluster.sh restart DIR N  restart node N on the same ports and storage
#   scripts/qdrant-cluster.sh status DIR     each node's pid and whether it is up
#
# Needs curl and python3. Every node is given its own --uri; node 1 is the cluster's first peer and
# nodes 2 and 3 join it with --bootstrap. A node restarted on its own storage keeps its peer id and
# the consensus state, and rejoins without --bootstrap (tried: with it, it is the same).
set -euo pipefail

NODES=3
READY_TIMEOUT=60
STOP_TIMEOUT=10
here="$(cd "$(dirname "$0")" && pwd)"
QDRANT_BIN="${QDRANT_BIN:-$here/../../shared/bin/qdrant}"

die() {
    echo "qdrant-cluster.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '8,15p' "$0" >&2
    exit 2
}

# Nine distinct free loopback ports: all sockets are bound at once, so none repeats.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

load_env() {
    local dir="$1"
    [ -f "$dir/cluster.env" ] || die "$dir/cluster.env is missing; run: $0 start $dir"
    # shellcheck disable=SC1091
    source "$dir/cluster.env"
}

node_var() { # node_var N FIELD -> value of NODEN_FIELD (empty if unset)
    local name="NODE$1_$2"
    echo "${!name:-}"
}

# Replaces (or adds) one KEY=VALUE line of DIR/cluster.env.
set_env_line() {
    local file="$1/cluster.env" key="$2" value="$3" tmp
    tmp="$(mktemp "$1/.cluster.env.XXXXXX")"
    if [ -f "$file" ]; then
        grep -v "^$key=" "$file" >"$tmp" || true
    fi
    echo "$key=$value" >>"$tmp"
    sort -o "$tmp" "$tmp"
    mv "$tmp" "$file"
}

# True if PID is a live qdrant process (not a reused pid of something else).
is_qdrant_pid() {
    local pid="$1"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q qdrant
}

ready() {
    curl -sf -m 2 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1
}

peer_count() {
    curl -sf -m 2 "http://127.0.0.1:$1/cluster" 2>/dev/null |
        python3 -c 'import json, sys; print(len(json.load(sys.stdin)["result"]["peers"]))' 2>/dev/null ||
        echo 0
}

# launch DIR N [extra qdrant args...]: starts node N in the background, records its pid.
launch() {
    local dir="$1" n="$2"
    shift 2
    local node="$dir/node$n" bin http grpc p2p pid
    [ -x "$QDRANT_BIN" ] || die "no qdrant binary at $QDRANT_BIN (set QDRANT_BIN)"
    # The node runs in its own working directory: make a relative QDRANT_BIN absolute.
    bin="$(cd "$(dirname "$QDRANT_BIN")" && pwd)/$(basename "$QDRANT_BIN")"
    http="$(node_var "$n" HTTP)"
    grpc="$(node_var "$n" GRPC)"
    p2p="$(node_var "$n" P2P)"
    mkdir -p "$node/work" "$node/storage" "$node/snapshots"
    (
        cd "$node/work"
        export QDRANT__SERVICE__HOST=127.0.0.1
        export QDRANT__SERVICE__HTTP_PORT="$http"
        export QDRANT__SERVICE__GRPC_PORT="$grpc"
        export QDRANT__CLUSTER__ENABLED=true
        export QDRANT__CLUSTER__P2P__PORT="$p2p"
        export QDRANT__STORAGE__STORAGE_PATH="$node/storage"
        export QDRANT__STORAGE__SNAPSHOTS_PATH="$node/snapshots"
        export QDRANT__TELEMETRY_DISABLED=true
        unset QDRANT_BOOTSTRAP QDRANT_URI
        exec setsid "$bin" --disable-telemetry --uri "http://127.0.0.1:$p2p" "$@" \
            </dev/null >>"$node/log" 2>&1
    ) &
    pid=$!
    eval "NODE${n}_PID=$pid"
    set_env_line "$dir" "NODE${n}_PID" "$pid"
}

# wait_ready DIR N DEADLINE: waits for node N's /readyz until DEADLINE (epoch seconds).
wait_ready() {
    local dir="$1" n="$2" deadline="$3" http pid
    http="$(node_var "$n" HTTP)"
    pid="$(node_var "$n" PID)"
    until ready "$http"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            die "node $n (pid $pid) exited before it was ready; see $dir/node$n/log"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            die "node $n (http port $http) not ready after ${READY_TIMEOUT}s; see $dir/node$n/log"
        fi
        sleep 0.2
    done
}

cmd_start() {
    local dir="$1" n ports deadline
    [ -x "$QDRANT_BIN" ] || die "no qdrant binary at $QDRANT_BIN (set QDRANT_BIN)"
    command -v curl >/dev/null || die "curl is missing"
    command -v python3 >/dev/null || die "python3 is missing"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ -f "$dir/cluster.env" ]; then
        load_env "$dir"
        for n in $(seq 1 "$NODES"); do
            if is_qdrant_pid "$(node_var "$n" PID)"; then
                die "node $n is already running (pid $(node_var "$n" PID)); run: $0 stop $dir"
            fi
        done
    fi
    for n in $(seq 1 "$NODES"); do
        if [ -e "$dir/node$n" ] && [ -n "$(ls -A "$dir/node$n")" ]; then
            die "$dir/node$n is not empty; start needs a fresh DIR (restart reuses storage)"
        fi
    done
    read -r -a ports <<<"$(free_ports $((NODES * 3)))"
    [ "${#ports[@]}" -eq $((NODES * 3)) ] || die "could not find $((NODES * 3)) free ports"
    rm -f "$dir/cluster.env"
    for n in $(seq 1 "$NODES"); do
        eval "NODE${n}_HTTP=${ports[$(((n - 1) * 3))]}"
        eval "NODE${n}_GRPC=${ports[$(((n - 1) * 3 + 1))]}"
        eval "NODE${n}_P2P=${ports[$(((n - 1) * 3 + 2))]}"
        set_env_line "$dir" "NODE${n}_HTTP" "$(node_var "$n" HTTP)"
        set_env_line "$dir" "NODE${n}_GRPC" "$(node_var "$n" GRPC)"
        set_env_line "$dir" "NODE${n}_P2P" "$(node_var "$n" P2P)"
    done
    # A start that fails half-way stops the nodes it started.
    # shellcheck disable=SC2064 # expand $dir now
    trap "echo 'qdrant-cluster.sh: start failed; stopping the nodes it started' >&2; cmd_stop $(printf %q "$dir") >/dev/null 2>&1" EXIT
    deadline=$(($(date +%s) + READY_TIMEOUT))
    # The first peer must be up before the others bootstrap from it; they join one at a time,
    # as Qdrant's guide advises, so that each consensus change completes before the next.
    launch "$dir" 1
    wait_ready "$dir" 1 "$deadline"
    for n in $(seq 2 "$NODES"); do
        launch "$dir" "$n" --bootstrap "http://127.0.0.1:$(node_var 1 P2P)"
        wait_ready "$dir" "$n" "$deadline"
    done
    until [ "$(peer_count "$(node_var 1 HTTP)")" -eq "$NODES" ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            die "node 1 sees $(peer_count "$(node_var 1 HTTP)") of $NODES peers after ${READY_TIMEOUT}s; see $dir/node*/log"
        fi
        sleep 0.2
    done
    trap - EXIT
    for n in $(seq 1 "$NODES"); do
        echo "http://127.0.0.1:$(node_var "$n" GRPC)"
    done
}

stop_node() { # stop_node N
    local n="$1" pid i
    pid="$(node_var "$n" PID)"
    if ! is_qdrant_pid "$pid"; then
        echo "node $n: not running" >&2
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "node $n (pid $pid): no exit ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    echo "node $n (pid $pid): stopped" >&2
}

check_node() {
    if ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ] || [ "$1" -gt "$NODES" ]; then
        die "node must be 1..$NODES, not '$1'"
    fi
}

cmd_stop() {
    local dir="$1" only="${2:-}" n
    load_env "$dir"
    if [ -n "$only" ]; then
        check_node "$only"
        stop_node "$only"
        return 0
    fi
    # SIGTERM all at once, then wait for each: a peer that waits on the others stops too.
    for n in $(seq 1 "$NODES"); do
        stop_node "$n" &
    done
    wait
}

cmd_restart() {
    local dir="$1" n="$2"
    check_node "$n"
    dir="$(cd "$dir" && pwd)"
    load_env "$dir"
    stop_node "$n"
    # The node's storage holds its peer id and the consensus state, so it rejoins with only its
    # own --uri (the ports are the same); --bootstrap is not needed. A replica that missed writes
    # while the node was down is marked Dead and recovered by a shard transfer, on its own.
    launch "$dir" "$n"
    wait_ready "$dir" "$n" "$(($(date +%s) + READY_TIMEOUT))"
    echo "http://127.0.0.1:$(node_var "$n" GRPC)"
}

cmd_status() {
    local dir="$1" n pid http state
    load_env "$dir"
    for n in $(seq 1 "$NODES"); do
        pid="$(node_var "$n" PID)"
        http="$(node_var "$n" HTTP)"
        if ! is_qdrant_pid "$pid"; then
            state=down
        elif ready "$http"; then
            state=up
        else
            state="running, not ready"
        fi
        echo "node $n: pid $pid, http $http, grpc $(node_var "$n" GRPC), p2p $(node_var "$n" P2P): $state"
    done
}

[ $# -ge 2 ] || usage
command="$1"
dir="$2"
shift 2
case "$command" in
    start) [ $# -eq 0 ] || usage; cmd_start "$dir" ;;
    stop) [ $# -le 1 ] || usage; cmd_stop "$dir" "$@" ;;
    restart) [ $# -eq 1 ] || usage; cmd_restart "$dir" "$1" ;;
    status) [ $# -eq 0 ] || usage; cmd_status "$dir" ;;
    *) usage ;;
esac
