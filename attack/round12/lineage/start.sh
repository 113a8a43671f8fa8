#!/bin/bash
# Start the three servers of round 11 (S on SQLite, A and B on PostgreSQL database attack12l) and make the users.
source "$(dirname "$0")/cli.sh"
mkdir -p /tmp/r12l/sq /tmp/r12l/pg
psql -h 127.0.0.1 -U postgres -c 'create database attack12l' 2>/dev/null
PORTCULLIS_BIND=127.0.0.1:18581 PORTCULLIS_ISSUER=http://127.0.0.1:18581 PORTCULLIS_DATABASE_URL=sqlite:///tmp/r12l/sq/p.db PORTCULLIS_DATA_DIR=/tmp/r12l/sq \
  PORTCULLIS_METRICS__BEARER_TOKEN=metrics-throwaway-token-1234 nohup /tmp/r12l/portcullis serve > /tmp/r12l/sq.log 2>&1 & echo $! > /tmp/r12l/sq.pid
for p in 1 2; do
  PORTCULLIS_BIND=127.0.0.1:1868$p PORTCULLIS_ISSUER=http://127.0.0.1:18681 PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/attack12l \
    PORTCULLIS_DATA_DIR=/tmp/r12l/pg PORTCULLIS_METRICS__BIND=127.0.0.1:1869$p nohup /tmp/r12l/portcullis serve > /tmp/r12l/pg$p.log 2>&1 & echo $! > /tmp/r12l/pg$p.pid
  sleep 2
done
sleep 3
for who in owner:OWNER admin:ADMIN dev:DEVELOPER viewer:VIEWER victim:ADMIN; do
  e=${who%%:*}; r=${who##*:}
  printf '%s\n' "$PW" | sq user create --email $e@acme.test --org Acme --role $r
  printf '%s\n' "$PW" | pg user create --email $e@acme.test --org Acme --role $r
done
# stop: kill $(cat /tmp/r12l/sq.pid) $(cat /tmp/r12l/pg1.pid) $(cat /tmp/r12l/pg2.pid)
