#!/usr/bin/env bash
# Builds the edge worker to Wasm with worker-build, offline, and prints its size.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/edge-worker"

export WASM_BINDGEN_BIN="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/binaryen/bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/@esbuild/linux-x64/bin/esbuild"

"${CARGO_HOME:-$HOME/.cargo}/bin/worker-build" --release
