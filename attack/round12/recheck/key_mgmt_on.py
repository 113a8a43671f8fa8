"""Round 12: a leaked OWNER key (read write delete admin) turns management ON for one of the owner's
ordinary apps (the new secret is bound to the key, per round 11's fix); that secret's token makes a
key J and an app X; the key is revoked."""
import time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
owner, _ = login("owner@acme.test", base=A)
s, b = call("POST", "/v1/apps", owner, {"name": "svc", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write", "delete"]}, base=A)
Q = b["data"]["client_id"]
s, b = key(owner, "K-admin", ("read", "write", "delete", "admin"), base=A); kid, K = b["data"]["id"], b["data"]["key"]
s, b = call("PATCH", f"/v1/apps/{Q}", K, {"management": True}, base=A); S = b["data"]["client_secret"]
print("the key turns management on:", s)
T = cc(Q, S, "read write delete", base=A)[1]["access_token"]
J = key(T, "J", ("read", "write", "delete"), base=A)[1]["data"]["key"]
s, b = call("POST", "/v1/apps", T, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A); X = (b["data"]["client_id"], b["data"]["client_secret"])
print("owner revokes K-admin:", call("DELETE", f"/v1/api-keys/{kid}", owner, base=A)[0]); time.sleep(1.5)
print("  secret cc", cc(Q, S, "read", base=B)[0], "| token /v1", call("GET", "/v1/apps?limit=1", T, base=B)[0],
      "| J", validate(J, base=B), "J makes a key", key(J, "J2", ("read",), base=B)[0], "| X cc", cc(*X, "read", base=B)[0],
      "| app still a management app:", call("GET", f"/v1/apps/{Q}", owner, base=B)[1]["data"].get("management"))
