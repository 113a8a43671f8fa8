#!/usr/bin/env bash
# Contract fuzzing of /v1 from its own OpenAPI document with schemathesis
# (PyPI, pinned), against the debug binary on a fresh SQLite database on
# 127.0.0.1: no 5xx, every status, header and body as documented, 405 for
# undeclared methods, schema-invalid requests refused and schema-valid ones
# served. Every check runs (.ci/schemathesis.toml), on real objects: keys
# the run makes and follows through the document's links (Stateful phase);
# apps, an invitation, two more members and a consent that contract_setup.py
# makes through the API and the pages, whose ids the configuration hands to
# the operations on one object (the destructive ones their own).
#
# Not checked where the server holds a rule that is not the request's shape
# ("schema-valid request rejected", positive_data_acceptance): lists (a
# cursor must name an item of the list), key creation and change (within the
# maker's power, a future expiry, scopes only narrowing; a revoked key is not
# rolled), app registration and change (fields that depend on one another,
# redirect-URI rules). Nor "deleted resource still available" for keys: a
# revoked key stays readable. The configuration says which and why.
#
# Bounded: EXAMPLES cases per operation (default 50), at most 10 minutes
# (about half a minute here). Deterministic: SEED (default 1), no crash
# cache. Leaves nothing behind. Extra arguments go to `schemathesis run`
# (e.g. `--report har`).
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES="${EXAMPLES:-50}"
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
    PORTCULLIS_API__RATE_LIMIT_BURST=60000 PORTCULLIS_API__UNAUTHENTICATED_PER_MINUTE=60000
PASSWORD="contract fuzzing password"
echo "$PASSWORD" | "$BIN" user create --email contract@example.com --org Acme >/dev/null
# Two more members: one to change, one to remove.
for who in changed removed; do
    echo "$PASSWORD" | "$BIN" user create --email "$who@example.com" --org Acme --role DEVELOPER >/dev/null
done
"$BIN" serve >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.1; done
# The objects the operations act on (.ci/schemathesis.toml names them).
OBJECTS=$(python3 .ci/contract_setup.py "$BASE" contract@example.com "$PASSWORD")
eval "$OBJECTS"
timeout 600 "$VENV/bin/schemathesis" --config-file .ci/schemathesis.toml run "$BASE/v1/openapi.json" --url "$BASE" \
    -n "$EXAMPLES" --max-response-time 5 --seed "${SEED:-1}" "$@"
