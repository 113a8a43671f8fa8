#!/usr/bin/env bash
# The side-by-side benchmark kit (issue 10): one command, 127.0.0.1 only,
# every server started and stopped by the kit, one Markdown table at the end.
#
# In one run, on this machine:
#   ceilings  an actix-web "hello" built with the server's own dependencies
#             (examples/hello.rs), and `openssl speed -multi <cores>` signing
#             with RSA-2048, P-256 and Ed25519;
#   peer      node-oidc-provider (bench/peer, pinned) issuing RFC 9068 JWTs
#             (RS256) by client credentials to a confidential client;
#   portcullis, on SQLite and on PostgreSQL (a fresh database, dropped at the
#             end): client credentials per algorithm, introspection of an
#             access token and of an API key, /v1/auth/validate, the JWKS,
#             refresh-token rotation, the signed-in authorization-code flow
#             with remembered consent (flows/s), password sign-ins, and the
#             time from start to ready.
# Each row gives req/s, p50/p99, non-2xx (0 where success is expected) and
# the peak resident memory of the server under test during that run; each
# portcullis row also its ratio to the ceiling measured in the same run.
#
# Usage: bash bench/kit.sh              about 10 minutes
#   SMOKE=1                             1-second runs of a debug build, SQLite only: proves the
#                                       kit works (.ci/run runs it); its figures mean nothing
#   DURATION=10 CONNECTIONS=16 THREADS=2   wrk settings (seconds, not "10s")
#   BACKENDS="sqlite postgres"          which backends to try
#   PG_URL=postgres://postgres@127.0.0.1:5432
#   OUT=dir                             keep every raw output and server log there
# Needs curl, python3, wrk, openssl, node and npm (wrk is installed with
# apt-get when missing; without node the peer row is skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
    DURATION=${DURATION:-1}
    BACKENDS=${BACKENDS:-sqlite}
    FLOW_SECS=1
    OPENSSL_SECS=1
else
    DURATION=${DURATION:-10}
    FLOW_SECS=${FLOW_SECS:-$DURATION}
    OPENSSL_SECS=${OPENSSL_SECS:-3}
fi
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
PASSWORD='bench password 1234'
EMAIL=bench@example.com
REDIRECT=http://127.0.0.1:9/callback
CORES=$(nproc)

if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
# The smoke proves the kit works, not speed: a debug build (the one the tests made) will do.
PROFILE=release
[ "$SMOKE" = 1 ] && PROFILE=debug
TARGET=${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE
cargo build --quiet $([ "$PROFILE" = release ] && echo --release) --bin portcullis --example hello --example write_load
BIN=$TARGET/portcullis
HELLO=$TARGET/examples/hello
LOAD=$TARGET/examples/write_load
. bench/lib.sh
RESULTS=$OUT/results.tsv
: >"$RESULTS"
OTHER=""

stop_other() {
    if [ -n "$OTHER" ]; then
        kill "$OTHER" 2>/dev/null || true
        wait "$OTHER" 2>/dev/null || true
        OTHER=""
    fi
}
trap 'stop_other; cleanup' EXIT

hwm_mib() { awk '$1 == "VmHWM:" {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

wait_ready() { # url
    for _ in $(seq 1 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
    echo "nothing answered at $1" >&2
    exit 1
}

# Records one result: scenario, backend, req/s, p50, p99, non-2xx, peak RSS (MiB).
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

# wrk once, bounded, against the process PID; records the result.
measure() { # scenario, backend, pid, then wrk arguments
    local scenario=$1 backend=$2 pid=$3 file
    shift 3
    file="$OUT/$backend-${scenario//[^a-zA-Z0-9]/_}.txt"
    reset_hwm "$pid"
    bounded $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" >"$file"
    read -r rps p50 p99 bad < <(awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
        /Non-2xx/ {bad=$NF} END {print rps+0, p50, p99, bad+0}' "$file")
    record "$scenario" "$backend" "$rps" "$p50" "$p99" "$bad" "$(hwm_mib "$pid")"
}

# One request that must succeed before its load is measured: a fast error is not a result.
expect() { # status, curl arguments...
    local want=$1 got
    shift
    got=$(curl -s -o "$WORK/expect.out" -w '%{http_code}' "$@")
    if [ "$got" != "$want" ]; then
        echo "expected $want, got $got: $* -> $(head -c 300 "$WORK/expect.out")" >&2
        exit 1
    fi
}

post_lua() { # file, body, extra header line
    printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Content-Type"] = "%s"\n%s\n' "$2" "$3" "$4" >"$1"
}

ceilings() {
    local port line
    port=$(free_port)
    PORT=$port "$HELLO" >/dev/null 2>&1 &
    OTHER=$!
    wait_ready "http://127.0.0.1:$port/"
    measure "ceiling: actix-web hello" - "$OTHER" "http://127.0.0.1:$port/"
    stop_other

    openssl speed -mr -seconds "$OPENSSL_SECS" -multi "$CORES" rsa2048 ecdsap256 ed25519 2>/dev/null \
        >"$OUT/openssl.txt" || true
    # +F2:i:bits:sign/s:verify/s (RSA), +F4 (ECDSA), +F6:i:bits:name:sign/s:verify/s (EdDSA).
    while IFS=: read -r tag _ _ a b c; do
        case $tag in
            +F2) record "ceiling: openssl RSA-2048 sign" - "$a" - - - - ;;
            +F4) record "ceiling: openssl P-256 sign" - "$a" - - - - ;;
            +F6) record "ceiling: openssl Ed25519 sign" - "$b" - - - - ;;
        esac
        : "$c"
    done <"$OUT/openssl.txt"
}

peer() {
    local port secret basic
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "# peer: node or npm missing, skipped" >&2
        return
    fi
    (cd bench/peer && npm ci --no-audit --no-fund --silent >/dev/null 2>"$OUT/peer-npm.log") || {
        echo "# peer: npm ci failed (see $OUT/peer-npm.log), skipped" >&2
        return
    }
    port=$(free_port)
    secret=$(head -c 32 /dev/urandom | base64 -w0 | tr -d '/+=')
    PORT=$port CLIENT_SECRET=$secret node bench/peer/server.js >"$OUT/peer.log" 2>&1 &
    OTHER=$!
    wait_ready "http://127.0.0.1:$port/.well-known/openid-configuration"
    basic=$(printf 'bench:%s' "$secret" | base64 -w0)
    expect 200 -u "bench:$secret" -d 'grant_type=client_credentials&scope=read' "http://127.0.0.1:$port/token"
    post_lua "$WORK/peer.lua" "grant_type=client_credentials&scope=read" application/x-www-form-urlencoded \
        "wrk.headers[\"Authorization\"] = \"Basic $basic\""
    measure "peer: node-oidc-provider client credentials RS256" - "$OTHER" -s "$WORK/peer.lua" \
        "http://127.0.0.1:$port/token"
    stop_other
}

# The server with access tokens signed with ALG; records its start-to-ready time.
restart_as() { # backend, algorithm
    stop_server
    export PORTCULLIS_OAUTH__SIGNING_ALGORITHM=$2
    local t0
    t0=$(date +%s%N)
    "$BIN" serve 2>>"$OUT/$1-server.log" &
    SERVER=$!
    wait_ready "$BASE/readyz"
    READY_MS=$((($(date +%s%N) - t0) / 1000000))
}

bench_backend() { # backend, database url
    local backend=$1 cc cc_id cc_secret rs rs_id rs_secret app app_id app_secret access key token alg json
    setup_env "$backend" "$2"
    printf '%s\n' "$PASSWORD" | "$BIN" user create --email "$EMAIL" --org Bench >/dev/null
    cc=$("$BIN" client create --org Bench --name Machine --grant client_credentials --scope read)
    cc_id=$(echo "$cc" | awk '/client_id:/ {print $2}')
    cc_secret=$(echo "$cc" | awk '/client_secret:/ {print $2}')
    rs=$("$BIN" client create --org Bench --name API --grant client_credentials --scope read --resource-server)
    rs_id=$(echo "$rs" | awk '/client_id:/ {print $2}')
    rs_secret=$(echo "$rs" | awk '/client_secret:/ {print $2}')
    app=$("$BIN" client create --org Bench --name App --grant authorization_code --grant refresh_token \
        --scope read --scope offline_access --redirect-uri "$REDIRECT")
    app_id=$(echo "$app" | awk '/client_id:/ {print $2}')
    app_secret=$(echo "$app" | awk '/client_secret:/ {print $2}')

    # First start: migrations and a key per algorithm; the restarts below are ordinary starts.
    restart_as "$backend" ES256
    record "start to ready, first start: migrations, a key per algorithm (ms)" "$backend" "$READY_MS" - - - \
        "$(hwm_mib "$SERVER")"
    restart_as "$backend" ES256
    record "start to ready (ms)" "$backend" "$READY_MS" - - - "$(hwm_mib "$SERVER")"

    access=$(curl -sf "$BASE/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" | json_field data.access_token)
    key=$(curl -sf "$BASE/v1/api-keys" -H "authorization: Bearer $access" -H 'content-type: application/json' \
        -d '{"name":"bench","scopes":["read"]}' | json_field data.key)
    token=$(curl -sf -u "$cc_id:$cc_secret" -d 'grant_type=client_credentials&scope=read' "$BASE/oauth/token" |
        json_field access_token)

    post_lua "$WORK/cc.lua" "grant_type=client_credentials&scope=read" application/x-www-form-urlencoded \
        "wrk.headers[\"Authorization\"] = \"Basic $(printf '%s:%s' "$cc_id" "$cc_secret" | base64 -w0)\""
    for alg in ES256 EdDSA RS256; do
        [ "$alg" = ES256 ] || restart_as "$backend" "$alg"
        expect 200 -u "$cc_id:$cc_secret" -d 'grant_type=client_credentials&scope=read' "$BASE/oauth/token"
        measure "client credentials $alg" "$backend" "$SERVER" -s "$WORK/cc.lua" "$BASE/oauth/token"
    done
    restart_as "$backend" ES256

    local rs_basic
    rs_basic="wrk.headers[\"Authorization\"] = \"Basic $(printf '%s:%s' "$rs_id" "$rs_secret" | base64 -w0)\""
    expect 200 -u "$rs_id:$rs_secret" -d "token=$token" "$BASE/oauth/introspect"
    grep -q '"active":true' "$WORK/expect.out" || { echo "introspection: token not active" >&2; exit 1; }
    post_lua "$WORK/introspect-at.lua" "token=$token" application/x-www-form-urlencoded "$rs_basic"
    measure "introspection, ES256 access token" "$backend" "$SERVER" -s "$WORK/introspect-at.lua" \
        "$BASE/oauth/introspect"
    expect 200 -u "$rs_id:$rs_secret" -d "token=$key" "$BASE/oauth/introspect"
    grep -q '"active":true' "$WORK/expect.out" || { echo "introspection: API key not active" >&2; exit 1; }
    post_lua "$WORK/introspect-key.lua" "token=$key" application/x-www-form-urlencoded "$rs_basic"
    measure "introspection, API key" "$backend" "$SERVER" -s "$WORK/introspect-key.lua" "$BASE/oauth/introspect"

    expect 200 -H "Authorization: Bearer $key" "$BASE/v1/auth/validate"
    measure "/v1/auth/validate, API key" "$backend" "$SERVER" -H "Authorization: Bearer $key" \
        "$BASE/v1/auth/validate"
    # The same with cache.strict: the database read on every request, as before the cache.
    PORTCULLIS_CACHE__STRICT=true restart_as "$backend" ES256
    expect 200 -H "Authorization: Bearer $key" "$BASE/v1/auth/validate"
    measure "/v1/auth/validate, API key, cache.strict" "$backend" "$SERVER" -H "Authorization: Bearer $key" \
        "$BASE/v1/auth/validate"
    restart_as "$backend" ES256
    expect 200 "$BASE/.well-known/jwks.json"
    measure "JWKS" "$backend" "$SERVER" "$BASE/.well-known/jwks.json"

    # Sign-ins: Argon2 at its configured cost, the right password each time.
    post_lua "$WORK/login.lua" "{\\\"email\\\":\\\"$EMAIL\\\",\\\"password\\\":\\\"$PASSWORD\\\"}" \
        application/json ""
    measure "password sign-ins (Argon2, configured cost)" "$backend" "$SERVER" -s "$WORK/login.lua" \
        "$BASE/v1/auth/login"

    # Chained requests (a code per flow, a new refresh token per rotation): the kit's own client.
    reset_hwm "$SERVER"
    json=$(bounded $((FLOW_SECS + 120)) "$LOAD" --base "$BASE" --client-id="$app_id" --client-secret="$app_secret" \
        --redirect-uri "$REDIRECT" --email "$EMAIL" --password="$PASSWORD" --flows 0 --keys 0 \
        --refreshes "$CONNECTIONS" --secs "$FLOW_SECS" --json)
    record "refresh-token rotation" "$backend" "$(echo "$json" | json_field refreshes_per_sec)" - - \
        "$(echo "$json" | json_field failures)" "$(hwm_mib "$SERVER")"
    reset_hwm "$SERVER"
    json=$(bounded $((FLOW_SECS + 120)) "$LOAD" --base "$BASE" --client-id="$app_id" --client-secret="$app_secret" \
        --redirect-uri "$REDIRECT" --email "$EMAIL" --password="$PASSWORD" --flows "$CONNECTIONS" --keys 0 \
        --secs "$FLOW_SECS" --json)
    record "authorization-code flows (authorize → code → token), flows/s" "$backend" \
        "$(echo "$json" | json_field flows_per_sec)" - - "$(echo "$json" | json_field failures)" "$(hwm_mib "$SERVER")"
}

ceilings
peer
for_each_backend

echo "$(provenance), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s$([ "$SMOKE" = 1 ] && echo ', SMOKE (figures meaningless)')"
python3 bench/kit_table.py "$RESULTS" "$CORES" $([ "$SMOKE" = 1 ] && echo --strict)
