"""takeover.py (f) alone, with the audit of the odd outcome: the ADMIN's takeover (no-grace rotation on B)
answers 200 with a new secret, yet the owner's revocation of the key (on A) deletes the app.
Usage: A=… B=… takeover_race.py RUNS"""
import subprocess, sys, threading, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
dev, _ = login("dev@acme.test", base=A); adm, _ = login("admin@acme.test", base=A); owner, _ = login("owner@acme.test", base=A)
APP = {"type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}
def sql(q):
    return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "attack12r", "-Atc", q], capture_output=True, text=True).stdout.strip()
outcomes = {}; shown = 0
for r in range(runs):
    s, b = key(dev, f"t{r}", ("read", "write", "delete"), base=A); kid, K = b["data"]["id"], b["data"]["key"]
    s, b = call("POST", "/v1/apps", K, dict(APP, name=f"x-t{r}"), base=A); X, S0 = b["data"]["client_id"], b["data"]["client_secret"]
    res = {}; go = threading.Event()
    def take():
        go.wait(); res["take"] = call("POST", f"/v1/apps/{X}/rotate-secret", adm, {"grace_period": 0}, base=B); res["t_take"] = time.time()
    def rev():
        go.wait(); time.sleep((r % 5) * 0.002); res["rev"] = call("DELETE", f"/v1/api-keys/{kid}", owner, base=A) if os.environ.get("END", "revoke") == "revoke" else call("POST", f"/v1/api-keys/{kid}/roll", owner, {"expires_in": 0}, base=A); res["t_rev"] = time.time()
    ts = [threading.Thread(target=take), threading.Thread(target=rev)]; [t.start() for t in ts]; go.set(); [t.join() for t in ts]
    time.sleep(2.2)
    SA = (res["take"][1].get("data") or {}).get("client_secret") if isinstance(res["take"][1], dict) else None
    o = (res["take"][0], res["rev"][0], call("GET", f"/v1/apps/{X}", owner, base=B)[0], cc(X, SA, "read", base=B)[0] if SA else None)
    outcomes[o] = outcomes.get(o, 0) + 1
    if o[0] == 200 and o[2] == 404 and shown < 2:
        shown += 1
        print(f"run {r}: takeover answered 200 (new secret {SA[:6]}…) at {res['t_take']:.3f}, revocation 200 at {res['t_rev']:.3f}; app GET now 404, the ADMIN's new secret cc {o[3]}")
        print(sql(f"select created_at, actor, action, target, details from audit_events where target in ('{X}','{kid}') or details::text like '%{X}%' order by created_at"))
print("(takeover, revocation, app GET afterwards, ADMIN's new secret cc) -> count")
for o, n in sorted(outcomes.items(), key=str): print("   ", o, n)
