#!/bin/bash
# S (SQLite :18781) and A/B (PostgreSQL attack12r :18881/:18882); users by the CLI.
cd "$(dirname "$0")"; source ./cli.sh
mkdir -p $D/sq $D/pg
psql -h 127.0.0.1 -U postgres -c 'create database attack12r' 2>/dev/null
PORTCULLIS_BIND=127.0.0.1:18781 PORTCULLIS_ISSUER=http://127.0.0.1:18781 PORTCULLIS_DATABASE_URL=sqlite://$D/sq/p.db PORTCULLIS_DATA_DIR=$D/sq \
  nohup $D/portcullis serve > $D/sq.log 2>&1 & echo $! > $D/sq.pid
for p in 1 2; do
  PORTCULLIS_BIND=127.0.0.1:1888$p PORTCULLIS_ISSUER=http://127.0.0.1:18881 PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/attack12r \
    PORTCULLIS_DATA_DIR=$D/pg nohup $D/portcullis serve > $D/pg$p.log 2>&1 & echo $! > $D/pg$p.pid
  sleep 2
done
sleep 3
for who in owner:OWNER admin:ADMIN dev:DEVELOPER viewer:VIEWER owner2:OWNER victim:ADMIN; do
  e=${who%%:*}; r=${who##*:}
  printf '%s\n' "$PW" | sq user create --email $e@acme.test --org Acme --role $r
  printf '%s\n' "$PW" | pg user create --email $e@acme.test --org Acme --role $r
done
printf '%s\n' "$PW" | sq user create --email gowner@globex.test --org Globex --role OWNER
printf '%s\n' "$PW" | pg user create --email gowner@globex.test --org Globex --role OWNER
