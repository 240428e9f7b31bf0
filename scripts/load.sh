#!/usr/bin/env bash
# Load test of the local HTTP API: a fresh `starling serve` on a free loopback port (own data
# dir under target/load), CLIENTS concurrent clients for SECONDS on /v1/tone and /v1/generate,
# plus a /v1/health probe every second. Prints throughput, p50/p99 latency and status counts
# per endpoint, and the server's RSS before and after. Bounded in time and loopback only.
# Usage: scripts/load.sh [CLIENTS] [SECONDS]   (default 32 clients, 30 s)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-32}
seconds=${2:-30}
bash scripts/setup.sh
cargo build --release --locked
work=target/load
rm -rf "$work" && mkdir -p "$work"
export XDG_DATA_HOME="$PWD/$work/data" XDG_CONFIG_HOME="$PWD/$work/config"
bin=target/release/starling
token=$($bin token)
$bin serve --addr 127.0.0.1:0 --queue 8 --timeout 60 2> "$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    grep -q "serving on" "$work/server.log" 2>/dev/null && break
    sleep 0.1
done
port=$(sed -n 's/.*http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/server.log" | head -n 1)
[ -n "$port" ] || { cat "$work/server.log"; exit 2; }
python3 - "$port" "$token" "$server" "$clients" "$seconds" <<'PY'
import http.client, json, statistics, sys, threading, time
port, token, pid, clients, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
headers = {"Host": f"127.0.0.1:{port}", "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
script = open("tests/fixtures/scripts/pip-reply.md").read()
bodies = {
    "/v1/tone": json.dumps({"text": script, "profile": "pip-response"}),
    "/v1/generate": json.dumps({"prompt": "Rewrite as one confident sentence: I kind of think the rollout maybe went fine.", "max_tokens": 32}),
}
def rss_mb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def call(path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    try:
        conn.request("POST" if body else "GET", path, body=body, headers=headers)
        response = conn.getresponse(); response.read()
        return response.status, time.perf_counter() - started
    except Exception:
        return 0, time.perf_counter() - started
    finally:
        conn.close()
# Warm up (model load, first prompt) so "before" is the steady state.
call("/v1/generate", bodies["/v1/generate"]); call("/v1/tone", bodies["/v1/tone"])
before = rss_mb()
results = {path: [] for path in bodies}
results["/v1/health"] = []
lock = threading.Lock()
deadline = time.time() + seconds
def client(index):
    path = "/v1/tone" if index % 2 == 0 else "/v1/generate"
    while time.time() < deadline:
        status, latency = call(path, bodies[path])
        with lock:
            results[path].append((status, latency))
        if status == 503:
            time.sleep(0.2)
def probe():
    while time.time() < deadline:
        status, latency = call("/v1/health")
        with lock:
            results["/v1/health"].append((status, latency))
        time.sleep(1)
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)] + [threading.Thread(target=probe)]
for t in threads: t.start()
for t in threads: t.join()
after = rss_mb()
print(f"{clients} clients for {seconds:.0f} s on loopback (half /v1/tone with a {len(script)}-byte script, half /v1/generate with 32 tokens)")
for path, rows in results.items():
    ok = sorted(l for s, l in rows if s == 200)
    counts = {}
    for s, _ in rows: counts[s] = counts.get(s, 0) + 1
    q = lambda p: ok[min(len(ok) - 1, int(p * len(ok)))] * 1000 if ok else float("nan")
    print(f"{path:14} {len(ok)/seconds:7.1f} ok/s  p50 {q(0.50):8.1f} ms  p99 {q(0.99):8.1f} ms  statuses {dict(sorted(counts.items()))}")
bad = sum(1 for rows in results.values() for s, _ in rows if s >= 500 and s != 503 or s == 0)
print(f"server RSS {before:.0f} MB before, {after:.0f} MB after ({(after-before)/before*100:+.1f}%); 5xx other than 503 (or no answer): {bad}")
PY
kill -TERM $server; wait $server && echo "server stopped cleanly (exit 0)"
