#!/usr/bin/env bash
# Fuzzes the local HTTP API with schemathesis (from PyPI) against the server's own
# /openapi.json: every operation gets schema-valid and schema-invalid requests, and each answer
# is checked against the document (no 5xx, documented statuses and content types, valid input
# accepted, invalid input refused). Loopback only; a data dir of its own under target/fuzz.
#
#   scripts/fuzz-api.sh [SECONDS] [BINARY]
#
# SECONDS is the time budget (default 300; scripts/test.sh runs it for 120); BINARY defaults to
# the release build. Failures are reproduced in target/fuzz/report (a pytest file and a
# cassette of every request).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-300}"
bin="${2:-${CARGO_TARGET_DIR:-target}/release/starling}"
[ -x "$bin" ] || { echo "fuzz-api: no binary at $bin; run cargo build --release --locked" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

venv=target/fuzz-venv
[ -x "$venv/bin/schemathesis" ] || {
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q 'schemathesis>=4.3,<5'
}

work="$PWD/target/fuzz"
rm -rf "$work" && mkdir -p "$work/vault"
export XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config"
cp -r demo/notes/. "$work/vault/"
"$bin" index "$work/vault" >/dev/null
token="$("$bin" token)"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Short generations keep the model endpoints quick; the limits are the server's own.
"$bin" serve --addr "127.0.0.1:$port" --timeout 200 --set generator.max_tokens=16 \
    >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/v1/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 2; }
    sleep 0.2
done

status=0
"$venv/bin/schemathesis" --config-file scripts/fuzz-api.toml run "http://127.0.0.1:$port/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks all --exclude-checks use_after_free,ensure_resource_availability \
    --phases examples,coverage,fuzzing --max-time "$seconds" --workers 1 --seed 1 \
    --request-timeout 240 --max-response-time 230 --suppress-health-check too_slow \
    --report junit,vcr,pytest --report-dir "$work/report" || status=$?
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
if grep -q "panicked" "$work/server.log"; then
    echo "fuzz-api: the server panicked; see $work/server.log" >&2
    status=1
fi
exit "$status"
