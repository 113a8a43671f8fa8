"""Round 12: a secret issued through a key (rotate-secret through an admin key) ends when the key is
revoked, with the tokens it got. When the key is ROLLED (no overlap), the secret expires: what about
the tokens it got? (management app, access_token_ttl 86400).  Usage: roll_secret_tokens.py roll|revoke"""
import sys, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
how = sys.argv[1]
owner, _ = login("owner@acme.test", base=A)
s, b = call("POST", "/v1/apps", owner, {"name": "ops-bot", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete", "admin"], "management": True, "access_token_ttl": 86400}, base=A); M = b["data"]["client_id"]
s, b = key(owner, "K-admin", ("read", "write", "delete", "admin"), base=A); kid, K = b["data"]["id"], b["data"]["key"]
s, b = call("POST", f"/v1/apps/{M}/rotate-secret", K, {"grace_period": 0}, base=A); S = b["data"]["client_secret"]
st, t = cc(M, S, "read write delete admin", base=A); T = t["access_token"]; print("K-admin rotates the management app; its holder's token:", st, "expires_in", t.get("expires_in"))
if how == "roll":
    print("owner rolls K-admin (overlap 0):", call("POST", f"/v1/api-keys/{kid}/roll", owner, {"expires_in": 0}, base=A)[0])
else:
    print("owner revokes K-admin:", call("DELETE", f"/v1/api-keys/{kid}", owner, base=A)[0])
time.sleep(2.0)
print("  K", validate(K, base=B), "| the secret cc", cc(M, S, "read", base=B)[0],
      "| the token it got: GET /v1/audit-events", call("GET", "/v1/audit-events?limit=1", T, base=B)[0],
      "POST /v1/api-keys", key(T, "persist", ("read", "write", "delete"), base=B)[0],
      "POST /v1/invitations", call("POST", "/v1/invitations", T, {"email": "x@evil.test", "role": "ADMIN"}, base=B)[0])
