"""A management app's token rolls a person's key: does the successor outlive the token (and the app)?"""
import time
from lib import *
adm, _ = login("admin@acme.test")
s, b = key(adm, "Q", ("read", "write")); qid, Q = b["data"]["id"], b["data"]["key"]
s, b = call("POST", "/v1/apps", adm, {"name": "roller", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write"], "management": True, "access_token_ttl": 60}); M = (b["data"]["client_id"], b["data"]["client_secret"])
t = cc(*M, "read write")[1]; MT = t["access_token"]; print("machine token expires_in", t["expires_in"])
s, b = call("POST", f"/v1/api-keys/{qid}/roll", MT, {"expires_in": 0}); print("machine rolls Q:", s, b.get("error") if s != 201 else "")
if s == 201:
    nk = b["data"]["new_key"]; print(" successor made_by_key:", nk.get("made_by_key"), "expires_at:", nk.get("expires_at"))
    print(" delete the machine app:", call("DELETE", f"/v1/apps/{M[0]}", adm)[0]); time.sleep(1.2)
    print(" successor after the app is gone:", validate(nk["key"]))
