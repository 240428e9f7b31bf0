#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), then format/lint checks and every test against
# the real engines. This is the command README.md shows and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

STARLING_SETUP_TESTS=1 bash scripts/setup.sh
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The OpenAI-compatibility test talks to the server with the official `openai` Python client,
# from a virtualenv of its own.
venv=target/test-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import openai' 2>/dev/null || "$venv/bin/python" -m pip install -q 'openai>=1,<3'
export STARLING_TEST_PYTHON="$PWD/$venv/bin/python"
# The generator-server tests run every path through llama.cpp's own llama-server, built from
# source once into the cache (about 7 minutes on 2 cores the first time).
STARLING_TEST_LLAMA_SERVER="$(bash scripts/llama-server.sh)"
export STARLING_TEST_LLAMA_SERVER
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --all-targets
# The HTTP API against its own OpenAPI document, briefly (scripts/fuzz-api.sh SECONDS runs longer).
bash scripts/fuzz-api.sh 120 "${CARGO_TARGET_DIR:-target}/debug/starling"
# The shipped evidence judge is exactly what its fitting script makes of the kept features.
python3 scripts/train-evidence-judge.py --features-from data/evalsets/judge-features.json --check
# The labelled sets' truth files are well formed (every quoted claim in its draft, every cited
# line and note present), ours to fit on and the held-out ones alike.
for sets in data/evalsets data/heldout; do
    python3 data/evalsets/check_audit_truth.py "$sets"
    python3 data/evalsets/check_stories_truth.py "$sets"
done
