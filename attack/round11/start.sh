#!/bin/bash
# Start the three servers of round 11 (S on SQLite, A and B on PostgreSQL database attack11) and make the users.
source "$(dirname "$0")/cli.sh"
mkdir -p /tmp/r11/sq /tmp/r11/pg; cp "$(dirname "$0")/../../target/release/portcullis" /tmp/r11/portcullis
psql -h 127.0.0.1 -U postgres -c 'create database attack11' 2>/dev/null
PORTCULLIS_BIND=127.0.0.1:18181 PORTCULLIS_ISSUER=http://127.0.0.1:18181 PORTCULLIS_DATABASE_URL=sqlite:///tmp/r11/sq/p.db PORTCULLIS_DATA_DIR=/tmp/r11/sq \
  PORTCULLIS_METRICS__BEARER_TOKEN=metrics-throwaway-token-1234 nohup /tmp/r11/portcullis serve > /tmp/r11/sq.log 2>&1 & echo $! > /tmp/r11/sq.pid
for p in 1 2; do
  PORTCULLIS_BIND=127.0.0.1:1828$p PORTCULLIS_ISSUER=http://127.0.0.1:18281 PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/attack11 \
    PORTCULLIS_DATA_DIR=/tmp/r11/pg PORTCULLIS_METRICS__BIND=127.0.0.1:1829$p nohup /tmp/r11/portcullis serve > /tmp/r11/pg$p.log 2>&1 & echo $! > /tmp/r11/pg$p.pid
  sleep 2
done
sleep 3
for who in owner:OWNER admin:ADMIN dev:DEVELOPER viewer:VIEWER victim:ADMIN; do
  e=${who%%:*}; r=${who##*:}
  printf '%s\n' "$PW" | sq user create --email $e@acme.test --org Acme --role $r
  printf '%s\n' "$PW" | pg user create --email $e@acme.test --org Acme --role $r
done
# stop: kill $(cat /tmp/r11/sq.pid) $(cat /tmp/r11/pg1.pid) $(cat /tmp/r11/pg2.pid)
