"""A member's in-flight page requests keep the role they had when the request started.
Round: X and Y OWNERs, Z VIEWER (race_owners.setup). X hammers, from T threads on BASE,
'set my own role to OWNER' (a no-op while X is OWNER); Y demotes X to VIEWER on BASE2.
Then: X's final role, and X's role_changed audit events whose details say from != OWNER
(X acted as OWNER after the demotion). MODE=remove: X hammers 'make Z OWNER'; Y removes X, then Y sets Z to VIEWER (a marker);
Z OWNER at the end means one of X's requests committed after X's removal.
Usage: BASE=… BASE2=… DB=… MODE=demote|remove python3 race_demote.py ROUNDS [THREADS]"""
import json, os, subprocess, sys, threading, time
import race_owners as R
from lib12 import *
MODE = os.environ.get("MODE", "demote")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
T = int(sys.argv[2]) if len(sys.argv) > 2 else 6
def sql(q):
    if R.DB.startswith("sqlite:"):
        return subprocess.run(["sqlite3", "-separator", "|", R.DB[7:], q], capture_output=True, text=True).stdout.strip().splitlines()
    return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "attack12r", "-Atc", q], capture_output=True, text=True).stdout.strip().splitlines()
hits = 0
if __name__ != "__main__": ROUNDS = 0
for rnd in range(ROUNDS):
    org, sx, sx2, sy, xid, yid = R.setup()
    K = f"/dashboard/orgs/{org}"
    zid = [m for m, e in members(sx, org)[0] if e.startswith("z")][0]
    tx, ty = token_of(sx), token_of(sy)
    stop = threading.Event(); answers = []
    def hammer(i):
        s = login(sx.cookies and R.__dict__ and [e for m, e in members(sx, org)[0] if m == xid][0], base=R.B1) if False else sx
        n = 0
        while not stop.is_set():
            if MODE == "demote":
                r = post(sx, f"{K}/members/{xid}/role", {"csrf_token": tx, "role": "OWNER"})
            else:
                n += 1
                r = post(sx, f"{K}/members/{zid}/role", {"csrf_token": tx, "role": "OWNER"})
            answers.append(r.status_code)
    th = [threading.Thread(target=hammer, args=(i,)) for i in range(T)]
    [t.start() for t in th]
    time.sleep(0.4)
    if MODE == "demote":
        ry = post(sy, f"{K}/members/{xid}/role", {"csrf_token": ty, "role": "VIEWER"})
    else:
        ry = post(sy, f"{K}/members/{xid}/remove", {"csrf_token": ty})
        rz = post(sy, f"{K}/members/{zid}/role", {"csrf_token": ty, "role": "VIEWER"})  # marker, after X is gone
        print("   Y removed X:", ry.status_code, "then Y set Z to VIEWER:", rz.status_code)
    time.sleep(0.6); stop.set(); [t.join() for t in th]
    role = sql(f"select role from memberships where organization_id='{org}' and user_id='{xid}'")
    ev = sql(f"select created_at, actor, action, target, details from audit_events where organization_id='{org}' and action in ('member.role_changed','member.removed') order by created_at")
    yev = [e for e in ev if f"user:{yid}" in e]
    after = []
    if yev:
        t_y = yev[-1].split("|")[0]
        after = [e for e in ev if f"user:{xid}" in e and e.split("|")[0] > t_y and (MODE == "remove" or '"from":"OWNER"' not in e.replace(" ", ""))]
    zrole = sql(f"select role from memberships where organization_id='{org}' and user_id='{zid}'")
    bad = (MODE == "demote" and role == ["OWNER"]) or (MODE == "remove" and role == [] and zrole == ["OWNER"])
    if MODE == "remove": print("   Z's role at the end:", zrole)
    hits += bad
    print(f"round {rnd}: Y's {MODE} -> {ry.status_code} loc={ry.headers.get('location')} | X's answers {dict((c, answers.count(c)) for c in set(answers))} | X's role now {role} | X's changes after Y's: {len(after)} {after[:2]}")
print(f"rounds where X acted with the role it had lost: {hits}/{ROUNDS}")
