"""Sign-up enumeration by timing: 50 addresses that have an account vs 50 new ones (interleaved).
Usage: BASE=… python3 signup_timing.py [N]"""
import statistics, sys, time, uuid, requests
from lib12 import *
N = int(sys.argv[1]) if len(sys.argv) > 1 else 50
tag = uuid.uuid4().hex[:6]
s = requests.Session(); tok = csrf(s.get(BASE + "/signup").text)
def su(e):
    return s.post(BASE + "/signup", data={"csrf_token": tok, "email": e, "password": PW, "organization": "S" + tag}, allow_redirects=False)
known = [f"s{tag}{i}@known.test" for i in range(N)]
for e in known: su(e)
res = {"existing": [], "new": []}; shapes = {"existing": set(), "new": set()}
for i in range(N):
    pairs = [("existing", known[i]), ("new", f"s{tag}{i}@new.test")]
    for kind, e in (pairs if i % 2 else pairs[::-1]):
        t0 = time.perf_counter(); r = su(e); res[kind].append((time.perf_counter() - t0) * 1000)
        shapes[kind].add((r.status_code, r.headers.get("location"), "set-cookie" in r.headers))
for k in res:
    v = sorted(res[k]); print(f"{BASE} sign-up {k:8s} n={len(v)} median={statistics.median(v):.2f} ms p10={v[len(v)//10]:.2f} p90={v[9*len(v)//10]:.2f}")
print(shapes)
wins = sum(1 for a, b in zip(res["new"], res["existing"]) if a > b)
print(f"pairs where the new address took longer: {wins}/{len(res['new'])}")
med = statistics.median(res["new"] + res["existing"])
acc = (sum(1 for x in res["new"] if x > med) + sum(1 for x in res["existing"] if x <= med)) / (2 * len(res["new"]))
print(f"one request, guessing 'new' when above the overall median: accuracy {acc:.2f}")
