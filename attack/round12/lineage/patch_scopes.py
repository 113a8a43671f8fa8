"""Can a key widen its own (or its maker's, or a sibling's) scopes with PATCH?"""
from lib import *
owner, _ = login("owner@acme.test")
s, b = key(owner, "P", ("read", "write")); pid, P = b["data"]["id"], b["data"]["key"]
s, b = key(P, "C", ("read", "write")); cid, C = b["data"]["id"], b["data"]["key"]
for target, name in ((cid, "itself"), (pid, "its maker")):
    s, b = call("PATCH", f"/v1/api-keys/{target}", C, {"scopes": ["read", "write", "delete", "admin"]})
    print(f"C widens {name}:", s, (b.get("error") or {}).get("code"), b.get("data", {}).get("scopes") if s == 200 else "")
s, b = call("PATCH", f"/v1/api-keys/{cid}", owner, {"scopes": ["read", "write", "delete"]}); print("owner widens C (made through P, which lacks delete):", s, b.get("data", {}).get("scopes") if s == 200 else b.get("error", {}).get("code"))
