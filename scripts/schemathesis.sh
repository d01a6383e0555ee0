#!/usr/bin/env bash
# `make schemathesis`: builds the origin and the runner, then runs them in a network namespace
# of their own with only loopback in it. schemathesis makes up connections (store URLs, eBay
# and Etsy tokens) that the origin then calls; inside the namespace no such call can leave the
# machine, whatever host name or address was generated.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p origin
cargo build --quiet -p e2e --bin schemathesis

if ! unshare -n true 2>/dev/null; then
  echo "schemathesis: cannot make a network namespace (unshare -n needs root); not running it unconfined" >&2
  exit 1
fi
exec unshare -n bash -c 'ip link set lo up && exec cargo run --quiet --offline -p e2e --bin schemathesis -- "$@"' schemathesis "$@"
