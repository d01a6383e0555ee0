#!/usr/bin/env bash
# Starts the whole system locally: the origin on SQLite (127.0.0.1:8080) and the worker under
# `wrangler dev` in front of it (127.0.0.1:8787). Prints a demo tenant and API key.
# Local state lives in .dev/ (delete it to start over). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .dev

ORIGIN_LISTEN=127.0.0.1:8080
EDGE_PORT=8787

# Secrets for local runs only, made once and kept in .dev/ (never committed).
if [ ! -f .dev/secrets.env ]; then
  {
    echo "EDGE_SHARED_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    echo "MASTER_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
  } > .dev/secrets.env
  chmod 600 .dev/secrets.env
fi
set -a; . .dev/secrets.env; set +a
export DATA_DIR="$PWD/.dev/data" ORIGIN_LISTEN PUBLIC_BASE_URL="http://127.0.0.1:$EDGE_PORT"
# Local shops and platform fakes run on this machine; production allows no private address.
export OUTBOUND_ALLOW_HOSTS="${OUTBOUND_ALLOW_HOSTS:-127.0.0.1,::1}"

echo "==> building the origin"
cargo build -q -p origin
origin=target/debug/origin

cleanup() { [ -n "${origin_pid:-}" ] && kill "$origin_pid" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$origin" serve > .dev/origin.log 2>&1 &
origin_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://$ORIGIN_LISTEN/healthz" > /dev/null 2>&1 && break
  kill -0 "$origin_pid" 2>/dev/null || { cat .dev/origin.log; exit 1; }
  sleep 0.1
done
echo "==> origin on http://$ORIGIN_LISTEN (log: .dev/origin.log)"

# The key is shown once at creation; local runs keep it in .dev/ so it can be printed again.
if [ ! -f .dev/demo-tenant.json ]; then
  "$origin" admin create-tenant --name "Demo shop" --tokens 100 > .dev/demo-tenant.json
fi
tenant_id=$(sed -n 's/.*"tenant_id" *: *"\([^"]*\)".*/\1/p' .dev/demo-tenant.json)
api_key=$(sed -n 's/.*"api_key" *: *"\([^"]*\)".*/\1/p' .dev/demo-tenant.json)
echo "==> demo tenant: $tenant_id"
echo "    API key:     $api_key"
echo "    try:         curl -H 'Authorization: Bearer $api_key' http://127.0.0.1:$EDGE_PORT/api/v1/tenant"

echo "==> worker on http://127.0.0.1:$EDGE_PORT"
wrangler dev --ip 127.0.0.1 --port "$EDGE_PORT" --inspector-port 9787 \
  --show-interactive-dev-session=false --persist-to .dev/wrangler-state \
  --var "ORIGIN_URL:http://$ORIGIN_LISTEN" --var "EDGE_SHARED_SECRET:$EDGE_SHARED_SECRET"
