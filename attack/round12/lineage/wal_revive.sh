#!/bin/bash
# Consequence of the WAL deletion: a key revoked after it is alive again after a restart.
source "$(dirname "$0")/env.sh"
W=/tmp/r12l/wal4; rm -rf $W; mkdir -p $W
w() { PORTCULLIS_ISSUER=http://127.0.0.1:18588 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W /tmp/r12l/portcullis "$@"; }
start() { PORTCULLIS_BIND=127.0.0.1:18588 PORTCULLIS_ISSUER=http://127.0.0.1:18588 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W nohup /tmp/r12l/portcullis serve >> $W/serve.log 2>&1 & PID=$!; sleep 3; }
start
printf '%s\n' "$PW" | w user create --email a@w.test --org W --role OWNER >/dev/null 2>&1
T=$(curl -s 127.0.0.1:18588/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}" | jq -r .data.access_token)
R=$(curl -s 127.0.0.1:18588/v1/api-keys -H "authorization: Bearer $T" -H 'content-type: application/json' -d '{"name":"leaked","scopes":["read","write"]}')
KID=$(jq -r .data.id <<<"$R"); KEY=$(jq -r .data.key <<<"$R")
v() { curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:18588/v1/auth/validate -H "authorization: Bearer $KEY"; }
echo "key made: validate $(v)"
curl -s -o /dev/null 127.0.0.1:18588/readyz                      # the load balancer's health check
sqlite3 $W/p.db "select count(*) from api_keys" >/dev/null        # an operator's read-only look
echo "WAL files now: $(cd $W; ls p.db* | tr '\n' ' ')"
echo "revoke the leaked key: $(curl -s -o /dev/null -w '%{http_code}' -X DELETE 127.0.0.1:18588/v1/api-keys/$KID -H "authorization: Bearer $T")  validate $(v)"
echo "CLI: $(w user disable a@w.test 2>&1 | head -1)"; sleep 1.5
echo "  the server after the CLI disabled a@w.test: session /v1/auth/me $(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:18588/v1/auth/me -H "authorization: Bearer $T"), sign-in $(curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:18588/v1/auth/login -H 'content-type: application/json' -d "{\"email\":\"a@w.test\",\"password\":\"$PW\"}")"
kill -9 $PID; sleep 1; start
echo "after a crash (SIGKILL) and restart: validate $(v)   revoked_at in the file: '$(sqlite3 $W/p.db "select revoked_at from api_keys where id='$KID'")'"
kill $PID; sleep 1
