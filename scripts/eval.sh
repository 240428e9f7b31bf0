#!/usr/bin/env bash
# Quality on an evaluation set (default: the shared dev set), with the release build, a fresh data
# dir per run, for both paths: without the model (--no-model) and with the default model.
#   scripts/eval.sh [SET] [--fast]      --fast: the --no-model path only
# Also scores the project's own labelled sets (data/evalsets/*), which the judges are fitted on.
set -euo pipefail
cd "$(dirname "$0")/.."
set_dir="${1:-../shared/devset}"
[ "${1:-}" = "--fast" ] && set_dir=../shared/devset
fast=0
for a in "$@"; do [ "$a" = "--fast" ] && fast=1; done
cargo build --release --locked -q
echo "== $set_dir, --no-model"
python3 ../shared/quality/quality.py --set "$set_dir" --map-flags=--no-model --star-flags=--no-model --only search,map,star,tone
if [ "$fast" = 0 ]; then
    echo "== $set_dir, default model"
    python3 ../shared/quality/quality.py --set "$set_dir" --only map,star
fi
for s in data/evalsets/*/; do
    echo "== $s (training data for the judges), --no-model"
    python3 ../shared/quality/quality.py --set "$s" --map-flags=--no-model --star-flags=--no-model --only search,map,star
done
