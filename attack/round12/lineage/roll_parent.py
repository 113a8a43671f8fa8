"""A child key rolls its own maker: is the successor bound to the child (which asked for it)?"""
import time
from lib import *
owner, _ = login("owner@acme.test")
s, b = key(owner, "P", ("read", "write")); pid, P = b["data"]["id"], b["data"]["key"]
s, b = key(P, "C", ("read", "write")); cid, C = b["data"]["id"], b["data"]["key"]
s, b = call("POST", f"/v1/api-keys/{pid}/roll", C, {"expires_in": 0})
print("C rolls P:", s, b.get("error") if s != 201 else "")
if s == 201:
    nk = b["data"]["new_key"]; P2, p2id = nk["key"], nk["id"]
    print(" successor P':", p2id, "made_by_key:", nk.get("made_by_key"), "expires_at:", nk.get("expires_at"), "created_by:", nk.get("created_by"))
    time.sleep(1.2)
    print(" P", validate(P), "C", validate(C), "P'", validate(P2))
    print(" owner revokes C (the key that asked):", call("DELETE", f"/v1/api-keys/{cid}", owner)[0]); time.sleep(1.2)
    print(" P' after C revoked:", validate(P2))
    print(" owner revokes old P:", call("DELETE", f"/v1/api-keys/{pid}", owner)[0]); time.sleep(1.2)
    print(" P' after P revoked:", validate(P2), "| P' makes a key:", key(P2, "more", ("read",))[0])
