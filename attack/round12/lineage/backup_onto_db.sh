#!/bin/bash
# backup --to the live database itself (or a symlink/hard link to it) with --force, while the server runs.
source "$(dirname "$0")/env.sh"
W=/tmp/r12l/bk2; rm -rf $W; mkdir -p $W
w() { PORTCULLIS_ISSUER=http://127.0.0.1:18576 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W /tmp/r12l/portcullis "$@"; }
PORTCULLIS_BIND=127.0.0.1:18576 PORTCULLIS_ISSUER=http://127.0.0.1:18576 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W nohup /tmp/r12l/portcullis serve > $W/serve.log 2>&1 &
PID=$!; sleep 3
printf '%s\n' "$PW" | w user create --email a@w.test --org W --role OWNER >/dev/null 2>&1
echo "backup --to the live database --force: $(w backup --to $W/p.db --force 2>&1 | head -1)"
echo "  server's fds on deleted files: $(ls -l /proc/$PID/fd | grep -c deleted)"
echo "backup --to ./p.db (relative, same file) --force: $(cd $W && PORTCULLIS_ISSUER=http://127.0.0.1:18576 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W /tmp/r12l/portcullis backup --to ./p.db --force 2>&1 | head -1)"
echo "  server's fds on deleted files: $(ls -l /proc/$PID/fd | grep -c deleted)"
echo "backup --to the WAL --force: $(w backup --to $W/p.db-wal --force 2>&1 | head -1)"
echo "  server's fds on deleted files: $(ls -l /proc/$PID/fd | grep -c deleted)"
T=$(curl -s 127.0.0.1:18576/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}" | jq -r .data.access_token)
KID=$(curl -s 127.0.0.1:18576/v1/api-keys -H "authorization: Bearer $T" -H 'content-type: application/json' -d '{"name":"k","scopes":["read"]}' | jq -r .data.id)
echo "  server made $KID; the CLI sees it: $(w key list 2>/dev/null | grep -c "$KID")"
kill $PID; sleep 2
echo "  after the server stopped, in the file: $(sqlite3 $W/p.db "select count(*) from api_keys where id='$KID'" 2>&1)"
