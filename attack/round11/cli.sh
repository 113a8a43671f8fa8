# usage: source cli.sh; sq user list   /  pg user list
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
sq() { PORTCULLIS_ISSUER=http://127.0.0.1:18181 PORTCULLIS_DATABASE_URL=sqlite:///tmp/r11/sq/p.db PORTCULLIS_DATA_DIR=/tmp/r11/sq /tmp/r11/portcullis "$@"; }
pg() { PORTCULLIS_ISSUER=http://127.0.0.1:18281 PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/attack11 PORTCULLIS_DATA_DIR=/tmp/r11/pg /tmp/r11/portcullis "$@"; }
