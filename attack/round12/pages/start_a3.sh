#!/bin/bash
# A3: PostgreSQL attack12p, DEFAULT argon2 cost (19 MiB, t=2), throttles raised, :18483.
cd "$(dirname "$0")"; source ./env.sh
unset PORTCULLIS_PASSWORD_HASH__MEMORY_KIB PORTCULLIS_PASSWORD_HASH__ITERATIONS
PORTCULLIS_BIND=127.0.0.1:18483 PORTCULLIS_ISSUER=http://127.0.0.1:18481 PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/attack12p \
  PORTCULLIS_DATA_DIR=$D/pg nohup $D/portcullis serve > $D/a3.log 2>&1 & echo $! > $D/a3.pid
