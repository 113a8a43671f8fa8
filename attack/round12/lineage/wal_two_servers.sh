#!/bin/bash
# Two portcullis servers on one SQLite file (README: allowed on one host): server 1 answers /readyz,
# server 2 stops (a rolling restart). Does server 2's last close delete server 1's live WAL?
source "$(dirname "$0")/env.sh"
W=/tmp/r12l/wal6; rm -rf $W; mkdir -p $W
run() { PORTCULLIS_BIND=127.0.0.1:$1 PORTCULLIS_ISSUER=http://127.0.0.1:18577 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W nohup /tmp/r12l/portcullis serve >> $W/serve$1.log 2>&1 & }
run 18577; P1=$!; sleep 3; run 18578; P2=$!; sleep 3
st() { echo "  [$1] files: $(cd $W; ls p.db* | tr '\n' ' ') | server 1 fds on deleted files: $(ls -l /proc/$P1/fd | grep -c deleted)"; }
printf '%s\n' "$PW" | PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W /tmp/r12l/portcullis user create --email a@w.test --org W --role OWNER >/dev/null 2>&1
for p in 18577 18578; do curl -s -o /dev/null 127.0.0.1:$p/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}"; done; st "both signed in"
curl -s -o /dev/null 127.0.0.1:18577/readyz; st "server 1 /readyz"
kill $P2; sleep 3; st "server 2 stopped (SIGTERM)"
T=$(curl -s 127.0.0.1:18577/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}" | jq -r .data.access_token)
curl -s -o /dev/null 127.0.0.1:18577/v1/api-keys -H "authorization: Bearer $T" -H 'content-type: application/json' -d '{"name":"after","scopes":["read"]}'
run 18578; P2=$!; sleep 3
echo "  server 1 made a key; server 2 (restarted) lists: $(curl -s '127.0.0.1:18578/v1/api-keys' -H "authorization: Bearer $(curl -s 127.0.0.1:18578/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}" | jq -r .data.access_token)" | jq '.data | length') key(s)"
kill $P1 $P2; sleep 2
