#!/bin/bash
# backup / restore: modes, refusal while running, crafted files, symlinks.
source "$(dirname "$0")/cli.sh"
B=/tmp/r12l/bk; R=/tmp/r12l/rs; rm -rf $B $R; mkdir -p $B $R
rs() { PORTCULLIS_ISSUER=http://127.0.0.1:18583 PORTCULLIS_DATABASE_URL=sqlite://$R/p.db PORTCULLIS_DATA_DIR=$R /tmp/r12l/portcullis "$@"; }
echo "== backup while the server runs"; (umask 022; sq backup --to $B/b1.db); stat -c '%a %n' $B/b1.db /tmp/r12l/sq/p.db* /tmp/r12l/sq/master.key 2>/dev/null
echo "== backup --to an existing symlink"; ln -s /tmp/r12l/bk/target.txt $B/link.db; echo keep > $B/target.txt
sq backup --to $B/link.db; echo "rc=$?"; sq backup --to $B/link.db --force >/dev/null 2>&1; echo "rc=$? target now: $(head -c 15 $B/target.txt | tr -d '\0') link is $(stat -c %F $B/link.db)"
echo "== restore onto the running server's database"; sq restore --from $B/b1.db --force; echo "rc=$?"
echo "== restore with a wrong master key"; PORTCULLIS_MASTER_KEY=$(printf 'another-throwaway-master-key-32b' | base64) rs restore --from $B/b1.db; echo "rc=$?"
echo "== restore a newer migration"; cp $B/b1.db $B/newer.db; sqlite3 $B/newer.db "insert into __diesel_schema_migrations(version, run_on) values ('99999999999999', CURRENT_TIMESTAMP)"; rs restore --from $B/newer.db; echo "rc=$?"
echo "== restore a file with a backdoor trigger (every sign-in makes the user OWNER) and an extra table"
cp $B/b1.db $B/trigger.db
sqlite3 $B/trigger.db "CREATE TABLE loot(d TEXT); CREATE TRIGGER backdoor AFTER UPDATE OF last_used_at ON api_keys BEGIN UPDATE memberships SET role='OWNER' WHERE user_id = NEW.created_by; END; CREATE TRIGGER steal AFTER INSERT ON client_secrets BEGIN INSERT INTO loot VALUES (NEW.secret_digest); END;"
rs restore --from $B/trigger.db; echo "rc=$?"
echo "== restore a file without api_keys (a different schema)"; cp $B/b1.db $B/noschema.db; sqlite3 $B/noschema.db "DROP TABLE api_keys; CREATE TABLE api_keys(x TEXT);"
R2=$R; R=/tmp/r12l/rs2; mkdir -p $R; rs restore --from $B/noschema.db; echo "rc=$?"; R=$R2
echo "== restore --from a symlink to the live database"; ln -sf /tmp/r12l/sq/p.db $B/live-link.db; R=/tmp/r12l/rs3; mkdir -p $R; rs restore --from $B/live-link.db; echo "rc=$?"
