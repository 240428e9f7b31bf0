#!/usr/bin/env bash
# The main job on the bundled demo notes: set-up, release build, then index the demo notes,
# search them, draft a cited STAR entry, map them to a small career ladder, and check the tone
# of a meeting draft. The demo's data dir and config live under target/demo, so your own
# index and config are never touched; the demo files are not modified.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked
bin=target/release/starling
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A data dir and config of the demo's own.
export XDG_DATA_HOME="$PWD/target/demo/data" XDG_CONFIG_HOME="$PWD/target/demo/config"
rm -rf target/demo && mkdir -p target/demo

step "doctor: engines and model files"
$bin doctor

step "index: demo/notes into the embedded store (a rerun embeds only what changed)"
$bin index demo/notes
$bin index

step "search: hybrid (dense + BM25) with citations"
$bin search "certificate outage follow-up" -k 3

# star and tone exit 1 when they find problems (that is their job); only 2 means they failed.
allow1() { "$@" || [ $? -eq 1 ]; }

step "star: a STAR entry drafted from the notes, every sentence cited (extractive, deterministic)"
allow1 $bin star --competency "Incident review and outage follow-up" --no-model --yes

step "star: the same, rephrased by the local model and checked (unsupported sentences dropped)"
allow1 $bin star --competency "Incident review and outage follow-up" --yes --format table

step "map: the notes against a small career ladder (strong / partial / none, and the gaps)"
$bin map demo/ladder.md --no-model

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

tone() { allow1 $bin tone "$@"; }

step "tone: rules and classifier check of demo/drafts/pip-meeting-draft.md (pip-response profile)"
tone demo/drafts/pip-meeting-draft.md --profile pip-response

step "tone --fix: the local model rewrites the flagged sentences (file left unchanged)"
tone demo/drafts/pip-meeting-draft.md --fix --format line
