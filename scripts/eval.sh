#!/usr/bin/env bash
# Quality on an evaluation set (default: the shared dev set), with the release build, a fresh data
# dir per run, for both paths: without the model (--no-model) and with the default model.
#   scripts/eval.sh [SET] [--fast]      --fast: the --no-model path only
# Also scores the project's own labelled sets (data/evalsets/*), which the judges are fitted on,
# our held-out sets (data/heldout/*), which nothing is fitted on, and the tone checker on our own whole documents (data/tone/scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
set_dir="${1:-../shared/devset}"
[ "${1:-}" = "--fast" ] && set_dir=../shared/devset
fast=0
for a in "$@"; do [ "$a" = "--fast" ] && fast=1; done
cargo build --release --locked -q
echo "== $set_dir, --no-model"
python3 ../shared/quality/quality.py --set "$set_dir" --map-flags=--no-model --star-flags=--no-model --only search,map,star,tone,audit,stories
if [ "$fast" = 0 ]; then
    echo "== $set_dir, default model"
    python3 ../shared/quality/quality.py --set "$set_dir" --only map,star
fi
for s in data/evalsets/*/; do
    echo "== $s (training data for the judges), --no-model"
    python3 ../shared/quality/quality.py --set "$s" --map-flags=--no-model --star-flags=--no-model --only search,map,star,audit,stories
done
# Held-out sets of our own, written by helpers who never read the code, our other sets
# or the dev set: scored, never fitted on (no training script reads them).
for s in data/heldout/*/; do
    echo "== $s (held out), --no-model"
    python3 ../shared/quality/quality.py --set "$s" --map-flags=--no-model --star-flags=--no-model --only search,map,star,audit,stories
done
# Whole documents of our own (data/tone/scripts, never trained on); the cases part is the
# project's tone fixture (tests/fixtures/tone/labelled.tsv), which the rules were written beside.
cases=$(mktemp --suffix=.jsonl)
python3 - "$cases" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("\t", 1) for l in open("tests/fixtures/tone/labelled.tsv") if l.strip() and not l.startswith("#")]
with open(sys.argv[1], "w") as out:
    for i, (label, text) in enumerate(rows):
        labels = [] if label == "neutral" else label.split(",")
        out.write(json.dumps({"id": f"f{i}", "text": text, "labels": labels}) + "\n")
PY
echo "== tests/fixtures/tone (cases) and data/tone/scripts (whole documents of our own)"
python3 ../shared/quality/score_tone.py --parser starling-json \
    --cmd "target/release/starling tone --format json {file}" --cases "$cases" --scripts data/tone/scripts \
    | tail -n 1
rm -f "$cases"
