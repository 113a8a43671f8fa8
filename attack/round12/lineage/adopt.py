"""An app made through a key, then adopted (edited, secret rotated) by an ADMIN: does it still end with the key?"""
import time
from lib import *
dev, _ = login("dev@acme.test"); adm, _ = login("admin@acme.test")
for end in ("roll", "revoke"):
    s, b = key(dev, "devK", ("read", "write")); kid, K = b["data"]["id"], b["data"]["key"]
    s, b = call("POST", "/v1/apps", K, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]})
    X = b["data"]["client_id"]
    print("PATCH by admin:", call("PATCH", f"/v1/apps/{X}", adm, {"name": "X adopted", "scopes": ["read", "write"]})[0], end=" ")
    s, b = call("POST", f"/v1/apps/{X}/rotate-secret", adm, {"grace_period": 0}); SEC = b["data"].get("client_secret"); print("rotate:", s, end=" ")
    d = call("GET", f"/v1/apps/{X}", adm)[1]["data"]; print("made_by_key kept:", d["made_by_key"] == kid, "created_by admin:", d.get("created_by"))
    if end == "roll":
        print(" roll K (2 s):", call("POST", f"/v1/api-keys/{kid}/roll", dev, {"expires_in": 2})[0]); time.sleep(3.5)
    else:
        print(" revoke K:", call("DELETE", f"/v1/api-keys/{kid}", dev)[0]); time.sleep(1)
    print(" adopted app cc after K", end, ":", cc(X, SEC, "read")[0], "GET:", call("GET", f"/v1/apps/{X}", adm)[0])
# Can the DEVELOPER delete the adopted app directly? (then the key route is no new power)
s, b = key(dev, "devK2", ("read", "write", "delete")); kid, K = b["data"]["id"], b["data"]["key"]
s, b = call("POST", "/v1/apps", K, {"name": "Y", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}); Y = b["data"]["client_id"]
call("PATCH", f"/v1/apps/{Y}", adm, {"name": "Y adopted"})
print("dev DELETE adopted app directly:", call("DELETE", f"/v1/apps/{Y}", dev)[0], "| via revoking own key:", call("DELETE", f"/v1/api-keys/{kid}", dev)[0], "-> app", call("GET", f"/v1/apps/{Y}", adm)[0])
