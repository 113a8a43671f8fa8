#!/usr/bin/env bash
# Concurrent writes (issue 15): for each backend (SQLite in a fresh temp dir;
# then PostgreSQL in a fresh database, when one answers on 127.0.0.1:5432),
# a release server on 127.0.0.1, one member and one app, then for each mix
# of clients, bounded runs of `examples/write_load.rs`: signed-in
# authorization-code flows (remembered consent, PKCE exchange) beside API-key
# creations. Prints flows/s, keys/s and every failure by kind; the server's
# log is searched for "database is locked" and storage errors afterwards.
#
# Usage: bash bench/writes.sh
#   SECS=5                        seconds per run
#   MIXES="6+4 10+6"              flow clients + key clients, per run
#   BACKENDS="sqlite postgres"    which backends to try
#   PG_URL=postgres://postgres@127.0.0.1:5432
#   OUT=dir                       keep server logs there
# Needs curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-5}
MIXES=${MIXES:-6+4 10+6}
PASSWORD='bench password 1234'
REDIRECT=http://127.0.0.1:9/callback

cargo build --release --quiet --bin portcullis --example write_load
LOAD=$PWD/target/release/examples/write_load
. bench/lib.sh

bench_backend() { # backend, database url
    local backend=$1 client client_id client_secret mix locked
    setup_env "$backend" "$2"
    printf '%s\n' "$PASSWORD" | "$BIN" user create --email bench@example.com --org Bench >/dev/null
    client=$("$BIN" client create --org Bench --name Bench --grant authorization_code --scope read \
        --redirect-uri "$REDIRECT")
    client_id=$(echo "$client" | awk '/client_id:/ {print $2}')
    client_secret=$(echo "$client" | awk '/client_secret:/ {print $2}')
    start_server "$backend"
    for mix in $MIXES; do
        bounded $((SECS + 120)) "$LOAD" --base "$BASE" --client-id="$client_id" --client-secret="$client_secret" \
            --redirect-uri "$REDIRECT" --email bench@example.com --password="$PASSWORD" \
            --flows "${mix%+*}" --keys "${mix#*+}" --secs "$SECS" --label "$backend" | tee -a "$OUT/summary.md"
    done
    locked=$(grep -c -e 'database is locked' -e 'storage error' "$OUT/$backend-server.log" || true)
    echo "# $backend: server log lines with 'database is locked' or 'storage error': $locked" >&2
}

echo "$(provenance), ${SECS}s per run"
echo "| backend | clients (flows + keys) | code flows/s | API keys created/s | failures | failures by kind |"
echo "|---|---|---|---|---|---|"
for_each_backend
