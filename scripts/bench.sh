#!/usr/bin/env bash
# Benchmarks (figures, never pass/fail): generation against llama.cpp's own llama-bench on the
# same model and thread count, the prompt cache, tone-check speed and quality. Results are
# printed and saved under target/bench/; README's Performance section records them.
# Usage: scripts/bench.sh [generate] [tone] [index] [search] [store] [star] [map] [rewrite] [server] (no argument: every section).
set -euo pipefail
cd "$(dirname "$0")/.."
sections=" $* "
want() { [ "$sections" = "  " ] || [[ "$sections" == *" $1 "* ]]; }

bash scripts/setup.sh
cargo build --release --locked
bin=target/release/starling
out=target/bench
mkdir -p "$out"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/starling"
models="${STARLING_MODELS_DIR:-$cache/models}"
# The weights Starling loads for the default model: its Q8_0 re-encoding, made beside the Q4_1
# download on the first load (services::generator_model_file); llama.cpp's own tools below get
# the same file, so every ratio compares the same weights.
$bin generate --max-tokens 1 "Hello" >/dev/null
model="$models/SmolLM2-135M-Instruct.Q8_0.gguf"
[ -f "$model" ] || { echo "bench.sh: $model was not made (see the warning above)" >&2; exit 1; }
threads="${STARLING_BENCH_THREADS:-$($bin config show --json | python3 -c 'import json,sys; print(next(e["value"] for e in json.load(sys.stdin)["entries"] if e["key"]=="generator.threads"))')}"
[ "$threads" = 0 ] && threads=$(nproc)

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; threads used: $threads"

if want generate; then
echo "== starling: generation (release build, in process)"
$bin --threads "$threads" bench generate | tee "$out/generate.json"

echo "== llama.cpp llama-bench (same model, same threads)"
# Built as scripts/llama-server.sh builds llama-server (native, no Intel AMX kernels).
llama_bench=$(bash scripts/llama-server.sh llama-bench)
"$llama_bench" -m "$model" -t "$threads" -p 512 -n 128 -r 3 -o json > "$out/llama-bench.json"

python3 - "$out/generate.json" "$out/llama-bench.json" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
ref = json.load(open(sys.argv[2]))
pp = next(r["avg_ts"] for r in ref if r["n_prompt"] > 0)
tg = next(r["avg_ts"] for r in ref if r["n_gen"] > 0)
print(f"llama-bench: prompt {pp:.1f} t/s, generation {tg:.1f} t/s")
print(f"starling:    prompt {ours['prompt_tokens_per_s']:.1f} t/s, generation {ours['generation_tokens_per_s']:.1f} t/s")
print(f"ratio starling/llama-bench: prompt {ours['prompt_tokens_per_s']/pp:.2f}, generation {ours['generation_tokens_per_s']/tg:.2f}")
print(f"time to first token with a {ours['system_prompt_tokens']}-token prompt: cold {ours['ttft_cold_ms']:.0f} ms, "
      f"cached system prompt {ours['ttft_cached_ms']:.0f} ms (ratio {ours['ttft_cached_over_cold']:.2f})")
print(f"peak RSS {ours['peak_rss_mb']:.0f} MB")
print(f"4 requests at once (generator.parallel {ours['parallel']}, best of 3): {ours['concurrent_tokens_per_s']:.1f} t/s in all, "
      f"one after another {ours['single_stream_tokens_per_s']:.1f} t/s: {ours['concurrent_over_single']:.2f}x")
PY

echo "== llama.cpp llama-server --parallel 4: the same four requests one after another, then at once"
llama_server=$(bash scripts/llama-server.sh)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$llama_server" -m "$model" --host 127.0.0.1 --port "$port" -t "$threads" --parallel 4 -c 4096 --no-webui > "$out/llama-server-parallel.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
    grep -q "listening on" "$out/llama-server-parallel.log" && break
    sleep 0.5
done
python3 - "$port" "$out/generate.json" <<'PY' || true
import json, sys, threading, time, urllib.request
port, ours = sys.argv[1], json.load(open(sys.argv[2]))
topics = ["a product launch", "a data migration", "a security audit", "a hiring round"]
def ask(topic, out):
    body = {"messages": [{"role": "user", "content": f"Write a long, detailed story about a software team preparing for {topic}."}],
            "max_tokens": 128, "temperature": 0, "repeat_penalty": 1.0}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    out.append(json.load(urllib.request.urlopen(request, timeout=600))["usage"]["completion_tokens"])
ask("warm-up", [])
single = together = 0.0
for _ in range(3):  # best of three rounds each, as `starling bench generate` does
    tokens, started = [], time.time()
    for topic in topics:
        ask(topic, tokens)
    single = max(single, sum(tokens) / (time.time() - started))
    tokens, started = [], time.time()
    threads = [threading.Thread(target=ask, args=(t, tokens)) for t in topics]
    for t in threads: t.start()
    for t in threads: t.join()
    together = max(together, sum(tokens) / (time.time() - started))
print(f"llama-server --parallel 4: {together:.1f} t/s in all, one after another {single:.1f} t/s: {together/single:.2f}x")
print(f"ratio starling/llama-server: at once {ours['concurrent_tokens_per_s']/together:.2f}, one after another {ours['single_stream_tokens_per_s']/single:.2f}")
PY
kill "$server_pid"
fi

if want tone; then
echo "== tone speed (one core): rules only, and the full check (rules + classifier)"
script=../shared/examples/pip-outcome-meeting-script.md
[ -f "$script" ] || script=tests/fixtures/scripts/manager-meeting.md
taskset -c 0 $bin bench tone-speed "$script" | tee "$out/tone-speed.json"

echo "== tone: quality on tests/fixtures/tone/labelled.tsv"
$bin bench tone-quality tests/fixtures/tone/labelled.tsv --deep | tee "$out/tone-quality.txt"
fi

if want index; then
echo "== notes index (synthetic vaults; data dirs under target/bench)"
work="$out/index"
rm -rf "$work" && mkdir -p "$work"
run_in() { XDG_DATA_HOME="$1/data" XDG_CONFIG_HOME="$1/config" "${@:2}"; }
measure_index() { # HOME_DIR ARGS... -> prints the JSON report and the peak RSS
    local dir=$1; shift
    run_in "$dir" /usr/bin/time -f 'peak_rss_kb %M' $bin index "$@" --json 2> "$dir.time" | tail -n 1
    grep peak_rss_kb "$dir.time"
}
$bin bench vault --notes 1000 --out "$work/vault-1k" >/dev/null
echo "1,000 notes, first index:"; measure_index "$work/h1k" "$work/vault-1k"
echo "1,000 notes, unchanged re-index:"; measure_index "$work/h1k"
echo "1,000 notes, first index with embedder.products=float (float weight products; the default is int8):"
STARLING_EMBEDDER_PRODUCTS=float measure_index "$work/h1k-float" "$work/vault-1k"

$bin bench vault --notes 5000 --out "$work/vault-5k" >/dev/null
echo "5,000 notes, first index:"; measure_index "$work/h5k" "$work/vault-5k"
echo "5,000 notes, unchanged re-index:"; measure_index "$work/h5k"
echo "5,000 notes, one whole search process (embedder and store opened, one query), best of 5:"
echo "  store on disk: $(du -sh "$work/h5k/data/starling/index" | cut -f1)"
for _ in 1 2 3 4 5; do
    run_in "$work/h5k" /usr/bin/time -f '%e %M' $bin search "planning the quarterly migration" -k 5 --json 2>&1 >/dev/null | tail -n 1
done | sort -n | head -n 1 | awk '{print "  wall_s " $1 ", peak_rss_kb " $2}'
echo "one whole tone process on a one-line file (tokenizer and classifier, no store), best of 5:"
echo "I think it went fine." > "$work/one-line.md"
for _ in 1 2 3 4 5; do
    /usr/bin/time -f '%e %M' $bin tone "$work/one-line.md" 2>&1 >/dev/null | tail -n 1
done | sort -n | head -n 1 | awk '{print "  wall_s " $1 ", peak_rss_kb " $2}'
echo "5,000 notes, kill -9 after 20 s, then rerun:"
# `env` (not the run_in function) so that $! is starling itself, not a subshell around it.
env XDG_DATA_HOME="$work/h5k-killed/data" XDG_CONFIG_HOME="$work/h5k-killed/config" $bin index "$work/vault-5k" >/dev/null 2>&1 &
pid=$!; sleep 20; kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
measure_index "$work/h5k-killed"
python3 - "$work" <<'PY'
import json, subprocess, sys, os
work = sys.argv[1]
def status(home):
    env = dict(os.environ, XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")
    return json.loads(subprocess.check_output(["target/release/starling", "status", "--json"], env=env))
a, b = status(f"{work}/h5k"), status(f"{work}/h5k-killed")
print(f"uninterrupted: {a['files_indexed']} files, {a['chunks']} chunks; killed+rerun: {b['files_indexed']} files, {b['chunks']} chunks; equal: {(a['files_indexed'], a['chunks']) == (b['files_indexed'], b['chunks'])}")
PY
fi

if want search; then
echo "== store: hybrid search latency (k=8, dense + BM25 + heading BM25 lists fused by rank, payloads read after; each list alone; four-word queries)"
$bin bench search --chunks 10000 --optimize | tee "$out/search-10k.json"
$bin bench search --chunks 100000 --optimize | tee "$out/search-100k.json"
fi

if want store; then
echo "== store: the embedded store and a Qdrant server (../shared/bin/qdrant, loopback, gRPC) side by side"
qdrant_bin="${QDRANT_BIN:-../shared/bin/qdrant}"
if [ ! -x "$qdrant_bin" ]; then
    echo "no Qdrant server binary at $qdrant_bin (set QDRANT_BIN); skipping the store section"
else
    qdrant_bin=$(realpath "$qdrant_bin")
    qdir=$(mktemp -d)
    read -r qhttp qgrpc < <(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
    (cd "$qdir" && QDRANT__SERVICE__HOST=127.0.0.1 QDRANT__SERVICE__HTTP_PORT=$qhttp \
        QDRANT__SERVICE__GRPC_PORT=$qgrpc QDRANT__STORAGE__STORAGE_PATH="$qdir/storage" \
        QDRANT__STORAGE__SNAPSHOTS_PATH="$qdir/snapshots" QDRANT__TELEMETRY_DISABLED=true \
        exec "$qdrant_bin" >"$qdir/log" 2>&1) &
    qpid=$!
    for _ in $(seq 300); do curl -sf "http://127.0.0.1:$qhttp/readyz" >/dev/null && break; sleep 0.2; done
    $bin bench store --chunks 10000 --url "http://127.0.0.1:$qgrpc" | tee "$out/store-10k.json"
    $bin bench store --chunks 100000 --url "http://127.0.0.1:$qgrpc" | tee "$out/store-100k.json"
    kill "$qpid"; wait "$qpid" 2>/dev/null || true
    rm -rf "$qdir"
fi
fi

if want star; then
echo "== star: citation recall and invented numbers on tests/fixtures/vault (tests/fixtures/star/expected.toml)"
home="$out/star" && rm -rf "$home" && mkdir -p "$home"
run_in() { XDG_DATA_HOME="$1/data" XDG_CONFIG_HOME="$1/config" "${@:2}"; }
run_in "$home" $bin index tests/fixtures/vault >/dev/null
python3 - "$home" "$bin" <<'PY'
import json, os, subprocess, sys, time, tomllib
home, bin = sys.argv[1], sys.argv[2]
env = dict(os.environ, XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")
expected = tomllib.load(open("tests/fixtures/star/expected.toml", "rb"))["competency"]
sys.path.insert(0, "scripts")
model_label = "model at " + os.environ["STARLING_GENERATOR_URL"] if os.environ.get("STARLING_GENERATOR_URL") else "default model"
for label, extra in (("--no-model", ["--no-model"]), (model_label, [])):
    required = cited_required = invented = dropped = sentences = wrong_no_evidence = 0
    started = time.time()
    for c in expected:
        p = subprocess.run([bin, "star", "--competency", c["name"], "--format", "json", *extra], env=env, capture_output=True, text=True)
        if not c["notes"]:
            wrong_no_evidence += p.returncode != 1
            continue
        draft = json.loads(p.stdout)
        cited = {x["path"] for x in draft["citations"]}
        required += len(c["notes"]); cited_required += sum(n in cited for n in c["notes"])
        dropped += sum("dropped an unsupported sentence" in w for w in draft["warnings"])
        evidence = {e["id"]: e["text"] for e in draft["evidence"]}
        for part, items in draft["sentences"].items():
            for s in items:
                sentences += 1
                check = subprocess.run([bin, "bench", "figures", "--", s["text"], *[evidence[i] for i in s["evidence"]]], capture_output=True, text=True)
                invented += len(json.loads(check.stdout))
    print(f"{label}: citation recall {cited_required}/{required} = {cited_required/required:.2f}; invented figures {invented}; "
          f"sentences kept {sentences}, unsupported sentences dropped {dropped}; no-evidence competencies not refused {wrong_no_evidence}; "
          f"{time.time()-started:.1f} s for {len(expected)} competencies")
PY
fi

if want map; then
echo "== map: recall@3 and false strengths on tests/fixtures/map, then a 25-item ladder over 1,000 synthetic notes"
home="$out/map" && rm -rf "$home" && mkdir -p "$home"
run_in() { XDG_DATA_HOME="$1/data" XDG_CONFIG_HOME="$1/config" "${@:2}"; }
run_in "$home/fixture" $bin index tests/fixtures/vault >/dev/null
python3 - "$home/fixture" "$bin" <<'PY'
import json, os, subprocess, sys, time, tomllib
home, bin = sys.argv[1], sys.argv[2]
env = dict(os.environ, XDG_DATA_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")
expected = tomllib.load(open("tests/fixtures/map/expected.toml", "rb"))
for label, extra in (("--no-model", ["--no-model"]), ("default model", [])):
    started = time.time()
    m = json.loads(subprocess.run([bin, "map", "tests/fixtures/map/rubric.md", "--format", "json", *extra], env=env, capture_output=True, text=True, check=True).stdout)
    found = total = strong = partial = 0
    for item in m["items"]:
        notes = expected[item["id"]]
        top = [e["path"] for e in item["evidence"][:3]]
        if notes:
            total += 1; found += any(n in top for n in notes)
        else:
            strong += item["level"] == "strong"; partial += item["level"] == "partial"
    print(f"{label}: recall@3 {found}/{total} = {found/total:.2f}; no-evidence items rated strong {strong}, partial {partial}; {time.time()-started:.1f} s")
PY
[ -d "$out/index/vault-1k" ] || $bin bench vault --notes 1000 --out "$out/index/vault-1k" >/dev/null
run_in "$home/synthetic" $bin index "$out/index/vault-1k" >/dev/null
for judge in --no-model ""; do
    for pass in cold warm; do
        start=$(date +%s.%N)
        run_in "$home/synthetic" /usr/bin/time -f 'peak_rss_kb %M' $bin map tests/fixtures/map/ladder-25.md --format json $judge > "$home/map.json" 2> "$home/map.err"
        end=$(date +%s.%N)
        python3 -c "import json,sys; m=json.load(open('$home/map.json')); print(f'25 items x 5 candidates, judge {\"${judge:-model}\"}, $pass: {float(\"$end\")-float(\"$start\"):.1f} s, judged {m[\"judged\"]}, from cache {m[\"from_cache\"]}')"
        grep peak_rss_kb "$home/map.err"
    done
done
fi

if want rewrite; then
echo "== rewrite: 20 drafts with the default model"
home="$out/rewrite" && rm -rf "$home" && mkdir -p "$home/drafts"
for i in $(seq -w 1 20); do
    printf -- "---\ntitle: Draft %s\n---\n# Update %s\n\nI just kind of helped with the [[billing-migration|migration]] and I think it went fine, sorry for the delay.\n\n- I was basically responsible for the rollout, which was maybe 3 days late.\n- Sorry again, I will try to do better next time.\n" "$i" "$i" > "$home/drafts/draft-$i.md"
done
XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config" /usr/bin/time -f 'peak_rss_kb %M' $bin rewrite "$home/drafts" --style confident --out "$home/out" --json 2> "$home/err" > "$home/summary.json"
python3 -c "import json; s=json.load(open('$home/summary.json')); n=sum(f['blocks_rewritten'] for f in s['files']); k=sum(f['blocks_kept'] for f in s['files']); print(f\"{s['rewritten']} files in {s['seconds']:.1f} s ({s['seconds']/max(s['rewritten'],1):.2f} s/file, {s['tokens_generated']/s['seconds']:.0f} tokens/s); blocks rewritten {n}, kept by the checks {k}; tone findings {s['tone_findings_before']} -> {s['tone_findings_after']}\")"
grep peak_rss_kb "$home/err"
fi

if want server; then
echo "== the same STAR and rewrite figures through llama.cpp's llama-server (generator.backend openai)"
# Any configured model works the same way: STARLING_GENERATOR_URL=http://127.0.0.1:PORT scripts/bench.sh star rewrite
llama_server=$(bash scripts/llama-server.sh)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$llama_server" -m "$model" --host 127.0.0.1 --port "$port" -t "$threads" --parallel 1 --no-webui > "$out/llama-server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
    grep -q "listening on" "$out/llama-server.log" && break
    sleep 0.5
done
STARLING_GENERATOR_URL="http://127.0.0.1:$port" bash "$0" star rewrite || true
kill "$server_pid"
fi
