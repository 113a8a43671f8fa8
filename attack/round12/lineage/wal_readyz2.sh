#!/bin/bash
# Variant: after GET /readyz, which closing process deletes the server's live WAL?  usage: wal_readyz2.sh "CMD"
source "$(dirname "$0")/env.sh"
W=/tmp/r12l/wal3; rm -rf $W; mkdir -p $W
w() { PORTCULLIS_ISSUER=http://127.0.0.1:18587 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W /tmp/r12l/portcullis "$@"; }
PORTCULLIS_BIND=127.0.0.1:18587 PORTCULLIS_ISSUER=http://127.0.0.1:18587 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W nohup /tmp/r12l/portcullis serve > $W/serve.log 2>&1 &
PID=$!; sleep 3
st() { echo "  [$1] files: $(cd $W; ls p.db* | tr '\n' ' ') | server fds on deleted files: $(ls -l /proc/$PID/fd | grep -c deleted)"; }
printf '%s\n' "$PW" | w user create --email a@w.test --org W --role OWNER >/dev/null 2>&1; st "user create"
for step in "$@"; do
  case $step in
    readyz) curl -s -o /dev/null 127.0.0.1:18587/readyz ;;
    sqlite3) sqlite3 $W/p.db "select count(*) from users" >/dev/null ;;
    signin) curl -s -o /dev/null 127.0.0.1:18587/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}" ;;
    *) w $step >/dev/null 2>&1 ;;
  esac
  st "$step"
done
kill $PID; sleep 1
