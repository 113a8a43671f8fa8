"""Last-OWNER protection under real races. Each round: X signs up (OWNER of a new organization),
invites Y as OWNER and Z as VIEWER (both sign up from the links). Then, fired together through a
barrier (X's requests on BASE, Y's on BASE2): demote each other / remove each other / both delete
their accounts / X deletes their account while X's other session demotes Y.
Counts OWNERs left afterwards in the database. Usage: BASE=… BASE2=… DB=sqlite:PATH|pg python3 race_owners.py ROUNDS"""
import os, re, subprocess, sys, threading, uuid, requests
from lib12 import *
B1 = BASE; B2 = os.environ.get("BASE2", BASE); DB = os.environ.get("DB", "sqlite:/tmp/r12r/sq/p.db")
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
def owners(org):
    q = f"select count(*) from memberships where organization_id='{org}' and role='OWNER'"
    if DB.startswith("sqlite:"):
        return subprocess.run(["sqlite3", DB[7:], q], capture_output=True, text=True).stdout.strip()
    return subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "attack12r", "-Atc", q], capture_output=True, text=True).stdout.strip()
def signup(email, org="", path=None, base=B1):
    s = requests.Session(); r = s.get(base + "/signup" + (f"?return_to={urllib.parse.quote(path)}" if path else ""))
    d = {"csrf_token": csrf(r.text), "email": email, "password": PW, "organization": org}
    if path: d["return_to"] = path
    r = s.post(base + "/signup", data=d, allow_redirects=False); assert r.status_code == 303, r.text[:300]
def setup():
    t = uuid.uuid4().hex[:6]
    x, y, z = f"x{t}@race.test", f"y{t}@race.test", f"z{t}@race.test"
    signup(x, org="Race " + t)
    verify_email(x, base=B1)
    sx = login(x, base=B1); org = orgs_of(sx)[0][0]
    for who, role in ((y, "OWNER"), (z, "VIEWER")):
        r = post(sx, f"/dashboard/orgs/{org}/invitations", {"csrf_token": token_of(sx), "email": who, "role": role})
        link = html.unescape(re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', r.text).group(1))
        signup(who, path=urllib.parse.urlparse(link).path)
    sy = login(y, base=B2); sx2 = login(x, base=B2)
    ids = dict((e, m) for m, e in members(sx, org)[0])
    return org, sx, sx2, sy, ids[x], ids[y]
def fire(*calls):
    bar = threading.Barrier(len(calls)); out = [None] * len(calls)
    def run(i, f):
        bar.wait(); out[i] = f()
    th = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(calls)]
    [t.start() for t in th]; [t.join() for t in th]
    return out
def st(r):
    return f"{r.status_code}{'->' + r.headers.get('location', '') if r.is_redirect else ''}"
def main():
  summary = {}
  for scen in ["demote-each-other", "remove-each-other", "both-delete", "delete-while-demoting-other"]:
      zero = 0
      for i in range(ROUNDS):
          org, sx, sx2, sy, xid, yid = setup()
          K = f"/dashboard/orgs/{org}"
          tx, tx2, ty = token_of(sx), token_of(sx2), token_of(sy)
          if scen == "demote-each-other":
              res = fire(lambda: post(sx, f"{K}/members/{yid}/role", {"csrf_token": tx, "role": "VIEWER"}),
                         lambda: post(sy, f"{K}/members/{xid}/role", {"csrf_token": ty, "role": "VIEWER"}))
          elif scen == "remove-each-other":
              res = fire(lambda: post(sx, f"{K}/members/{yid}/remove", {"csrf_token": tx}),
                         lambda: post(sy, f"{K}/members/{xid}/remove", {"csrf_token": ty}))
          elif scen == "both-delete":
              res = fire(lambda: post(sx, "/account/delete", {"csrf_token": tx, "current_password": PW}),
                         lambda: post(sy, "/account/delete", {"csrf_token": ty, "current_password": PW}))
          else:
              res = fire(lambda: post(sx, "/account/delete", {"csrf_token": tx, "current_password": PW}),
                         lambda: post(sx2, f"{K}/members/{yid}/role", {"csrf_token": tx2, "role": "VIEWER"}))
          n = owners(org)
          zero += n == "0"
          print(f"{scen:28s} round {i}: {[st(r) for r in res]} owners left: {n}")
      summary[scen] = zero
  print("rounds with NO owner left:", summary)

if __name__ == "__main__":
    main()
