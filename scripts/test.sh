#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), then format/lint checks and every test against
# the real engines. This is the command README.md shows and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

STARLING_SETUP_TESTS=1 bash scripts/setup.sh
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --all-targets
