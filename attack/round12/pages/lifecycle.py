"""What ends when a person changes their password, and when they delete their account.
The person joins Acme through an invitation (sign-up from its link), then holds: two page sessions,
a /v1 dashboard token + refresh token, an API key made at the dashboard, and an OAuth app's access +
refresh tokens from the consent page."""
import base64, hashlib, re, secrets, sys, time, uuid, requests
from lib12 import *

def authorize(sess, client_id, redirect_uri, scope="openid offline_access"):
    verifier = secrets.token_urlsafe(48)
    ch = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope, "state": "st",
         "code_challenge": ch, "code_challenge_method": "S256", "nonce": "n"}
    r = sess.get(BASE + "/oauth/authorize", params=q, allow_redirects=False)
    if r.status_code == 200 and "decision" in r.text:
        params = dict((html.unescape(k), html.unescape(v)) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', r.text))
        params["decision"] = "approve"
        r = sess.post(BASE + "/oauth/authorize", data=params, allow_redirects=False)
    code = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["location"]).query)["code"][0]
    return code, verifier

o = login("owner@acme.test"); acme = orgs_of(o)[0][0]; K = f"/dashboard/orgs/{acme}"
tok = token_of(o)
r = post(o, K + "/apps", {"csrf_token": tok, "name": "life-app", "client_type": "confidential", "redirect_uris": "https://life.test/cb",
                        "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "offline_access"]})
cid = re.search(r'id="client-id">([^<]+)<', r.text).group(1); csec = re.search(r'id="client-secret">([^<]+)<', r.text).group(1)

def person():
    e = f"life{uuid.uuid4().hex[:6]}@acme.test"
    r = post(o, K + "/invitations", {"csrf_token": tok, "email": e, "role": "DEVELOPER"})
    link = html.unescape(re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', r.text).group(1))
    path = urllib.parse.urlparse(link).path
    s = requests.Session(); rr = s.get(BASE + "/signup?return_to=" + urllib.parse.quote(path))
    rr = s.post(BASE + "/signup", data={"csrf_token": csrf(rr.text), "email": e, "password": PW, "organization": "", "return_to": path}, allow_redirects=False)
    print("sign-up from invitation:", rr.status_code, rr.headers.get("location"))
    p1, p2 = login(e), login(e)
    r = get(p1, path); print("invitation link after sign-up ->", r.status_code, r.headers.get("location"))
    st, b = v1_login(e, acme); role = None
    c = {"p1": p1, "p2": p2, "email": e, "v1": b["data"]["access_token"], "v1rt": b["data"]["refresh_token"]}
    st, me = v1("GET", "/v1/auth/me", c["v1"]); print("role via /v1/auth/me:", st, str(me)[:200])
    r = post(p1, K + "/keys", {"csrf_token": token_of(p1), "name": "life-key", "environment": "live", "type": "secret", "scopes": ["read", "write"]})
    c["key"] = re.search(r'id="new-key" class="secret">([^<]+)<', r.text).group(1)
    code, ver = authorize(p2, cid, "https://life.test/cb")
    t = requests.post(BASE + "/oauth/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": "https://life.test/cb", "code_verifier": ver}, auth=(cid, csec)).json()
    c["at"], c["rt"] = t["access_token"], t["refresh_token"]
    return c

def check(c, label):
    out = {}
    out["page p1"] = get(c["p1"], "/account").status_code
    out["page p2"] = get(c["p2"], "/account").status_code
    out["/v1 token"] = v1("GET", "/v1/auth/validate", c["v1"])[0]
    out["/v1 refresh"] = v1("POST", "/v1/auth/refresh", body={"refresh_token": c["v1rt"]})[0]
    out["api key"] = v1("GET", "/v1/auth/validate", c["key"])[0]
    out["app AT userinfo"] = requests.get(BASE + "/oauth/userinfo", headers={"authorization": "Bearer " + c["at"]}).status_code
    out["app AT introspect active"] = requests.post(BASE + "/oauth/introspect", data={"token": c["at"]}, auth=(cid, csec)).json().get("active")
    out["app RT refresh"] = requests.post(BASE + "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": c["rt"]}, auth=(cid, csec)).status_code
    print(f"{label:40s}", out)

c = person(); check(c, "before")
r = post(c["p1"], "/account/password", {"csrf_token": token_of(c["p1"]), "current_password": PW, "new_password": "a brand new password 12"})
print("password change:", r.status_code, r.headers.get("location"))
check(c, "after password change (p1 changed it)")

c = person(); check(c, "before (second person)")
r = post(c["p1"], "/account/delete", {"csrf_token": token_of(c["p1"]), "current_password": PW})
print("delete account:", r.status_code, r.headers.get("location"))
check(c, "after account deletion")
st, b = v1_login(c["email"], acme); print("sign-in after deletion:", st)
r = get(o, K + "/keys"); print("key list shows life-key creator:", re.findall(r'life-key</strong>.*?Created by">([^<]+)<', r.text, re.S)[-1:])

c = person(); check(c, "before (third person)")
r = post(c["p1"], "/account/sign-out-everywhere", {"csrf_token": token_of(c["p1"])})
print("sign out everywhere:", r.status_code, r.headers.get("location"))
check(c, "after sign-out-everywhere")
