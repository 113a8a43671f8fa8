#!/usr/bin/env bash
# Instructions per request under callgrind: repeatable on a shared machine,
# where req/s is not. One release server (one worker) on SQLite under
# valgrind, a warm-up, the counters zeroed, wrk for SECS seconds, the
# counters dumped; instructions / completed requests. Kernel time is not
# counted (callgrind sees user space only), so compare these figures with
# each other (and with the hello route's), not with req/s.
#
# Usage: bash bench/callgrind.sh [SCENARIO...]   default: hello cc-ES256 cc-EdDSA introspect-ES256
#   scenarios: hello, cc-ALG (client credentials), introspect-ALG (an access token), ALG in ES256 EdDSA RS256
#   SECS=20   OUT=dir (keeps the callgrind files; `callgrind_annotate --inclusive=yes FILE` reads one)
# Needs valgrind, wrk, curl, python3; builds the release binary and examples/hello.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-20}
SCENARIOS=${*:-hello cc-ES256 cc-EdDSA introspect-ES256}
cargo build --quiet --release --bin portcullis --example hello
TARGET=${CARGO_TARGET_DIR:-$PWD/target}/release
BIN=$TARGET/portcullis
. bench/lib.sh
VG=""
trap '[ -n "$VG" ] && kill "$VG" 2>/dev/null; cleanup' EXIT

setup_env sqlite "sqlite://$WORK/sqlite/portcullis.db"
printf 'bench password 1234\n' | "$BIN" user create --email bench@example.com --org Bench >/dev/null
field() { awk -v f="$1:" '$1 == f {print $2}'; }
cc=$("$BIN" client create --org Bench --name Machine --grant client_credentials --scope read)
rs=$("$BIN" client create --org Bench --name API --grant client_credentials --scope read --resource-server)
cc_basic=$(printf '%s:%s' "$(echo "$cc" | field client_id)" "$(echo "$cc" | field client_secret)" | base64 -w0)
rs_basic=$(printf '%s:%s' "$(echo "$rs" | field client_id)" "$(echo "$rs" | field client_secret)" | base64 -w0)
lua() { # body, basic credentials
    printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Authorization"] = "Basic %s"\n' \
        "$1" "$2" >"$WORK/load.lua"
}

for scenario in $SCENARIOS; do
    out="$OUT/callgrind.$scenario"
    alg=${scenario#*-}
    if [ "$scenario" = hello ]; then
        PORT=$PORT valgrind --tool=callgrind --callgrind-out-file="$out" "$TARGET/examples/hello" \
            >/dev/null 2>"$OUT/$scenario.valgrind.log" &
        VG=$!
        url="$BASE/"
        ready="$BASE/"
        : >"$WORK/load.lua"
    else
        PORTCULLIS_WORKERS=1 PORTCULLIS_OAUTH__SIGNING_ALGORITHM=$alg valgrind --tool=callgrind \
            --callgrind-out-file="$out" "$BIN" serve >/dev/null 2>"$OUT/$scenario.valgrind.log" &
        VG=$!
        ready="$BASE/readyz"
    fi
    for _ in $(seq 1 600); do curl -sf -o /dev/null "$ready" && break; sleep 0.2; done
    case $scenario in
        hello) ;;
        cc-*)
            lua "grant_type=client_credentials&scope=read" "$cc_basic"
            url="$BASE/oauth/token"
            ;;
        introspect-*)
            token=$(curl -sf -H "Authorization: Basic $cc_basic" -d 'grant_type=client_credentials&scope=read' \
                "$BASE/oauth/token" | json_field access_token)
            lua "token=$token" "$rs_basic"
            url="$BASE/oauth/introspect"
            ;;
        *) echo "unknown scenario $scenario" >&2; exit 2 ;;
    esac
    wrk -t1 -c4 -d3s -s "$WORK/load.lua" "$url" >/dev/null
    callgrind_control -z "$VG" >/dev/null 2>&1
    wrk -t1 -c4 -d"${SECS}s" -s "$WORK/load.lua" "$url" >"$OUT/$scenario.wrk.txt"
    callgrind_control -d "$VG" >/dev/null 2>&1
    kill "$VG"
    wait "$VG" 2>/dev/null || true
    VG=""
    if grep -q Non-2xx "$OUT/$scenario.wrk.txt"; then
        echo "$scenario: some answers were not 2xx" >&2
        exit 1
    fi
    requests=$(awk '/requests in/ {print $1}' "$OUT/$scenario.wrk.txt")
    dump=$(ls -t "$out".* | head -1)
    instructions=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    printf '%-20s %8d requests %14d instructions %9d per request\n' "$scenario" "$requests" "$instructions" \
        $((instructions / requests))
done
