"""Round 12: a person's takeover of an app registered through a key (no-grace rotation).
Who can untie it, and can the takeover be raced with the key's revocation?
Usage: takeover.py [RACE_RUNS]"""
import sys, threading, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
dev, _ = login("dev@acme.test", base=A); adm, _ = login("admin@acme.test", base=A); owner, _ = login("owner@acme.test", base=A)
APP = {"type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}

def made(cred, name):
    s, b = key(cred, name, ("read", "write", "delete"), base=A); kid, K = b["data"]["id"], b["data"]["key"]
    s, b = call("POST", "/v1/apps", K, dict(APP, name="x-" + name), base=A); assert s == 201, b
    return kid, K, b["data"]["client_id"], b["data"]["client_secret"]

def after_revoke(who, kid, X, secrets):
    print(f"  revoke the key: {call('DELETE', f'/v1/api-keys/{kid}', who, base=A)[0]}", end=""); time.sleep(1.0)
    print(f" -> app GET {call('GET', f'/v1/apps/{X}', owner, base=B)[0]}, secrets cc " + ", ".join(f"{n}:{cc(X, s_, 'read', base=B)[0]}" for n, s_ in secrets.items() if s_))

# (a) the DEVELOPER at the dashboard rotates (grace 0) the app made through their own key
kid, K, X, S0 = made(dev, "a")
s, b = call("POST", f"/v1/apps/{X}/rotate-secret", dev, {"grace_period": 0}, base=A); S1 = (b.get("data") or {}).get("client_secret")
print("(a) dev rotates own key-made app, grace 0:", s, "made_by_key still:", call("GET", f"/v1/apps/{X}", dev, base=A)[1]["data"]["made_by_key"] == kid)
after_revoke(dev, kid, X, {"original": S0, "dev's new": S1})
# (b) the key itself rotates (grace 0)
kid, K, X, S0 = made(dev, "b")
s, b = call("POST", f"/v1/apps/{X}/rotate-secret", K, {"grace_period": 0}, base=A); S1 = (b.get("data") or {}).get("client_secret")
print("(b) the key rotates its app, grace 0:", s, "made_by_key still:", call("GET", f"/v1/apps/{X}", dev, base=A)[1]["data"]["made_by_key"] == kid)
after_revoke(dev, kid, X, {"original": S0, "key's new": S1})
# (c) a DEVELOPER tries to take over an app made through the ADMIN's key
kid, K, X, S0 = made(adm, "c")
s, b = call("POST", f"/v1/apps/{X}/rotate-secret", dev, {"grace_period": 0}, base=A)
print("(c) dev rotates an app made through admin's key:", s, (b.get("error") or {}).get("code"))
# (d) an ADMIN takes over an app made through dev's key, then dev revokes the key
kid, K, X, S0 = made(dev, "d")
s, b = call("POST", f"/v1/apps/{X}/rotate-secret", adm, {"grace_period": 0}, base=A); S1 = (b.get("data") or {}).get("client_secret")
d = call("GET", f"/v1/apps/{X}", adm, base=A)[1]["data"]
print("(d) admin takes over:", s, "made_by_key now", d["made_by_key"], "ends_at", d.get("ends_at"))
after_revoke(dev, kid, X, {"original": S0, "admin's new": S1})
# (e) an ADMIN's rotation WITH grace (not a takeover) of dev's key-made app
kid, K, X, S0 = made(dev, "e")
s, b = call("POST", f"/v1/apps/{X}/rotate-secret", adm, {"grace_period": 600}, base=A)
print("(e) admin rotates dev's key-made app with grace 600:", s, (b.get("error") or {}).get("message", "")[:80])
# (f) race: the ADMIN's takeover against the owner's revocation of the key (both on A and B at once)
outcomes = {}
for r in range(runs):
    kid, K, X, S0 = made(dev, f"f{r}")
    # the key's holder also gets a secret of their own (with grace, so the original stays too)
    s, b = call("POST", f"/v1/apps/{X}/rotate-secret", K, {"grace_period": 3600}, base=A); SK = b["data"]["client_secret"]
    res = {}
    go = threading.Event()
    def take():
        go.wait(); res["take"] = call("POST", f"/v1/apps/{X}/rotate-secret", adm, {"grace_period": 0}, base=B)
    def rev():
        go.wait(); time.sleep((r % 5) * 0.002); res["rev"] = call("DELETE", f"/v1/api-keys/{kid}", owner, base=A)
    ts = [threading.Thread(target=take), threading.Thread(target=rev)]
    for t in ts: t.start()
    go.set()
    for t in ts: t.join()
    time.sleep(0.8)
    SA = (res["take"][1].get("data") or {}).get("client_secret") if isinstance(res["take"][1], dict) else None
    o = (res["take"][0], res["rev"][0], call("GET", f"/v1/apps/{X}", owner, base=B)[0],
         "orig", cc(X, S0, "read", base=B)[0], "key's", cc(X, SK, "read", base=B)[0], "admin's", cc(X, SA, "read", base=B)[0] if SA else None)
    outcomes[o] = outcomes.get(o, 0) + 1
print("(f) race takeover(B) vs revoke(A): (takeover status, revoke status, app GET, secrets cc...) -> count")
for o, n in sorted(outcomes.items(), key=str): print("   ", o, n)
