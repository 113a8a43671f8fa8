# usage: source cli.sh; sq user list   /  pg user list
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
sq() { PORTCULLIS_ISSUER=http://127.0.0.1:18581 PORTCULLIS_DATABASE_URL=sqlite:///tmp/r12l/sq/p.db PORTCULLIS_DATA_DIR=/tmp/r12l/sq /tmp/r12l/portcullis "$@"; }
pg() { PORTCULLIS_ISSUER=http://127.0.0.1:18681 PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/attack12l PORTCULLIS_DATA_DIR=/tmp/r12l/pg /tmp/r12l/portcullis "$@"; }
