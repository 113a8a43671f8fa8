"""Forgot-password enumeration: 50 known vs 50 unknown addresses (interleaved), status, Location,
body, and time; medians. Usage: BASE=… python3 forgot_timing.py [N]"""
import statistics, sys, time, uuid, requests
from lib12 import *
N = int(sys.argv[1]) if len(sys.argv) > 1 else 50
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
tag = uuid.uuid4().hex[:6]
known = []
for i in range(N):
    e = f"t{tag}{i}@known.test"
    s = requests.Session(); r = s.get(BASE + "/signup")
    s.post(BASE + "/signup", data={"csrf_token": csrf(r.text), "email": e, "password": PW, "organization": "T" + tag}, allow_redirects=False)
    known.append(e)
unknown = [f"t{tag}{i}@unknown.test" for i in range(N)]
s = requests.Session(); tok = csrf(s.get(BASE + "/forgot-password").text)
# warm up
for i in range(5):
    s.post(BASE + "/forgot-password", data={"csrf_token": tok, "email": f"warm{i}{tag}@x.test"}, allow_redirects=False)
res = {"known": [], "unknown": []}; shapes = {"known": set(), "unknown": set()}
for i in range(N * REPS):
    j = i % N
    for kind, e in (("known", known[j]), ("unknown", unknown[j])) if i % 2 else (("unknown", unknown[j]), ("known", known[j])):
        t0 = time.perf_counter()
        r = s.post(BASE + "/forgot-password", data={"csrf_token": tok, "email": e}, allow_redirects=False)
        res[kind].append((time.perf_counter() - t0) * 1000)
        shapes[kind].add((r.status_code, r.headers.get("location"), len(r.content), tuple(sorted(k.lower() for k in r.headers.keys() if k.lower() not in ("date", "x-request-id")))))
for k in res:
    v = sorted(res[k])
    print(f"{BASE} {k:8s} n={len(v)} median={statistics.median(v):.2f} ms  p10={v[len(v)//10]:.2f} p90={v[9*len(v)//10]:.2f} mean={statistics.mean(v):.2f}")
print("known shapes:", shapes["known"]); print("unknown shapes:", shapes["unknown"])
wins = sum(1 for a, b in zip(res["known"], res["unknown"]) if a > b)
print(f"pairs where the known address took longer: {wins}/{len(res['known'])}")
med = statistics.median(res["known"] + res["unknown"])
acc = (sum(1 for x in res["known"] if x > med) + sum(1 for x in res["unknown"] if x <= med)) / (2 * len(res["known"]))
print(f"guessing 'known' when above the overall median: accuracy {acc:.2f}")
# per address: the median of its REPS samples, thresholded at the overall median of those medians
pk = [statistics.median(res["known"][j::N]) for j in range(N)]
pu = [statistics.median(res["unknown"][j::N]) for j in range(N)]
m2 = statistics.median(pk + pu)
acc2 = (sum(1 for x in pk if x > m2) + sum(1 for x in pu if x <= m2)) / (2 * N)
print(f"per address (median of {REPS} requests): accuracy {acc2:.2f}")
