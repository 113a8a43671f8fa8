#!/bin/bash
# config check must never print a secret. Each case prints whether the secret (S3cr3t…) appears.
P=/tmp/r12l/portcullis; D=/tmp/r12l/cc; mkdir -p $D
leak() { if grep -q "$2" <<<"$1"; then echo "LEAK  [$3]"; echo "$1" | grep -n "$2" | head -3; else echo "ok    [$3]"; fi; }
run() { env -i PATH=$PATH HOME=$D "$@" $P config check 2>&1; }
for url in 'postgres://u:S3cr3tA/b@127.0.0.1:5432/db' 'postgres://u:S3cr3tA@b@127.0.0.1/db' 'postgres://u:S3cr3tA%40x@127.0.0.1/db' \
           'postgres://u:S3cr3tA?x@127.0.0.1/db' 'postgres://u:S3cr3tA#x@127.0.0.1/db' 'postgres://u:S3cr3tA#x@127.0.0.1/db?sslmode=disable' \
           'postgres://127.0.0.1/db?user=u&password=S3cr3tA' 'postgres://127.0.0.1/db?user=u&passfile=/x&password=S3cr3tA' \
           'postgres://u:S3cr3tA@127.0.0.1/db?options=-c%20x@y' 'postgresql://u@127.0.0.1/db?PassWord=S3cr3tA' \
           'host=127.0.0.1 user=u password=S3cr3tA dbname=db' 'postgres://S3cr3tA@127.0.0.1/db' 'sqlite:///tmp/r12l/cc/S3cr3tA.db?password=S3cr3tA' \
           'postgres://u:S3cr3tA@[::1]:5432/db' 'postgres:u:S3cr3tA@127.0.0.1/db' 'postgres://u:S3cr3tA@127.0.0.1:99999/db'; do
  out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_DATABASE_URL="$url"); leak "$out" S3cr3tA "database_url=$url"
done
for r in 'redis://:S3cr3tB@127.0.0.1:6379/0' 'redis://u:S3cr3tB@127.0.0.1:6379' 'rediss://u:S3cr3tB@h:6379' 'redis+unix:///tmp/r.sock?db=0&pass=S3cr3tB' \
         'unix:///tmp/r.sock?pass=S3cr3tB' 'redis://127.0.0.1/?password=S3cr3tB' 'redis://S3cr3tB@127.0.0.1:6379' 'redis://u:S3cr3tB@127.0.0.1:6379/x y'; do
  out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_API__RATE_LIMIT_REDIS_URL="$r"); leak "$out" S3cr3tB "redis=$r"
done
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_MASTER_KEY=S3cr3tCnotbase64!!); leak "$out" S3cr3tC "bad master key in env"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_MASTER_KEY=$(printf 'S3cr3tC-is-only-24-bytes' | base64)); leak "$out" "$(printf 'S3cr3tC-is-only-24-bytes' | base64 | cut -c1-12)" "short master key in env"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_METRICS__BEARER_TOKEN=S3cr3tD); leak "$out" S3cr3tD "short metrics token (7 chars)"
out=$(run PORTCULLIS_DATA_DIR=$D "PORTCULLIS_METRICS__BEARER_TOKEN=S3cr3tD with space xx"); leak "$out" S3cr3tD "metrics token with a space"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_METRICS__BEARER_TOKEN=S3cr3tD-good-long-token); leak "$out" S3cr3tD "valid metrics token"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_MASTER_KEY=abc PORTCULLIS_POOL_SIZE=S3cr3tE); leak "$out" S3cr3tE "wrong type next to a secret"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_MASTER_KEYX=S3cr3tF); leak "$out" S3cr3tF "unknown env key"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_LOG_FORMAT=S3cr3tG); leak "$out" S3cr3tG "bad enum value"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_ISSUER='https://u:S3cr3tH@auth.example.com'); leak "$out" S3cr3tH "issuer with userinfo"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_TRUSTED_PROXIES='["S3cr3tI"]'); leak "$out" S3cr3tI "bad trusted proxy"
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_TRUSTED_PROXIES='[S3cr3tJ'); leak "$out" S3cr3tJ "broken env list"
# files
printf 'master_key = "S3cr3tK/abc+def==" oops\n' > $D/broken1.toml
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_CONFIG=$D/broken1.toml); leak "$out" S3cr3tK "broken toml after master_key"
printf 'database_url = "postgres://u:S3cr3tL@h/db\n' > $D/broken2.toml
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_CONFIG=$D/broken2.toml); leak "$out" S3cr3tL "unterminated string with a password"
printf '[metrics]\nbearer_token = S3cr3tM-unquoted-token\n' > $D/broken3.toml
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_CONFIG=$D/broken3.toml); leak "$out" S3cr3tM "unquoted secret"
printf 'master_key = """S3cr3tN\nsecond line"""\n' > $D/broken4.toml
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_CONFIG=$D/broken4.toml); leak "$out" S3cr3tN "multi-line master key"
printf 'master_key = "S3cr3tO"\nmaster_key = "x"\n' > $D/broken5.toml
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_CONFIG=$D/broken5.toml); leak "$out" S3cr3tO "duplicate key"
printf 'S3cr3tP = 1\n' > $D/broken6.toml
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_CONFIG=$D/broken6.toml); leak "$out" S3cr3tP "secret as unknown key name"
printf '[api]\nrate_limit_redis_url = "redis://:S3cr3tQ@127.0.0.1:6379"\nrate_limit_redis_failure = "S3cr3tQ"\n' > $D/broken7.toml
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_CONFIG=$D/broken7.toml); leak "$out" S3cr3tQ "password reused as bad enum value"
printf 'master_key = "abc"\n' > $D/broken8.toml
out=$(run PORTCULLIS_DATA_DIR=$D PORTCULLIS_CONFIG=$D/broken8.toml); leak "$out" 'abc' "3-char master key (strike skips < 4 chars)"
