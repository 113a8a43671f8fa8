"""An app registered through an API key must end with the key: revoked, expired, rolled.
Usage: key_app_end.py revoke|expire|roll"""
import datetime, sys, time
from lib import *

mode = sys.argv[1]
CB = os.environ.get("CHECK", BASE)  # the instance the after-checks ask
RU = "http://127.0.0.1:9999/cb"
owner, _ = login("owner@acme.test")
# A resource server made at the dashboard, to introspect.
s, b = call("POST", "/v1/apps", owner, {"name": "rs", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read"], "resource_server": True}); assert s == 201, b
RS = (b["data"]["client_id"], b["data"]["client_secret"])
extra = {}
if mode == "expire":
    extra["expires_at"] = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
s, b = key(owner, "K", ("read", "write", "delete"), **extra); assert s == 201, b
kid, K = b["data"]["id"], b["data"]["key"]
s, b = call("POST", "/v1/apps", K, {"name": "through-key", "type": "confidential", "redirect_uris": [RU],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes": ["openid", "offline_access", "read"], "access_token_ttl": 86400}); assert s == 201, b
app = b["data"]; CID, SEC = app["client_id"], app["client_secret"]
print("app", CID, "ends_at", app.get("ends_at"), "made_by_key", app.get("made_by_key"))
u = page_login("victim@acme.test")
code, ver = authorize(u, CID, RU)
s, t = redeem(CID, SEC, code, ver, RU); assert s == 200, t
AT, RT = t["access_token"], t.get("refresh_token")
s, c = cc(CID, SEC, "read"); CCT = c.get("access_token")
# A second code, not yet redeemed.
code2, ver2 = authorize(u, CID, RU)
print("before: introspect AT", introspect(*RS, AT)[1].get("active"), "userinfo", userinfo(AT), "cc", s)
if mode == "revoke":
    print("revoke K", call("DELETE", f"/v1/api-keys/{kid}", owner)[0])
elif mode == "roll":
    s, b = call("POST", f"/v1/api-keys/{kid}/roll", owner, {"expires_in": 3}); print("roll K", s)
    time.sleep(4)
else:
    time.sleep(27)
time.sleep(1.2)
print("after", mode)
print("  K validate", validate(K, base=CB))
print("  app secret cc", cc(CID, SEC, "read", base=CB)[0])
print("  refresh", refresh(CID, SEC, RT, base=CB)[0] if RT else None)
print("  pending code redeem", redeem(CID, SEC, code2, ver2, RU, base=CB)[0])
print("  introspect user AT", introspect(*RS, AT, base=CB)[1].get("active"), " cc token", introspect(*RS, CCT, base=CB)[1].get("active"))
print("  introspect by the app itself", introspect(CID, SEC, AT, base=CB)[0])
print("  userinfo AT", userinfo(AT, base=CB))
print("  authorize page", end=" ")
try:
    authorize(u, CID, RU); print("CODE ISSUED")
except Exception as e:
    print(str(e)[:80])
print("  GET app", call("GET", f"/v1/apps/{CID}", owner)[0])
