"""Round 12: how long does B keep accepting a credential that a change made through A
(or the CLI) ended? Pollers hammer B with the credential from before the change until
well after it answered; we report the last 2xx on B after the change answered.
Usage: cache_lag.py key|app|machine|mkey|disable REPS"""
import subprocess, sys, threading, time, uuid
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A); CLI = os.environ.get("CLI", "pg")
mode = sys.argv[1]; reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
owner, _ = login("owner@acme.test", base=A); adm, _ = login("admin@acme.test", base=A)
lags = []
for r in range(reps):
    if mode == "key":
        s, b = key(owner, "lag", ("read",), base=A); kid, K = b["data"]["id"], b["data"]["key"]
        probe = lambda: validate(K, base=B)[0]
        end = lambda: call("DELETE", f"/v1/api-keys/{kid}", owner, base=A)[0]
    elif mode == "app":
        s, b = call("POST", "/v1/apps", owner, {"name": "lag", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A)
        X = (b["data"]["client_id"], b["data"]["client_secret"])
        probe = lambda: cc(*X, "read", base=B)[0]
        end = lambda: call("DELETE", f"/v1/apps/{X[0]}", owner, base=A)[0]
    elif mode in ("machine", "mkey"):
        s, b = call("POST", "/v1/apps", adm, {"name": "lagbot", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"], "management": True}, base=A)
        M = (b["data"]["client_id"], b["data"]["client_secret"]); MT = cc(*M, "read write", base=A)[1]["access_token"]
        if mode == "machine":
            probe = lambda: call("GET", "/v1/api-keys?limit=1", MT, base=B)[0]
        else:  # a key the machine made: ends with the machine
            s, b = key(MT, "mk", ("read",), base=A); J = b["data"]["key"]
            probe = lambda: validate(J, base=B)[0]
        end = lambda: call("DELETE", f"/v1/apps/{M[0]}", adm, base=A)[0]
    else:  # disable (CLI) a fresh user's key and key-made app
        e = f"lag-{uuid.uuid4().hex[:6]}@acme.test"
        subprocess.run(["bash", "-c", f"source cli.sh; printf '%s\\n' \"$PW\" | {CLI} user create --email {e} --org Acme --role ADMIN"], capture_output=True)
        u, _ = login(e, base=A); s, b = key(u, "k", ("read", "write"), base=A); K = b["data"]["key"]
        s, b = call("POST", "/v1/apps", K, {"name": "viak", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A)
        X = (b["data"]["client_id"], b["data"]["client_secret"])
        probe = lambda: (validate(K, base=B)[0], cc(*X, "read", base=B)[0])
        end = lambda: subprocess.run(["bash", "-c", f"source cli.sh; {CLI} user disable {e}"], capture_output=True).returncode
    assert probe() in (200, (200, 200)), probe()
    seen, stop = [], threading.Event()
    def poll():
        while not stop.is_set():
            t = time.time(); st = probe(); seen.append((t, time.time(), st))
    ps = [threading.Thread(target=poll) for _ in range(4)]
    for p in ps: p.start()
    time.sleep(0.3)
    t0 = time.time(); st = end(); t1 = time.time()
    time.sleep(float(os.environ.get("WATCH", "2.0"))); stop.set()
    for p in ps: p.join()
    ok = lambda s: s == 200 or (isinstance(s, tuple) and 200 in s)
    late = [x for x in seen if x[0] > t1 and ok(x[2])]  # request STARTED after the change answered, and succeeded
    lag = max((x[0] - t1 for x in late), default=None)
    lags.append(lag)
    print(f"rep {r}: end -> {st} in {t1 - t0:.3f}s; probes started after it answered and still 2xx: {len(late)}; last at +{lag if lag is None else round(lag, 4)} s")
print(mode, "reps with a 2xx after the change answered:", sum(1 for l in lags if l is not None), "of", reps, "max lag", max((l for l in lags if l is not None), default=None))
