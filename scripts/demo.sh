#!/usr/bin/env bash
# The main job on the bundled demo notes: set-up, release build, then generation from a note,
# structured output, and a tone check (rules, then the model's rewrite loop) of a meeting draft.
# Nothing is written outside target/ and the model cache; the demo files are not modified.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked
bin=target/release/starling
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "doctor: engines and model files"
$bin doctor

step "generate: what did I ship in March? (from demo/notes/2025-03-worklog.md)"
$bin generate --max-tokens 120 --temperature 0 \
    --system "You summarise work notes for a self-review. Use only facts in the notes; keep every number." \
    "Notes:
$(cat demo/notes/2025-03-worklog.md)

In two sentences, what did I deliver in March?"

step "generate --json-schema: the same note as structured data"
schema=$(mktemp --suffix=.json)
trap 'rm -f "$schema"' EXIT
cat > "$schema" <<'JSON'
{"type": "object",
 "properties": {"deliverables": {"type": "array", "minItems": 1, "maxItems": 3,
   "items": {"type": "object", "properties": {"what": {"type": "string"}, "when": {"type": "string"}},
             "required": ["what", "when"]}}},
 "required": ["deliverables"]}
JSON
$bin generate --max-tokens 200 --json-schema "$schema" \
    "From these notes, list what was delivered and when, as JSON.
$(sed -n '/## Billing migration/,/## Reliability/p' demo/notes/2025-03-worklog.md)"

# tone exits 1 when it finds errors (that is its job); only 2 means it failed.
tone() { $bin tone "$@" || [ $? -eq 1 ]; }

step "tone: rules check of demo/drafts/pip-meeting-draft.md (pip-response profile)"
tone demo/drafts/pip-meeting-draft.md --profile pip-response

step "tone --fix: the local model rewrites the flagged sentences (file left unchanged)"
tone demo/drafts/pip-meeting-draft.md --fix --format line
