"""Race: revoke (or roll) the maker P while many requests make keys and apps
through its child C (grandchildren of P) and through P itself; afterwards
every key and app made must be dead.  Usage: race_lineage.py revoke|roll [owner-email]"""
import sys, threading, time
from lib import *

A = os.environ.get("A", BASE)
B = os.environ.get("B", A)
mode = sys.argv[1] if len(sys.argv) > 1 else "revoke"
owner = sys.argv[2] if len(sys.argv) > 2 else "owner@acme.test"
sess, _ = login(owner, base=A)
s, b = key(sess, "P", ("read", "write", "delete"), base=A); assert s == 201, b
pid, P = b["data"]["id"], b["data"]["key"]
s, b = key(P, "C", ("read", "write"), base=A); assert s == 201, b
cid, C = b["data"]["id"], b["data"]["key"]
made_keys, made_apps, lock = [], [], threading.Lock()
stop = threading.Event()

def worker(i):
    base = A if i % 2 == 0 else B
    n = 0
    while not stop.is_set():
        maker = C if n % 3 else P
        n += 1
        if n % 4 == 0:
            s, b = call("POST", "/v1/apps", maker, {"name": f"app{i}-{n}", "type": "confidential",
                        "grant_types": ["client_credentials"], "scopes": ["read"]}, base=base)
            if s == 201:
                with lock: made_apps.append((b["data"]["client_id"], b["data"]["client_secret"], maker == C))
        else:
            s, b = key(maker, f"g{i}-{n}", ("read",), base=base)
            if s == 201:
                with lock: made_keys.append((b["data"]["id"], b["data"]["key"], b["data"].get("made_by_key")))

threads = [threading.Thread(target=worker, args=(i,)) for i in range(int(os.environ.get("N", "16")))]
for t in threads: t.start()
time.sleep(float(os.environ.get("WARM", "1.5")))
t0 = time.time()
if mode == "revoke":
    s, b = call("DELETE", f"/v1/api-keys/{pid}", sess, base=A)
else:
    s, b = call("POST", f"/v1/api-keys/{pid}/roll", sess, {"expires_in": 0}, base=A)
print("maker", mode, s, "in", round(time.time() - t0, 3), "s")
time.sleep(1.0)
stop.set()
for t in threads: t.join()
time.sleep(1.5)  # let caches catch up
live_keys = []
for kid, k, maker in made_keys:
    for base in (A, B):
        st, code = validate(k, base=base)
        if st == 200:
            live_keys.append((kid, maker, base)); break
live_apps = []
for cid_, sec, via_child in made_apps:
    for base in (A, B):
        st, _ = cc(cid_, sec, base=base)
        if st == 200:
            live_apps.append((cid_, via_child, base)); break
print(f"made {len(made_keys)} keys, {len(made_apps)} apps; C={cid} P={pid}")
print("SURVIVING keys:", len(live_keys), live_keys[:10])
print("SURVIVING apps:", len(live_apps), live_apps[:10])
for kid, maker, base in live_keys[:3]:
    print(kid, call("GET", f"/v1/api-keys/{kid}", sess, base=A)[1]["data"])
