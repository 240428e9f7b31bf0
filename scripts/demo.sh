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

step "generate: one bullet from demo/notes/2025-03-worklog.md, rewritten for a self-review"
bullet=$(grep -m1 'Shipped on 14 March' demo/notes/2025-03-worklog.md | sed 's/^- //')
$bin generate --max-tokens 60 --temperature 0 \
    --system "You rewrite work-log bullets as one first-person sentence for a self-review. Keep every fact and number; add nothing." \
    "$bullet"

step "generate --json-schema: the same bullet as structured data (validated against the schema)"
schema=$(mktemp --suffix=.json)
trap 'rm -f "$schema"' EXIT
cat > "$schema" <<'JSON'
{"type": "object",
 "properties": {"deliverable": {"type": "string"}, "date": {"type": "string"}, "ahead_of_plan": {"type": "boolean"}},
 "required": ["deliverable", "date", "ahead_of_plan"]}
JSON
$bin generate --max-tokens 80 --json-schema "$schema" "Extract the deliverable, its date and whether it was ahead of plan: $bullet"

# tone exits 1 when it finds errors (that is its job); only 2 means it failed.
tone() { $bin tone "$@" || [ $? -eq 1 ]; }

step "tone: rules check of demo/drafts/pip-meeting-draft.md (pip-response profile)"
tone demo/drafts/pip-meeting-draft.md --profile pip-response

step "tone --fix: the local model rewrites the flagged sentences (file left unchanged)"
tone demo/drafts/pip-meeting-draft.md --fix --format line
