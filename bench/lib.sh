# Shared by the bench scripts (sourced, not run): a work dir removed at the
# end, a release server on 127.0.0.1 per backend with a fresh data dir (and
# a fresh PostgreSQL database, dropped at the end), stopped whatever happens.
#
# The sourcing script sets BACKENDS (default "sqlite postgres") and PG_URL
# (default postgres://postgres@127.0.0.1:5432), defines
#   bench_backend BACKEND DATABASE_URL
# and calls for_each_backend. Inside bench_backend: PORT and BASE are set,
# setup_env exports the server's settings, start_server runs it, and kib
# reads its /proc status (VmRSS, VmHWM) in KiB.

BACKENDS=${BACKENDS:-sqlite postgres}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BIN=${BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/portcullis}
WORK=$(mktemp -d)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
SERVER=""
CHILD=""
PG_DB=""

stop_server() {
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
        SERVER=""
    fi
}
cleanup() {
    if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; fi
    stop_server
    if [ -n "$PG_DB" ]; then
        psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
json_field() { # path like data.key
    python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"
}
kib() { awk -v f="$1" '$1 == f":" {print $2}' "/proc/$SERVER/status"; }
max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# Runs a bounded command in the background, so that a signal stops it at once.
bounded() { # seconds, command...
    local secs=$1
    shift
    timeout "$secs" "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return $rc
}

# The server's settings for BACKEND at DATABASE_URL, on a free port, with
# rate limits and sign-in throttles out of the way of the load.
setup_env() { # backend, database url
    PORT=$(free_port)
    BASE="http://127.0.0.1:$PORT"
    mkdir -p "$WORK/$1"
    export PORTCULLIS_DATA_DIR="$WORK/$1" PORTCULLIS_DATABASE_URL="$2" \
        PORTCULLIS_BIND="127.0.0.1:$PORT" PORTCULLIS_ISSUER="$BASE" PORTCULLIS_LOG_LEVEL=warn \
        PORTCULLIS_API__RATE_LIMIT_PER_MINUTE=10000000 PORTCULLIS_API__RATE_LIMIT_BURST=10000000 \
        PORTCULLIS_API__UNAUTHENTICATED_PER_MINUTE=10000000 PORTCULLIS_API__MAX_RATE_LIMIT_PER_MINUTE=10000000 \
        PORTCULLIS_LOGIN_THROTTLE__PER_ACCOUNT=1000000000 PORTCULLIS_LOGIN_THROTTLE__PER_IP=1000000000
}

start_server() { # backend
    "$BIN" serve 2>"$OUT/$1-server.log" &
    SERVER=$!
    for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
    curl -sf "$BASE/healthz" >/dev/null || { echo "server did not start ($1)" >&2; exit 1; }
}

# One line on what ran where, for the recorded tables.
provenance() {
    echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
        "git $(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
        "$(git diff --quiet HEAD 2>/dev/null || echo '(uncommitted changes)'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

for_each_backend() {
    local backend
    for backend in $BACKENDS; do
        case $backend in
            sqlite) bench_backend sqlite "sqlite://$WORK/sqlite/portcullis.db" ;;
            postgres)
                if ! psql "$PG_URL/postgres" -qAtc 'SELECT 1' >/dev/null 2>&1; then
                    echo "# postgres: nothing answers at $PG_URL, skipped" >&2
                    continue
                fi
                PG_DB="portcullis_bench_$$_$RANDOM"
                psql "$PG_URL/postgres" -qAtc "CREATE DATABASE $PG_DB" >/dev/null
                bench_backend postgres "$PG_URL/$PG_DB"
                stop_server
                psql "$PG_URL/postgres" -qAtc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
                PG_DB=""
                ;;
            *) echo "unknown backend $backend" >&2; exit 2 ;;
        esac
        stop_server
    done
}
