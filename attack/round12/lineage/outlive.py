"""What still outlives the key it was made through: a management app made
through an admin key, and what that app's token makes (keys, apps); an
invitation sent through the key."""
import time
from lib import *

CB = os.environ.get("CHECK", BASE)
owner, _ = login("owner@acme.test")
s, b = key(owner, "K-admin", ("read", "write", "delete", "admin")); assert s == 201, b
kid, K = b["data"]["id"], b["data"]["key"]
# 1. management app through K
s, b = call("POST", "/v1/apps", K, {"name": "M", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete", "admin"], "management": True, "access_token_ttl": 86400})
print("management app through key:", s, b.get("data", {}).get("made_by_key") if s == 201 else b)
M = (b["data"]["client_id"], b["data"]["client_secret"]) if s == 201 else None
if M:
    s, t = cc(*M, "read write delete"); MT = t["access_token"]; print("M token", s, "expires_in", t.get("expires_in"))
    s, b = key(MT, "J-by-machine", ("read", "write", "delete")); print("key through M's token", s, b["data"].get("expires_at") if s == 201 else b)
    J = b["data"]["key"] if s == 201 else None
    s, b = call("POST", "/v1/apps", MT, {"name": "X-by-machine", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"]})
    print("app through M's token", s, b["data"].get("made_by_key") if s == 201 else b)
    X = (b["data"]["client_id"], b["data"]["client_secret"]) if s == 201 else None
# 2. invitation through K
s, b = call("POST", "/v1/invitations", K, {"email": "intruder@evil.test", "role": "ADMIN"})
print("invitation through K", s); INV = b["data"]["url"] if s == 201 else None
# revoke K
print("revoke K", call("DELETE", f"/v1/api-keys/{kid}", owner)[0]); time.sleep(1.2)
print("K", validate(K, base=CB))
if M:
    print("M cc", cc(*M, "read", base=CB)[0], "| M's old token on /v1:", call("GET", "/v1/api-keys", MT, base=CB)[0])
    if J: print("J (made by M's token) validate:", validate(J, base=CB), "| J GET /v1/api-keys:", call("GET", "/v1/api-keys?limit=1", J, base=CB)[0],
                "| J POST key:", key(J, "J2", ("read",), base=CB)[0])
    if X: print("X (app made by M's token) cc:", cc(*X, "read", base=CB)[0])
if INV:
    print("invitation page after K revoked:", requests.get(INV.replace("http://127.0.0.1:18681", CB).replace("http://127.0.0.1:18581", CB), timeout=10).status_code)
    open("out/inv_url.txt", "w").write(INV)
