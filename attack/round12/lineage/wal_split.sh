#!/bin/bash
# Which CLI command deletes a running server's SQLite WAL/SHM (split brain)?
source "$(dirname "$0")/env.sh"
W=/tmp/r12l/wal; rm -rf $W; mkdir -p $W
w() { PORTCULLIS_ISSUER=http://127.0.0.1:18585 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W /tmp/r12l/portcullis "$@"; }
PORTCULLIS_BIND=127.0.0.1:18585 PORTCULLIS_ISSUER=http://127.0.0.1:18585 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W nohup /tmp/r12l/portcullis serve > $W/serve.log 2>&1 &
PID=$!; sleep 3
st() { echo "  [$1] files: $(cd $W; ls p.db* | tr '\n' ' ') | server's deleted fds: $(ls -l /proc/$PID/fd | grep -c deleted)"; }
st start
printf '%s\n' "$PW" | w user create --email a@w.test --org W --role OWNER >/dev/null 2>&1; st "user create"
curl -s -o /dev/null 127.0.0.1:18585/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}"; st "a sign-in"
w key list >/dev/null 2>&1; st "key list"
w user list >/dev/null 2>&1; st "user list"
w backup --to $W/b.db >/dev/null 2>&1; st "backup"
w restore --from $W/b.db --force >/dev/null 2>&1; st "restore refused"
w config check >/dev/null 2>&1; st "config check"
w migrate >/dev/null 2>&1; st "migrate"
w org list >/dev/null 2>&1; st "org list"
w signing-key list >/dev/null 2>&1; st "signing-key list"
kill $PID; sleep 2
# part 2: an ordinary sqlite3 shell reading the database while the server runs
PORTCULLIS_BIND=127.0.0.1:18585 PORTCULLIS_ISSUER=http://127.0.0.1:18585 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W nohup /tmp/r12l/portcullis serve > $W/serve2.log 2>&1 &
PID=$!; sleep 3; st "restarted"
sqlite3 $W/p.db "select count(*) from users" >/dev/null; st "sqlite3 shell SELECT"
curl -s -o /dev/null 127.0.0.1:18585/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}"; st "a sign-in"
sqlite3 $W/p.db "select count(*) from users" >/dev/null; st "sqlite3 shell SELECT again"
kill $PID; sleep 2
