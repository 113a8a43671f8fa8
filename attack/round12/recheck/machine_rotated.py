"""Round 12: a management app's secret leaks; its holder makes a key J and an app X with a
token; the organization rotates the app's secret without grace (its creator: the leaked-secret
remedy; or another ADMIN: a takeover). The old secret and its tokens die: what about J and X?
(Compare: rolling a key with no overlap bounds what was made through it to now.)"""
import time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
adm, _ = login("admin@acme.test", base=A); vic, _ = login("victim@acme.test", base=A)
for who, cred in (("its creator (grace 0)", adm), ("another ADMIN, a takeover (grace 0)", vic)):
    s, b = call("POST", "/v1/apps", adm, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"],
                "scopes": ["read", "write", "delete"], "management": True, "access_token_ttl": 86400}, base=A)
    M = (b["data"]["client_id"], b["data"]["client_secret"])
    t = cc(*M, "read write delete", base=A)[1]; MT = t["access_token"]          # the leaked secret's token
    s, b = key(MT, "J", ("read", "write", "delete"), base=A); J, jexp = b["data"]["key"], b["data"]["expires_at"]
    s, b = call("POST", "/v1/apps", MT, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"]}, base=A)
    X = (b["data"]["client_id"], b["data"]["client_secret"])
    print(f"rotate M's secret by {who}:", call("POST", f"/v1/apps/{M[0]}/rotate-secret", cred, {"grace_period": 0}, base=A)[0]); time.sleep(1.2)
    print(f"  old secret cc {cc(*M, 'read', base=B)[0]} | old token /v1 {call('GET', '/v1/api-keys?limit=1', MT, base=B)[0]}"
          f" | J (expires {jexp}) {validate(J, base=B)} GET /v1/apps {call('GET', '/v1/apps?limit=1', J, base=B)[0]} makes a key {key(J, 'J2', ('read', 'write', 'delete'), base=B)[0]}"
          f" makes an app {call('POST', '/v1/apps', J, {'name': 'X2', 'type': 'confidential', 'grant_types': ['client_credentials'], 'scopes': ['read']}, base=B)[0]}"
          f" | X cc {cc(*X, 'read write', base=B)[0]}")
