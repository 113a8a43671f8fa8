"""Race: invitees accept ADMIN invitations while their sender (an ADMIN) is
demoted / removed (/v1) or disabled (CLI). After the change answered, no
acceptance may succeed. Usage: race_invite.py demote|remove|disable TAG N"""
import subprocess, sys, threading, time
from lib import *

A = os.environ.get("A", BASE); B = os.environ.get("B", A); CLI = os.environ.get("CLI", "pg")
mode, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def cli(cmd):
    return subprocess.run(["bash", "-c", f"source cli.sh; printf '%s\\n' \"$PW\" | {CLI} {cmd}"], capture_output=True, text=True)
sender = f"sender-{tag}@acme.test"
cli(f"user create --email {sender} --org Acme --role ADMIN")
owner, _ = login("owner@acme.test", base=A)
snd, _ = login(sender, base=A)
sid = call("GET", "/v1/auth/me", snd, base=A)[1]["data"]["id"]
invitees = []
for i in range(n):
    e = f"inv-{tag}-{i}@other.test"
    cli(f"user create --email {e} --org Other{tag}{i} --role OWNER")
    s, b = call("POST", "/v1/invitations", snd, {"email": e, "role": "ADMIN"}, base=A); assert s == 201, b
    base = A if i % 2 == 0 else B
    url = b["data"]["url"].replace("http://127.0.0.1:18681", base)
    sess = page_login(e, base=base)
    page = sess.get(url, timeout=10)
    invitees.append((e, sess, url, csrf(page.text)))
results, go = [], threading.Event()
def accept(e, sess, url, tok):
    go.wait()
    time.sleep(float(os.environ.get("SPREAD", "0.0")) * (hash(e) % 100) / 100)
    ts0 = time.time()
    r = sess.post(url, data={"csrf_token": tok}, allow_redirects=False, timeout=30)
    results.append((e, r.status_code, time.time(), ts0))
ts = [threading.Thread(target=accept, args=inv) for inv in invitees]
for t in ts: t.start()
go.set(); time.sleep(float(os.environ.get("DELAY", "0.02")))
t0 = time.time()
if mode == "demote":
    out = call("PATCH", f"/v1/members/{sid}", owner, {"role": "DEVELOPER"}, base=A)[0]
elif mode == "remove":
    out = call("DELETE", f"/v1/members/{sid}", owner, base=A)[0]
else:
    out = cli(f"user disable {sender}").returncode
t1 = time.time()
for t in ts: t.join()
members = {m["email"]: m["role"] for m in call("GET", "/v1/members?limit=100", owner, base=A)[1]["data"]}
joined = [(e, st, round(t - t1, 4), round(s0 - t1, 4)) for e, st, t, s0 in results if members.get(e) == "ADMIN"]
started_after = [j for j in joined if j[3] > 0]
late = [j for j in joined if j[2] > 0]
print(f"{mode}: answered {out} in {t1 - t0:.3f}s; {len(joined)}/{n} joined as ADMIN; joined after the {mode} answered (email, status, answered-after, started-after): {late}; STARTED after it answered and joined: {started_after}")
