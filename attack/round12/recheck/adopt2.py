"""Round 12 (finding 13 of round 11 again): an ADMIN edits an app registered through dev's key,
THEN rotates its secret without grace at the dashboard. Is it untied (as a rotation alone unties it)?"""
import time
from lib import *
A = os.environ.get("A", BASE)
dev, _ = login("dev@acme.test", base=A); adm, _ = login("admin@acme.test", base=A)
for order in ("rotate only", "edit, then rotate"):
    s, b = key(dev, "devK", ("read", "write"), base=A); kid, K = b["data"]["id"], b["data"]["key"]
    s, b = call("POST", "/v1/apps", K, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A)
    X = b["data"]["client_id"]
    if order != "rotate only":
        print(order, ": PATCH by admin", call("PATCH", f"/v1/apps/{X}", adm, {"name": "X adopted"}, base=A)[0], end="; ")
    s, b = call("POST", f"/v1/apps/{X}/rotate-secret", adm, {"grace_period": 0}, base=A); SEC = b["data"]["client_secret"]
    print(order, ": admin rotates, grace 0:", s, "| made_by_key still set:", call("GET", f"/v1/apps/{X}", adm, base=A)[1]["data"]["made_by_key"] is not None, end="")
    print(" | dev DELETE the app:", call("DELETE", f"/v1/apps/{X}", dev, base=A)[0], "| dev revokes own key:", call("DELETE", f"/v1/api-keys/{kid}", dev, base=A)[0], end=""); time.sleep(1)
    print(" -> app GET", call("GET", f"/v1/apps/{X}", adm, base=A)[0], "admin's secret cc", cc(X, SEC, "read", base=A)[0])
