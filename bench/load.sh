#!/usr/bin/env bash
# Load benchmark: a release server on 127.0.0.1 with a fresh SQLite database,
# then bounded wrk runs (2 threads, 32 connections, 15 s each) against
#   GET  /healthz            the HTTP ceiling of this server on this machine
#   GET  /v1/auth/validate   with an API key (format, digest, one indexed lookup)
#   POST /oauth/token        client_credentials (in-memory client, ES256 signing)
# and the server's peak resident memory (VmHWM). Only loopback is targeted;
# the server is stopped at the end whatever happens.
# Usage: bash bench/load.sh            (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
BIN=target/release/portcullis

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export PORTCULLIS_DATA_DIR="$WORK" PORTCULLIS_DATABASE_URL="sqlite://$WORK/p.db" PORTCULLIS_BIND="127.0.0.1:$PORT" \
    PORTCULLIS_ISSUER="$BASE" PORTCULLIS_LOG_LEVEL=warn PORTCULLIS_API__RATE_LIMIT_PER_MINUTE=100000000 \
    PORTCULLIS_API__RATE_LIMIT_BURST=100000000
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

printf 'bench password 1234\n' | $BIN user create --email bench@example.com --org Bench >/dev/null
CLIENT=$($BIN client create --org Bench --name Bench --grant client_credentials --scope read)
CLIENT_ID=$(echo "$CLIENT" | awk '/client_id:/ {print $2}')
CLIENT_SECRET=$(echo "$CLIENT" | awk '/client_secret:/ {print $2}')

$BIN serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done

ACCESS=$(curl -sf "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench password 1234"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')
KEY=$(curl -sf "$BASE/v1/api-keys" -H "authorization: Bearer $ACCESS" -H 'content-type: application/json' \
    -d '{"name":"bench","scopes":["read"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["key"])')

BASIC=$(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)
cat > "$WORK/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $BASIC"
LUA

run() { # name, then wrk arguments
    local name=$1; shift
    echo "== $name"
    wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | grep -E 'Requests/sec|^ +50%|^ +99%|Non-2xx|Socket errors'
}
run "GET /healthz" "$BASE/healthz"
run "GET /v1/auth/validate (API key)" -H "Authorization: Bearer $KEY" "$BASE/v1/auth/validate"
run "POST /oauth/token (client_credentials, ES256)" -s "$WORK/token.lua" "$BASE/oauth/token"
echo "== peak RSS of the server: $(awk '/VmHWM/ {print $2, $3}' /proc/$SERVER/status)"
