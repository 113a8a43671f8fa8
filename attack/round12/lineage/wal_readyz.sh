#!/bin/bash
# /readyz opens and closes the SQLite file (store::ping): POSIX drops the server's locks on it,
# so the next CLI command to close believes it is the last connection and deletes the live WAL/SHM.
source "$(dirname "$0")/env.sh"
W=/tmp/r12l/wal2; rm -rf $W; mkdir -p $W
w() { PORTCULLIS_ISSUER=http://127.0.0.1:18586 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W /tmp/r12l/portcullis "$@"; }
PORTCULLIS_BIND=127.0.0.1:18586 PORTCULLIS_ISSUER=http://127.0.0.1:18586 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W nohup /tmp/r12l/portcullis serve > $W/serve.log 2>&1 &
PID=$!; sleep 3
st() { echo "  [$1] files: $(cd $W; ls p.db* | tr '\n' ' ') | server fds on deleted files: $(ls -l /proc/$PID/fd | grep -c deleted)"; }
printf '%s\n' "$PW" | w user create --email a@w.test --org W --role OWNER >/dev/null 2>&1; st "user create"
login() { curl -s 127.0.0.1:18586/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}" | jq -r .data.access_token; }
T=$(login); st "sign-in"
for i in 1 2 3; do
  curl -s -o /dev/null 127.0.0.1:18586/readyz; st "GET /readyz"
  w user list >/dev/null 2>&1; st "CLI user list"
done
K=$(curl -s 127.0.0.1:18586/v1/api-keys -H "authorization: Bearer $T" -H 'content-type: application/json' -d '{"name":"after","scopes":["read"]}' | jq -r .data.id)
echo "  server made key $K; the CLI sees: $(w key list 2>/dev/null | grep -c "$K") ; sqlite3 sees: $(sqlite3 $W/p.db "select count(*) from api_keys where id='$K'")"
printf '%s\n' "$PW" | w user create --email b@w.test --org W --role VIEWER >/dev/null 2>&1
echo "  CLI made b@w.test; the server's sign-in for b: $(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:18586/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"b@w.test\",\"password\":\"$PW\"}")"
kill $PID; sleep 2
echo "  after the server stopped: key $K in the file: $(sqlite3 $W/p.db "select count(*) from api_keys where id='$K'")"
