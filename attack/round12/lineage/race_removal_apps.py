"""Race: remove an ADMIN while their dashboard session registers management apps;
re-add them (CLI) and see whether any of those apps acts on /v1 again.
Usage: race_removal_apps.py MEMBER_EMAIL"""
import subprocess, sys, threading, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
member = sys.argv[1]
owner, _ = login("owner@acme.test", base=A)
sess, _ = login(member, base=A)
uid = call("GET", "/v1/auth/me", sess, base=A)[1]["data"]["id"]
made, lock, stop = [], threading.Lock(), threading.Event()
def worker(i):
    base = A if i % 2 == 0 else B; n = 0
    while not stop.is_set():
        n += 1
        s, b = call("POST", "/v1/apps", sess, {"name": f"m{i}-{n}", "type": "confidential", "grant_types": ["client_credentials"],
                    "scopes": ["read", "admin"], "management": True}, base=base)
        if s == 201:
            with lock: made.append((b["data"]["client_id"], b["data"]["client_secret"], time.time()))
ts = [threading.Thread(target=worker, args=(i,)) for i in range(int(os.environ.get("N", "12")))]
for t in ts: t.start()
time.sleep(1.0)
s, b = call("DELETE", f"/v1/members/{uid}", owner, base=A); t1 = time.time(); print("remove", s)
time.sleep(0.5); stop.set()
for t in ts: t.join()
def acts():
    live = []
    for cid, sec, t in made:
        st, tok = cc(cid, sec, "read", base=B)
        if st == 200 and call("GET", "/v1/audit-events?limit=1", tok["access_token"], base=B)[0] == 200:
            live.append((cid, round(t - t1, 3)))
    return live
print("management apps made:", len(made), "acting on /v1 before re-join:", len(acts()))
print(subprocess.run(["bash", "-c", f"source cli.sh; {os.environ.get('CLI','pg')} member add Acme {member} --role ADMIN"], capture_output=True, text=True).stdout.strip())
time.sleep(1.5)
live = acts()
print("acting on /v1 (audit log) after re-join:", len(live), live[:5])
