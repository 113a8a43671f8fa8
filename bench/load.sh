#!/usr/bin/env bash
# Load benchmark. For each backend (SQLite in a fresh temp dir; then
# PostgreSQL in a fresh database, when one answers on 127.0.0.1:5432):
# a release server on 127.0.0.1, a user, a client_credentials client and an
# API key, then bounded wrk runs (2 threads, 32 connections, 15 s each):
#   GET  /healthz            the HTTP ceiling of this server on this machine
#   GET  /v1/auth/validate   with an API key (format, digest, indexed lookups)
#   POST /oauth/token        client_credentials, Basic auth (ES256 by default)
# and the server's peak resident memory (VmHWM) in each run and since start. Only loopback
# is targeted. The server is stopped, the temp dir removed and the PostgreSQL
# database dropped at the end, whatever happens.
#
# Usage: bash bench/load.sh
#   DURATION=15 CONNECTIONS=32 THREADS=2   wrk settings (seconds, not "15s")
#   BACKENDS="sqlite postgres"              which backends to try
#   PG_URL=postgres://postgres@127.0.0.1:5432   server for the postgres run
#   ALG=ES256                               oauth.signing_algorithm
#   OUT=dir                                 keep wrk's full output and server logs there
# Needs curl, python3 and wrk (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ALG=${ALG:-ES256}
PASSWORD='bench password 1234'

if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --quiet
. bench/lib.sh

# wrk once, bounded, with a summary line: backend, endpoint, req/s, p50, p99,
# non-2xx, socket errors, peak RSS during this run and since start (MiB).
# VmHWM counts from the start (the login's Argon2 hash included): it is kept
# in PEAK, then reset (proc(5), clear_refs "5") so that each run's own peak shows.
PEAK=0
run() { # backend, label, then wrk arguments
    local backend=$1 label=$2 file in_run
    shift 2
    file="$OUT/$backend-${label//[^a-zA-Z0-9]/_}.txt"
    PEAK=$(max "$PEAK" "$(kib VmHWM)")
    echo 5 >"/proc/$SERVER/clear_refs" 2>/dev/null || true
    bounded $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" >"$file"
    in_run=$(kib VmHWM)
    PEAK=$(max "$PEAK" "$in_run")
    awk -v b="$backend" -v l="$label" -v rss="$in_run" -v peak="$PEAK" '
        /Requests\/sec/ {rps=$2}
        /^ +50%/ {p50=$2}
        /^ +99%/ {p99=$2}
        /Non-2xx/ {bad=$NF}
        /Socket errors/ {err=$0; sub(/.*Socket errors: /, "", err)}
        END {printf "| %s | %s | %s | %s | %s | %s | %s | %.1f | %.1f |\n", b, l, rps, p50, p99, bad+0,
            (err=="" ? "-" : err), rss/1024, peak/1024}
    ' "$file" | tee -a "$OUT/summary.md"
}

bench_backend() { # backend, database url
    local backend=$1 client client_id client_secret access key basic status
    PEAK=0
    setup_env "$backend" "$2"
    export PORTCULLIS_OAUTH__SIGNING_ALGORITHM="$ALG"
    printf '%s\n' "$PASSWORD" | "$BIN" user create --email bench@example.com --org Bench >/dev/null
    client=$("$BIN" client create --org Bench --name Bench --grant client_credentials --scope read)
    client_id=$(echo "$client" | awk '/client_id:/ {print $2}')
    client_secret=$(echo "$client" | awk '/client_secret:/ {print $2}')
    start_server "$backend"
    echo "# $backend: idle RSS after start $(($(kib VmRSS) / 1024)) MiB" >&2

    access=$(curl -sf "$BASE/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" | json_field data.access_token)
    key=$(curl -sf "$BASE/v1/api-keys" -H "authorization: Bearer $access" -H 'content-type: application/json' \
        -d '{"name":"bench","scopes":["read"]}' | json_field data.key)
    basic=$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)
    cat >"$WORK/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=read"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
    # Each request must succeed before it is measured: a fast error is not a result.
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" "$BASE/v1/auth/validate")
    [ "$status" = 200 ] || { echo "validate answered $status ($backend)" >&2; exit 1; }
    status=$(curl -s -o /dev/null -w '%{http_code}' -u "$client_id:$client_secret" \
        -d 'grant_type=client_credentials&scope=read' "$BASE/oauth/token")
    [ "$status" = 200 ] || { echo "token answered $status ($backend)" >&2; exit 1; }
    echo "# $backend: before load: RSS $(($(kib VmRSS) / 1024)) MiB, peak $(($(kib VmHWM) / 1024)) MiB" \
        "(the login hashed one password with Argon2)" >&2

    run "$backend" "GET /healthz" "$BASE/healthz"
    run "$backend" "GET /v1/auth/validate (API key)" -H "Authorization: Bearer $key" "$BASE/v1/auth/validate"
    run "$backend" "POST /oauth/token (client_credentials, $ALG)" -s "$WORK/token.lua" "$BASE/oauth/token"
}

echo "$(provenance), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s"
echo "| backend | endpoint | req/s | p50 | p99 | non-2xx | socket errors | peak RSS in run (MiB) | peak RSS since start (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|"
for_each_backend
