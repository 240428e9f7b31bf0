#!/usr/bin/env bash
# Benchmarks (figures, never pass/fail): generation against llama.cpp's own llama-bench on the
# same model and thread count, the prompt cache, tone-check speed and quality. Results are
# printed and saved under target/bench/; README's Performance section records them.
# Usage: scripts/bench.sh [generate] [tone] [index] [search] ... (no argument: every section).
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
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
threads="${STARLING_BENCH_THREADS:-$($bin config show --json | python3 -c 'import json,sys; print(next(e["value"] for e in json.load(sys.stdin)["entries"] if e["key"]=="generator.threads"))')}"
[ "$threads" = 0 ] && threads=$(nproc)

echo "== machine"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; threads used: $threads"

if want generate; then
echo "== starling: generation (release build, in process)"
$bin --threads "$threads" bench generate | tee "$out/generate.json"

echo "== llama.cpp llama-bench (same model, same threads)"
lcp_version=0.3.36
bench_dir="$cache/llama-bench-$lcp_version"
llama_bench="$bench_dir/build/bin/llama-bench"
if [ ! -x "$llama_bench" ]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    python3 -m pip download -q --no-binary :all: --no-deps "llama-cpp-python==$lcp_version" -d "$scratch"
    tar xzf "$scratch"/llama_cpp_python-*.tar.gz -C "$scratch"
    src="$scratch/llama_cpp_python-$lcp_version/vendor/llama.cpp"
    cmake -S "$src" -B "$bench_dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
    cmake --build "$bench_dir/build" --target llama-bench -j "$(nproc)" >/dev/null
fi
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
PY
fi

if want tone; then
echo "== tone: rules-only speed (one core)"
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

$bin bench vault --notes 5000 --out "$work/vault-5k" >/dev/null
echo "5,000 notes, first index:"; measure_index "$work/h5k" "$work/vault-5k"
echo "5,000 notes, unchanged re-index:"; measure_index "$work/h5k"
echo "5,000 notes, kill -9 after 20 s, then rerun:"
run_in "$work/h5k-killed" $bin index "$work/vault-5k" >/dev/null 2>&1 &
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
echo "== store: hybrid search latency (k=8, dense + BM25 + heading BM25 prefetch, RRF)"
$bin bench search --chunks 10000 --optimize | tee "$out/search-10k.json"
$bin bench search --chunks 100000 --optimize | tee "$out/search-100k.json"
fi
