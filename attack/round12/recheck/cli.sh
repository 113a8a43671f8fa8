source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
sq() { PORTCULLIS_ISSUER=http://127.0.0.1:18781 PORTCULLIS_DATABASE_URL=sqlite:///tmp/r12r/sq/p.db PORTCULLIS_DATA_DIR=/tmp/r12r/sq /tmp/r12r/portcullis "$@"; }
pg() { PORTCULLIS_ISSUER=http://127.0.0.1:18881 PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/attack12r PORTCULLIS_DATA_DIR=/tmp/r12r/pg /tmp/r12r/portcullis "$@"; }
