#!/bin/bash
# S2: SQLite with DEFAULT throttles and rate limits (only argon2 lowered), :18783.
D=/tmp/r12r; mkdir -p $D/s2
env -i PATH=$PATH HOME=$HOME PORTCULLIS_MASTER_KEY=$(printf 'round12-throwaway-master-key-32b' | base64) \
  PORTCULLIS_PASSWORD_HASH__MEMORY_KIB=64 PORTCULLIS_PASSWORD_HASH__ITERATIONS=1 PORTCULLIS_LOG_FORMAT=json \
  PORTCULLIS_BIND=127.0.0.1:18783 PORTCULLIS_ISSUER=http://127.0.0.1:18783 PORTCULLIS_DATABASE_URL=sqlite://$D/s2/p.db PORTCULLIS_DATA_DIR=$D/s2 \
  nohup $D/portcullis serve > $D/s2.log 2>&1 & echo $! > $D/s2.pid
