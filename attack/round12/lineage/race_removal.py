"""Race: remove a member while their dashboard session (and a key of theirs)
make keys; re-add them (CLI) and see whether any key made in the race revives.
Usage: race_removal.py MEMBER_EMAIL  (needs cli.sh's `pg` for re-adding)"""
import subprocess, sys, threading, time
from lib import *

A = os.environ.get("A", BASE); B = os.environ.get("B", A)
member = sys.argv[1]
owner, _ = login("owner@acme.test", base=A)
org = call("GET", "/v1/auth/me", owner, base=A)[1]["data"]
sess, _ = login(member, base=A)
s, b = key(sess, "mk", ("read", "write"), base=A); assert s == 201, b
MK = b["data"]["key"]
me = call("GET", "/v1/auth/me", sess, base=A)[1]["data"]
uid = me["id"]
made, lock, stop = [], threading.Lock(), threading.Event()

def worker(i):
    base = A if i % 2 == 0 else B
    n = 0
    while not stop.is_set():
        n += 1
        cred = sess if n % 2 else MK
        s, b = key(cred, f"r{i}-{n}", ("read",), base=base)
        if s == 201:
            with lock: made.append((b["data"]["id"], b["data"]["key"], cred == MK, time.time(), base))

ts = [threading.Thread(target=worker, args=(i,)) for i in range(int(os.environ.get("N", "16")))]
for t in ts: t.start()
time.sleep(1.0)
t_rm0 = time.time(); s, b = call("DELETE", f"/v1/members/{uid}", owner, base=A); t_rm1 = time.time()
print("remove", s)
after = [m for m in made[:] if m[3] > t_rm1]

time.sleep(0.5); stop.set()
for t in ts: t.join()
role = os.environ.get("ROLE", "DEVELOPER")
print(subprocess.run(["bash", "-c", f"source cli.sh; {os.environ.get('CLI','pg')} member add Acme {member} --role {role}"],
                     capture_output=True, text=True).stdout.strip())
time.sleep(1.5)
print("answered 201 after the removal answered:", len([m for m in made if m[3] > t_rm1]), "by instance", {b_: len([m for m in made if m[3] > t_rm1 and m[4]==b_]) for b_ in (A,B)})
live = [(kid, via, round(t-t_rm1,3), base) for kid, k, via, t, base in made if validate(k, base=A)[0] == 200 or validate(k, base=B)[0] == 200]
print(f"made {len(made)}; ALIVE after re-join: {len(live)} {live[:5]}")
