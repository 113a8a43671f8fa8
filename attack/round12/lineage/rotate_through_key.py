"""A key rotates the secret of an app made at the dashboard (or adds a redirect URI): does that outlive the key?"""
import time
from lib import *
owner, _ = login("owner@acme.test")
s, b = call("POST", "/v1/apps", owner, {"name": "first-party", "type": "confidential", "redirect_uris": ["https://app.acme.test/cb"],
            "grant_types": ["client_credentials", "authorization_code"], "scopes": ["read", "openid"]})
X, X_SEC = b["data"]["client_id"], b["data"]["client_secret"]
s, b = key(owner, "K", ("read", "write")); kid, K = b["data"]["id"], b["data"]["key"]
s, b = call("POST", f"/v1/apps/{X}/rotate-secret", K, {"grace_period": 0}); print("K rotates the dashboard app's secret:", s, (b.get("error") or {}).get("message", ""))
NEW = b.get("data", {}).get("client_secret")
s, b = call("PATCH", f"/v1/apps/{X}", K, {"redirect_uris": ["https://app.acme.test/cb", "http://127.0.0.1:9999/evil"]}); print("K adds a redirect URI:", s)
print("revoke K:", call("DELETE", f"/v1/api-keys/{kid}", owner)[0]); time.sleep(1.2)
if NEW: print("secret handed to K's holder, after K is revoked: cc", cc(X, NEW, "read")[0], "| the owner's old secret:", cc(X, X_SEC, "read")[0])
print("redirect URI added through K, after K is revoked:", call("GET", f"/v1/apps/{X}", owner)[1]["data"]["redirect_uris"])
# The same with a management app and an admin key: /v1 power after the key is revoked.
s, b = call("POST", "/v1/apps", owner, {"name": "ops-bot", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete", "admin"], "management": True}); M = b["data"]["client_id"]
s, b = key(owner, "K-admin", ("read", "write", "delete", "admin")); kid, K = b["data"]["id"], b["data"]["key"]
s, b = call("POST", f"/v1/apps/{M}/rotate-secret", K, {"grace_period": 0}); print("admin key rotates the management app's secret:", s)
MS = b.get("data", {}).get("client_secret")
print("revoke K-admin:", call("DELETE", f"/v1/api-keys/{kid}", owner)[0]); time.sleep(1.2)
if MS:
    st, t = cc(M, MS, "read write delete admin"); print("management app with the secret K's holder got: cc", st, end=" ")
    if st == 200: print("| GET /v1/audit-events", call("GET", "/v1/audit-events?limit=1", t["access_token"])[0], "| POST /v1/api-keys", key(t["access_token"], "persist", ("read", "write", "delete"))[0])
