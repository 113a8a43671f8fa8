#!/bin/bash
# Race: sign-ins in flight (argon2 at its default cost) while `user disable` runs; then `user enable`:
# does a session made during the disable survive it?
source "$(dirname "$0")/env.sh"
unset PORTCULLIS_PASSWORD_HASH__MEMORY_KIB PORTCULLIS_PASSWORD_HASH__ITERATIONS
W=/tmp/r12l/wal5; rm -rf $W; mkdir -p $W
w() { PORTCULLIS_ISSUER=http://127.0.0.1:18589 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W /tmp/r12l/portcullis "$@"; }
PORTCULLIS_BIND=127.0.0.1:18589 PORTCULLIS_ISSUER=http://127.0.0.1:18589 PORTCULLIS_DATABASE_URL=sqlite://$W/p.db PORTCULLIS_DATA_DIR=$W nohup /tmp/r12l/portcullis serve > $W/serve.log 2>&1 &
PID=$!; sleep 3
printf '%s\n' "$PW" | w user create --email d@w.test --org W --role OWNER >/dev/null 2>&1
cd "$(dirname "$0")"
BASE=http://127.0.0.1:18589 python3 - <<'PY'
import subprocess, threading, time, os
from lib import *
toks, stop = [], threading.Event()
def signin():
    while not stop.is_set():
        t0 = time.time(); s, b = call("POST", "/v1/auth/login", body={"email": "d@w.test", "password": PW})
        if s == 200: toks.append((b["data"]["access_token"], t0, time.time()))
ts = [threading.Thread(target=signin) for _ in range(4)]
for t in ts: t.start()
time.sleep(1)
env = dict(os.environ, PORTCULLIS_ISSUER="http://127.0.0.1:18589", PORTCULLIS_DATABASE_URL="sqlite:///tmp/r12l/wal5/p.db", PORTCULLIS_DATA_DIR="/tmp/r12l/wal5")
r = subprocess.run(["/tmp/r12l/portcullis", "user", "disable", "d@w.test"], env=env, capture_output=True, text=True); t1 = time.time()
time.sleep(0.5); stop.set()
for t in ts: t.join()
late = [t for t in toks if t[2] > t1]
print("disable:", r.stdout.strip()[:60], "| sign-ins answered 200 after the disable answered:", len(late), "of", len(toks))
subprocess.run(["/tmp/r12l/portcullis", "user", "enable", "d@w.test"], env=env, capture_output=True); time.sleep(1.2)
alive = [t for t in toks if call("GET", "/v1/auth/me", t[0])[0] == 200]
print("after enable, sessions alive:", len(alive), [(round(a - t1, 3), round(b - t1, 3)) for _, a, b in alive][:5], "(started, answered) relative to the disable's answer")
PY
kill $PID
