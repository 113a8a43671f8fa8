"""Invitation acceptance: another email, signed in as someone else, replay after revoke/accept,
sign-up from the link with another email, the sender's demotion before acceptance, role given."""
import re, uuid, requests
from lib12 import *

o = login("owner@acme.test"); acme = orgs_of(o)[0][0]; K = f"/dashboard/orgs/{acme}"
a = login("admin@acme.test"); d = login("dev@acme.test")
def invite(s, email, role):
    r = post(s, K + "/invitations", {"csrf_token": token_of(s), "email": email, "role": role})
    m = re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', r.text)
    return (urllib.parse.urlparse(html.unescape(m.group(1))).path if m else None), r
def inv_id(s, email):
    r = get(s, K + "/members")
    m = re.search(r'/invitations/([A-Za-z0-9_-]+)/revoke"[^>]*>[^<]*<span[^>]*> ?' + re.escape(email), r.text)
    ids = re.findall(r'/invitations/([A-Za-z0-9_-]+)/revoke', r.text)
    return m.group(1) if m else ids
def signup_from(path, email, org=""):
    s = requests.Session(); r = s.get(BASE + "/signup?return_to=" + urllib.parse.quote(path))
    shown = re.search(r'name="email"[^>]*value="([^"]*)"', r.text)
    r = s.post(BASE + "/signup", data={"csrf_token": csrf(r.text), "email": email, "password": PW, "organization": org, "return_to": path}, allow_redirects=False)
    return r, shown.group(1) if shown else None
def show(label, r):
    print(f"{label:75s} {r.status_code} {title(r.text)[:120]!r}" + (f" loc={r.headers.get('location')}" if r.is_redirect else ""))

t = uuid.uuid4().hex[:6]
p, r = invite(o, f"inv{t}@mail.test", "ADMIN"); print("invite ADMIN ->", r.status_code, bool(p))
show("dev (signed in, other email) GET the link", get(d, p))
show("dev POST accept", post(d, p, {"csrf_token": token_of(d)}))
r, shown = signup_from(p, f"other{t}@mail.test"); print("sign-up page pre-fills email:", shown); show("sign-up from link with another email", r)
r, _ = signup_from(p, f"other{t}@mail.test", org="Own org"); show("same, with an organization name", r)
r, _ = signup_from(p, f"INV{t}@Mail.Test"); show("sign-up from link with the invited email (other case)", r)
u = login(f"INV{t}@Mail.Test")
show("invitee opens the link after sign-up", get(u, p))
st, b = v1_login(f"inv{t}@mail.test", acme); print("invitee role via /v1/auth/me:", v1("GET", "/v1/auth/me", b["data"]["access_token"])[1]["data"].get("role") if st == 200 else (st, b))
r, _ = signup_from(p, f"inv2{t}@mail.test"); show("replay the used link by sign-up", r)
show("replay the used link by dev POST", post(d, p, {"csrf_token": token_of(d)}))

p2, _ = invite(o, f"rev{t}@mail.test", "VIEWER")
iid = inv_id(o, f"rev{t}@mail.test"); print("invitation id", iid)
iid = iid if isinstance(iid, str) else iid[0]
show("owner revokes", post(o, f"{K}/invitations/{iid}/revoke", {"csrf_token": token_of(o)}))
r, _ = signup_from(p2, f"rev{t}@mail.test"); show("sign-up from revoked link (no org name)", r)
r, _ = signup_from(p2, f"rev{t}@mail.test", org="RevOrg"); show("sign-up from revoked link (org name)", r)
rv = login(f"rev{t}@mail.test")
show("revoked link, signed in as the invited email, GET", get(rv, p2))
show("revoked link, POST accept", post(rv, p2, {"csrf_token": token_of(rv)}))
show("revoked twice", post(o, f"{K}/invitations/{iid}/revoke", {"csrf_token": token_of(o)}))

# sender demoted before acceptance
p3, _ = invite(a, f"dem{t}@mail.test", "ADMIN")
mem = dict((e, m) for m, e in members(o, acme)[0])
show("owner demotes admin to DEVELOPER", post(o, f"{K}/members/{mem['admin@acme.test']}/role", {"csrf_token": token_of(o), "role": "DEVELOPER"}))
r, _ = signup_from(p3, f"dem{t}@mail.test"); show("sign-up from the demoted admin's ADMIN invitation", r)
dm = None
try:
    dm = login(f"dem{t}@mail.test"); show("signed in: its orgs", get(dm, "/account")); print("orgs:", orgs_of(dm)[1])
except AssertionError as e:
    print("sign-in:", e)
show("owner restores admin", post(o, f"{K}/members/{mem['admin@acme.test']}/role", {"csrf_token": token_of(o), "role": "ADMIN"}))
# invitation link token leaking through the login redirect
an = requests.get(BASE + p, allow_redirects=False); print("anonymous GET link ->", an.status_code, an.headers.get("location"), "| Referrer-Policy:", an.headers.get("referrer-policy"))
