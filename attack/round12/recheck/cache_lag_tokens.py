"""Round 12: an app deleted on A: do cc tokens B issues after the deletion answered stay usable?
And an app made by a machine M registered through key K0, when K0 is rolled with no overlap:
how long does B keep issuing it tokens (M ends by ends_at; its apps wait for the housekeeping)?
Usage: cache_lag_tokens.py delete|keyroll REPS"""
import sys, threading, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
mode, reps = sys.argv[1], int(sys.argv[2])
owner, _ = login("owner@acme.test", base=A); adm, _ = login("admin@acme.test", base=A)
s, b = call("POST", "/v1/apps", owner, {"name": "rs", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"], "resource_server": True}, base=A)
RS = (b["data"]["client_id"], b["data"]["client_secret"])
tot_late = tot_alive = hit = 0; lags = []
for r in range(reps):
    if mode == "delete":
        s, b = call("POST", "/v1/apps", owner, {"name": "lag", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A)
        X = (b["data"]["client_id"], b["data"]["client_secret"])
        end = lambda: call("DELETE", f"/v1/apps/{X[0]}", owner, base=A)[0]
    else:
        s, b = key(adm, "K0", ("read", "write", "delete", "admin"), base=A); k0, K0 = b["data"]["id"], b["data"]["key"]
        s, b = call("POST", "/v1/apps", K0, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"], "management": True}, base=A)
        M = (b["data"]["client_id"], b["data"]["client_secret"]); MT = cc(*M, "read write", base=A)[1]["access_token"]
        s, b = call("POST", "/v1/apps", MT, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A)
        X = (b["data"]["client_id"], b["data"]["client_secret"])
        end = lambda: call("POST", f"/v1/api-keys/{k0}/roll", adm, {"expires_in": 0}, base=A)[0]
    seen, stop = [], threading.Event()
    def poll():
        while not stop.is_set():
            t = time.time(); st, tok = cc(*X, "read", base=B); seen.append((t, st, tok.get("access_token")))
    ps = [threading.Thread(target=poll) for _ in range(4)]
    for p in ps: p.start()
    time.sleep(0.3); st = end(); t1 = time.time()
    time.sleep(float(os.environ.get("WATCH", "3"))); stop.set()
    for p in ps: p.join()
    late = [x for x in seen if x[0] > t1 and x[1] == 200]
    alive = sum(1 for x in late[:20] if introspect(*RS, x[2], base=B)[1].get("active"))
    lag = max((x[0] - t1 for x in late), default=None)
    tot_late += len(late); tot_alive += alive; hit += bool(late); lags.append(lag)
    print(f"rep {r}: cc 200 before the end: {sum(1 for x in seen if x[0] < t1 and x[1] == 200)}; end {st}; cc 200 from B started after it answered: {len(late)}, last at +{lag if lag is None else round(lag, 3)} s; of the first 20 of them active at introspection now: {alive}")
print(f"{mode}: reps with late tokens {hit}/{reps}; late tokens {tot_late}; checked still active {tot_alive}; max lag {max((l for l in lags if l), default=None)}")
