#!/usr/bin/env bash
# Prints the built worker's Wasm size, raw and gzip (the Workers limit is on compressed bytes).
set -euo pipefail
cd "$(dirname "$0")/../edge-worker"
wasm=$(ls build/*.wasm | head -n1)
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
printf 'worker wasm: %s raw %d bytes (%d KiB), gzip %d bytes (%d KiB)\n' \
  "edge-worker/$wasm" "$raw" $((raw / 1024)) "$gz" $((gz / 1024))
