#!/bin/bash
# Re-run the round-11 scripts (adapted copies) against this HEAD; outputs in out/r11_*.txt
cd "$(dirname "$0")"; source cli.sh
A=http://127.0.0.1:18681; B=http://127.0.0.1:18682
printf '%s\n' "$PW" | sq user create --email intruder@evil.test --org Evil --role OWNER >/dev/null 2>&1
printf '%s\n' "$PW" | pg user create --email r4@acme.test --org Acme --role DEVELOPER >/dev/null 2>&1
printf '%s\n' "$PW" | pg user create --email r5@acme.test --org Acme --role ADMIN >/dev/null 2>&1
BASE=$A python3 rotate_through_key.py > out/r11_f1a_rotate_through_key.txt 2>&1
BASE=$A python3 roll_parent.py > out/r11_f1b_roll_parent.txt 2>&1
for i in 1 2 3 4 5; do A=$A B=$B N=24 python3 race_lineage.py revoke; done > out/r11_f2_race_lineage_revoke.txt 2>&1
for i in 1 2 3 4 5; do A=$A B=$B N=24 python3 race_lineage.py roll; done > out/r11_f2_race_lineage_roll.txt 2>&1
./wal_revive.sh > out/r11_f3_wal_revive.txt 2>&1
python3 outlive.py > out/r11_f4_6_outlive_sqlite.txt 2>&1
python3 accept_inv.py intruder@evil.test "$(cat out/inv_url.txt)" >> out/r11_f4_6_outlive_sqlite.txt 2>&1
A=$A B=$B python3 race_removal.py r4@acme.test > out/r11_f5_race_removal.txt 2>&1
A=$A B=$B python3 race_removal_apps.py r5@acme.test > out/r11_f5_race_removal_apps.txt 2>&1
BASE=$A python3 machine_outlive.py > out/r11_f6_machine_outlive.txt 2>&1
BASE=$A CHECK=$B python3 outlive.py > out/r11_f4_6_outlive_pg.txt 2>&1
A=$A B=$B CLI=pg python3 disable.py victim@acme.test > out/r11_f7_8_disable.txt 2>&1
./race_disable_signin.sh > out/r11_f9_race_disable_signin.txt 2>&1
./backup.sh > out/r11_f10_backup.txt 2>&1
stat -c '%a %n' /tmp/r12l/sq/p.db > out/r11_f11_mode.txt 2>&1
./backup_onto_db.sh > out/r11_f12_backup_onto_db.txt 2>&1
BASE=$A python3 adopt.py > out/r11_f13_adopt.txt 2>&1
echo rerun done
