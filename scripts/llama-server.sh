#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` (an OpenAI-compatible server) from the llama.cpp sources
# vendored in the llama-cpp-python sdist on PyPI (no other source is reachable), once, into the
# cache, and prints the binary's path. The integration tests and scripts/bench.sh serve the
# default GGUF with it to check Starling's `generator.backend = "openai"` path against a real
# server. Usage: scripts/llama-server.sh   (prints e.g. ~/.cache/starling/llama-server-0.3.36-native-noamx/bin/llama-server)
# `scripts/llama-server.sh llama-bench` builds and prints llama.cpp's llama-bench the same way
# (scripts/bench.sh compares generation speed with it).
set -euo pipefail
tool="${1:-llama-server}"
case "$tool" in
    llama-server | llama-bench) ;;
    *) echo "llama-server.sh: builds llama-server or llama-bench, not '$tool'" >&2; exit 2 ;;
esac
version=0.3.36
# The build options are part of the cache key: change them, change the folder name.
flavour=native
# No Intel AMX kernels (the reason is in .cargo/config.toml): on x86-64, -mno-amx-* wins over
# -march=native; other architectures have no such flags.
cflags=()
if [ "$(uname -m)" = x86_64 ]; then
    flavour=native-noamx
    noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    cflags=(-DCMAKE_C_FLAGS="$noamx" -DCMAKE_CXX_FLAGS="$noamx")
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/starling"
dir="$cache/$tool-$version-$flavour"
bin="$dir/bin/$tool"
if [ ! -x "$bin" ]; then
    command -v cmake >/dev/null || { echo "llama-server.sh: cmake is missing; run scripts/setup.sh" >&2; exit 2; }
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    echo "llama-server.sh: building $tool $version (once; a few minutes on 2 cores)" >&2
    python3 -m pip download -q --no-binary :all: --no-deps "llama-cpp-python==$version" -d "$scratch"
    tar xzf "$scratch"/llama_cpp_python-*.tar.gz -C "$scratch"
    src="$scratch/llama_cpp_python-$version/vendor/llama.cpp"
    # Tuned for this CPU (-march=native), as llama-cpp-2 builds Starling's own copy: the
    # generic x86-64 build is ten times slower, too slow for tests.
    cmake -S "$src" -B "$scratch/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON ${cflags[@]+"${cflags[@]}"} \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF >/dev/null
    cmake --build "$scratch/build" --target "$tool" -j "$(nproc)" >/dev/null
    mkdir -p "$dir/bin.tmp"
    cp "$scratch/build/bin/$tool" "$dir/bin.tmp/"
    rm -rf "$dir/bin"
    mv "$dir/bin.tmp" "$dir/bin"
fi
echo "$bin"
