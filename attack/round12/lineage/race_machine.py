"""Race (round 12): many threads on A and B make keys and apps with a management
app M's token (and down the chain M -> key J -> key/app, and rolls of M-made keys
through M's token) while M is ended on A. Afterwards nothing M made may act.
Usage: race_machine.py delete|unmanage|remove|keyrevoke|keyroll [N threads]
  delete    : ADMIN deletes M (DELETE /v1/apps/M)
  unmanage  : ADMIN turns M's management off (PATCH management false)
  remove    : OWNER removes M's creator from the organization
  keyrevoke : M was registered through the ADMIN's key K0; the owner revokes K0
  keyroll   : same, the owner rolls K0 with no overlap
"""
import subprocess, sys, threading, time, uuid
from lib import *

A = os.environ.get("A", BASE); B = os.environ.get("B", A)
mode = sys.argv[1]; N = int(sys.argv[2]) if len(sys.argv) > 2 else 16
tag = uuid.uuid4().hex[:6]
owner, _ = login("owner@acme.test", base=A)
# A fresh ADMIN per run (remove mode removes them).
mail = f"mach-{tag}@acme.test"
subprocess.run(["bash", "-c", f"source cli.sh; printf '%s\\n' \"$PW\" | {os.environ.get('CLI', 'pg')} user create --email {mail} --org Acme --role ADMIN"],
               capture_output=True, text=True)
adm, _ = login(mail, base=A)
uid = call("GET", "/v1/auth/me", adm, base=A)[1]["data"]["id"]
maker = adm
k0id = None
if mode.startswith("key"):
    s, b = key(adm, "K0", ("read", "write", "delete", "admin"), base=A); assert s == 201, b
    k0id, maker = b["data"]["id"], b["data"]["key"]
s, b = call("POST", "/v1/apps", maker, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete"], "management": True, "access_token_ttl": 86400}, base=A); assert s == 201, b
M = (b["data"]["client_id"], b["data"]["client_secret"])
MT = cc(*M, "read write delete", base=A)[1]["access_token"]
s, b = key(MT, "J", ("read", "write", "delete"), base=A); assert s == 201, b
J = b["data"]["key"]; jid = b["data"]["id"]
s, b = key(J, "J1", ("read", "write", "delete"), base=A); assert s == 201, b
J1 = b["data"]["key"]

made_keys, made_apps, errors, lock, stop = [], [], {}, threading.Lock(), threading.Event()
roll_targets = []  # (id) of keys made by M to roll through M

def worker(i):
    base = A if i % 2 == 0 else B
    n = 0
    while not stop.is_set():
        n += 1
        op = n % 6
        s = 201
        if op == 0:    # app through M's token
            s, b = call("POST", "/v1/apps", MT, {"name": f"x{i}-{n}", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=base)
            if s == 201:
                with lock: made_apps.append((b["data"]["client_id"], b["data"]["client_secret"], "M"))
        elif op == 1:  # key through M's token
            s, b = key(MT, f"k{i}-{n}", ("read", "write"), base=base)
            if s == 201:
                with lock: made_keys.append((b["data"]["id"], b["data"]["key"], "M")); roll_targets.append(b["data"]["id"])
        elif op == 2:  # key through J (made by M)
            s, b = key(J, f"j{i}-{n}", ("read",), base=base)
            if s == 201:
                with lock: made_keys.append((b["data"]["id"], b["data"]["key"], "J"))
        elif op == 3:  # app through J1 (grandchild of M)
            s, b = call("POST", "/v1/apps", J1, {"name": f"y{i}-{n}", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=base)
            if s == 201:
                with lock: made_apps.append((b["data"]["client_id"], b["data"]["client_secret"], "J1"))
        elif op == 4:  # key through J1
            s, b = key(J1, f"g{i}-{n}", ("read",), base=base)
            if s == 201:
                with lock: made_keys.append((b["data"]["id"], b["data"]["key"], "J1"))
        else:          # roll an M-made key through M's token
            with lock: t = roll_targets.pop() if roll_targets else None
            if t:
                s, b = call("POST", f"/v1/api-keys/{t}/roll", MT, {"expires_in": 0}, base=base)
                if s == 201:
                    with lock: made_keys.append((b["data"]["new_key"]["id"], b["data"]["new_key"]["key"], "roll-M"))
        if s not in (200, 201):
            with lock: errors[s] = errors.get(s, 0) + 1

ts = [threading.Thread(target=worker, args=(i,)) for i in range(N)]
for t in ts: t.start()
time.sleep(float(os.environ.get("WARM", "1.5")))
t0 = time.time()
if mode == "delete":
    s, b = call("DELETE", f"/v1/apps/{M[0]}", adm, base=A)
elif mode == "unmanage":
    s, b = call("PATCH", f"/v1/apps/{M[0]}", adm, {"management": False}, base=A)
elif mode == "remove":
    s, b = call("DELETE", f"/v1/members/{uid}", owner, base=A)
elif mode == "keyrevoke":
    s, b = call("DELETE", f"/v1/api-keys/{k0id}", owner, base=A)
else:
    s, b = call("POST", f"/v1/api-keys/{k0id}/roll", owner, {"expires_in": 0}, base=A)
t1 = time.time()
print(mode, "->", s, "in", round(t1 - t0, 3), "s")
time.sleep(1.0); stop.set()
for t in ts: t.join()
time.sleep(1.5)
live_keys = []
for kid, k, via in made_keys:
    for base in (A, B):
        if validate(k, base=base)[0] == 200:
            live_keys.append((kid, via, base)); break
live_apps = []
for cid_, sec, via in made_apps:
    for base in (A, B):
        if cc(cid_, sec, base=base)[0] == 200:
            live_apps.append((cid_, via, base)); break
print(f"made {len(made_keys)} keys {dict((v, sum(1 for m in made_keys if m[2]==v)) for v in set(m[2] for m in made_keys))}, "
      f"{len(made_apps)} apps; non-2xx answers {errors}")
print("J", validate(J, base=B), "J1", validate(J1, base=B), "M token /v1", call("GET", "/v1/api-keys?limit=1", MT, base=B)[0])
print("SURVIVING keys:", len(live_keys), live_keys[:6])
print("SURVIVING apps:", len(live_apps), live_apps[:6])
for kid, via, base in live_keys[:2]:
    print(" ", call("GET", f"/v1/api-keys/{kid}", owner, base=A)[1].get("data"))
