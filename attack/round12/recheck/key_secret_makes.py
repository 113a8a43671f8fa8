"""Round 12: a leaked ADMIN key rotates a management app's secret (allowed for keys); the holder's
token of that app makes a key J and an app X; then the key is revoked or rolled (overlap 0).
Usage: key_secret_makes.py revoke|roll"""
import sys, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
how = sys.argv[1]
owner, _ = login("owner@acme.test", base=A)
s, b = call("POST", "/v1/apps", owner, {"name": "ops-bot", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete", "admin"], "management": True, "access_token_ttl": 86400}, base=A); M = b["data"]["client_id"]
s, b = key(owner, "K-admin", ("read", "write", "delete", "admin"), base=A); kid, K = b["data"]["id"], b["data"]["key"]
S = call("POST", f"/v1/apps/{M}/rotate-secret", K, {"grace_period": 0}, base=A)[1]["data"]["client_secret"]
T = cc(M, S, "read write delete admin", base=A)[1]["access_token"]
s, b = key(T, "J", ("read", "write", "delete", "audit:read"), base=A); J, jexp = b["data"]["key"], b["data"]["expires_at"]
s, b = call("POST", "/v1/apps", T, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"]}, base=A)
X = (b["data"]["client_id"], b["data"]["client_secret"])
print("through the key-issued secret's token: key J", s and 201, "expires", jexp, "| app X made")
if how == "roll":
    print("owner rolls K-admin (overlap 0):", call("POST", f"/v1/api-keys/{kid}/roll", owner, {"expires_in": 0}, base=A)[0])
else:
    print("owner revokes K-admin:", call("DELETE", f"/v1/api-keys/{kid}", owner, base=A)[0])
time.sleep(2.0)
print("  K", validate(K, base=B), "| secret cc", cc(M, S, "read", base=B)[0], "| token /v1", call("GET", "/v1/apps?limit=1", T, base=B)[0],
      "| J", validate(J, base=B), "J GET audit", call("GET", "/v1/audit-events?limit=1", J, base=B)[0], "J makes a key", key(J, "J2", ("read", "write"), base=B)[0],
      "| X cc", cc(*X, "read write", base=B)[0])
