#!/usr/bin/env bash
# Sign-in load benchmark: memory and throughput of password hashing (issue 14).
# A release server on 127.0.0.1 with a fresh SQLite database in a temp dir, one
# user, then bounded wrk runs against POST /v1/auth/login at each concurrency
# (1, 2, 8, 32, 128 connections) with three kinds of sign-in:
#   right     the right password (200, a dashboard session each)
#   wrong     a wrong password for the same account (401)
#   unknown   an email nobody has (401, after the same argon2 work)
# Each run reports sign-ins answered per second (200 + 401), p50 and p99 latency,
# every status seen (503 is the only 5xx allowed: all hashing slots busy past the
# queue deadline), and the server's peak resident memory (VmHWM, reset before each
# run with clear_refs) against the budget max_concurrent × memory_kib + 30 MiB.
# Only loopback is targeted; the server is stopped and the temp dir removed at the
# end, whatever happens. Throttles and rate limits are raised out of the way.
#
# Usage: bash bench/login.sh
#   DURATION=10                       seconds per run (not "10s")
#   CONCURRENCY="1 2 8 32 128"        connections per run
#   KINDS="right wrong unknown"       which sign-ins
#   MAX_CONCURRENT=                   password_hash.max_concurrent (default: cores)
#   MEMORY_KIB=19456 ITERATIONS=2     password_hash cost
#   OUT=dir                           keep wrk's full output and the server log there
#   BIN=path                          measure that binary instead of building this tree, e.g. a
#                                     build of an earlier commit, for a baseline on the same machine
#                                     at the same time (one without password_hash keys: LEGACY=1)
# Needs curl, python3 and wrk (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-1 2 8 32 128}
KINDS=${KINDS:-right wrong unknown}
MEMORY_KIB=${MEMORY_KIB:-19456}
ITERATIONS=${ITERATIONS:-2}
MAX_CONCURRENT=${MAX_CONCURRENT:-$(nproc)}
PASSWORD='bench password 1234'
EMAIL=bench@example.com

if ! command -v wrk >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null || { echo "wrk is missing and could not be installed: skipped" >&2; exit 0; }
fi
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
fi
. bench/lib.sh

# A wrk script posting one sign-in, counting every status across threads.
login_lua() { # email, password
    cat <<LUA
wrk.method = "POST"
wrk.body = '{"email":"$1","password":"$2"}'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for code, n in pairs(t:get("statuses")) do total[code] = (total[code] or 0) + n end
    end
    for code, n in pairs(total) do io.write(string.format("status %d %d\n", code, n)) end
    io.write(string.format("elapsed_us %d\n", summary.duration))
end
LUA
}

BUDGET_KIB=$((MAX_CONCURRENT * MEMORY_KIB + 30 * 1024))
setup_env sqlite "sqlite://$WORK/sqlite/portcullis.db"
base=$BASE
if [ -z "${LEGACY:-}" ]; then
    export PORTCULLIS_PASSWORD_HASH__MEMORY_KIB="$MEMORY_KIB" PORTCULLIS_PASSWORD_HASH__ITERATIONS="$ITERATIONS" \
        PORTCULLIS_PASSWORD_HASH__MAX_CONCURRENT="$MAX_CONCURRENT"
fi
printf '%s\n' "$PASSWORD" | "$BIN" user create --email "$EMAIL" --org Bench >/dev/null
start_server sqlite
status=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}")
[ "$status" = 200 ] || { echo "sign-in answered $status" >&2; exit 1; }
login_lua "$EMAIL" "$PASSWORD" >"$WORK/right.lua"
login_lua "$EMAIL" "not the password 1234" >"$WORK/wrong.lua"
login_lua "nobody@example.com" "$PASSWORD" >"$WORK/unknown.lua"

echo "$(provenance), ${LEGACY:+LEGACY binary $BIN (no bound), }argon2id m=$MEMORY_KIB KiB t=$ITERATIONS p=1," \
    "max_concurrent=$MAX_CONCURRENT, budget $((BUDGET_KIB / 1024)) MiB, wrk ${DURATION}s per run"
echo "# idle RSS after start and one sign-in: $(($(kib VmRSS) / 1024)) MiB, $(ls /proc/$SERVER/task | wc -l) threads"
echo "| sign-in | connections | answered/s | p50 | p99 | statuses | peak RSS in run (MiB) | threads after | within budget |"
echo "|---|---|---|---|---|---|---|---|---|"
PEAK=0
FAILED=0
for kind in $KINDS; do
    for c in $CONCURRENCY; do
        file="$OUT/$kind-$c.txt"
        echo 5 >"/proc/$SERVER/clear_refs" 2>/dev/null || true
        threads=$(( c < 2 ? c : 2 ))
        bounded $((DURATION + 30)) wrk -t"$threads" -c"$c" -d"${DURATION}s" --timeout 30s --latency \
            -s "$WORK/$kind.lua" "$base/v1/auth/login" >"$file"
        in_run=$(kib VmHWM)
        PEAK=$(max "$PEAK" "$in_run")
        tasks=$(ls "/proc/$SERVER/task" | wc -l)
        line=$(awk -v k="$kind" -v c="$c" -v rss="$in_run" -v budget="$BUDGET_KIB" -v tasks="$tasks" '
            /^ +50%/ {p50=$2}
            /^ +99%/ {p99=$2}
            /^status / {n[$2]=$3; if ($2==200 || $2==401) ok+=$3; if ($2>=500 && $2!=503) bad+=$3}
            /^elapsed_us / {secs=$2/1e6}
            END {
                s=""; for (code in n) s=s (s==""?"":", ") code "×" n[code]
                verdict=(rss <= budget && bad == 0) ? "yes" : "NO"
                printf "| %s | %s | %.1f | %s | %s | %s | %.1f | %s | %s |\n", k, c, (secs>0?ok/secs:0), p50, p99, s,
                    rss/1024, tasks, verdict
            }' "$file")
        echo "$line"
        case $line in *"| NO |") FAILED=1 ;; esac
    done
done
echo "# peak RSS over every run: $((PEAK / 1024)) MiB (budget $((BUDGET_KIB / 1024)) MiB)"
exit "$FAILED"
