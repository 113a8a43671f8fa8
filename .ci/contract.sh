#!/usr/bin/env bash
# Contract fuzzing of /v1 from its own OpenAPI document with schemathesis
# (PyPI, pinned), against the debug binary on a fresh SQLite database on
# 127.0.0.1: no 5xx, every status, header and body as documented, 405 for
# undeclared methods. Bounded: EXAMPLES cases per operation (default 15),
# at most 10 minutes. Leaves nothing behind.
#
# Not checked: "schema-valid request rejected" (positive_data_acceptance).
# Some rules are not schema: a cursor must name an object of the list, a
# key's scopes must be held by its maker, logout takes a dashboard session.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${EXAMPLES:-15}"
VENV=target/schemathesis-venv
# A venv copied or moved from elsewhere keeps its old paths: made again.
"$VENV/bin/schemathesis" --version >/dev/null 2>&1 \
    || { rm -rf "$VENV" && python3 -m venv "$VENV" && "$VENV/bin/pip" install -q schemathesis==4.32.5; }
BIN=target/debug/portcullis
[ -x "$BIN" ] || cargo build --quiet
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
export PORTCULLIS_DATABASE_URL="sqlite://$DIR/p.db" PORTCULLIS_DATA_DIR="$DIR/data" PORTCULLIS_BIND="127.0.0.1:$PORT" \
    PORTCULLIS_ISSUER="$BASE" PORTCULLIS_LOG_LEVEL=warn PORTCULLIS_API__RATE_LIMIT_PER_MINUTE=60000 \
    PORTCULLIS_API__RATE_LIMIT_BURST=60000
PASSWORD="contract fuzzing password"
echo "$PASSWORD" | "$BIN" user create --email contract@example.com --org Acme >/dev/null
"$BIN" serve >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.1; done
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
SESSION=$(curl -fs -X POST "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"contract@example.com\",\"password\":\"$PASSWORD\"}" | json '["data"]["access_token"]')
KEY=$(curl -fs -X POST "$BASE/v1/api-keys" -H "authorization: Bearer $SESSION" -H 'content-type: application/json' \
    -d '{"name":"contract","scopes":["read","write","delete","admin","webhook"]}' | json '["data"]["key"]')
timeout 600 "$VENV/bin/schemathesis" run "$BASE/v1/openapi.json" --url "$BASE" \
    -H "Authorization: Bearer $KEY" -n "$EXAMPLES" --checks all \
    --exclude-checks positive_data_acceptance --max-response-time 5 --seed "${SEED:-1}"
