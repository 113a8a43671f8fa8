"""Round 12: smaller lineage probes (expiry, rate limit, invitations through keys, apps
a machine made and then turned into management apps / taken over)."""
import datetime, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
owner, _ = login("owner@acme.test", base=A); adm, _ = login("admin@acme.test", base=A); vic, _ = login("victim@acme.test", base=A)
far = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
s, b = call("POST", "/v1/apps", adm, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete"], "management": True, "access_token_ttl": 600}, base=A)
M = (b["data"]["client_id"], b["data"]["client_secret"]); MT = cc(*M, "read write delete", base=A)[1]["access_token"]
s, b = key(MT, "J", ("read", "write", "delete"), base=A); J, jexp = b["data"]["key"], b["data"]["expires_at"]
print("(a) machine key J expires", jexp, "| J makes a key expiring in 400 days:", key(J, "far", ("read",), base=A, expires_at=far)[0],
      "| J makes one with no expiry: expires_at", key(J, "unset", ("read",), base=A)[1].get("data", {}).get("expires_at"))
s, b = key(owner, "slow", ("read", "write"), base=A, rate_limit_per_minute=10); SK = b["data"]["key"]
print("(b) key limited to 10/min makes a key with 1000/min:", key(SK, "fast", ("read",), base=A, rate_limit_per_minute=1000)[0],
      "| unset: limit", key(SK, "unset", ("read",), base=A)[1].get("data", {}).get("rate_limit_per_minute"))
# (c) invitations through a key whose line ends by a roll (no overlap) or by the maker's revocation
for how in ("roll", "maker-revoke"):
    s, b = key(owner, "P", ("read", "write", "delete", "admin"), base=A); pid, P = b["data"]["id"], b["data"]["key"]
    if how == "roll":
        ik, iid = P, pid
    else:
        s, b = key(P, "C", ("read", "write", "admin"), base=A); ik, iid = b["data"]["key"], b["data"]["id"]
    e = f"inv-{how}-{int(time.time()*1000)}@other.test"
    s, b = call("POST", "/v1/invitations", ik, {"email": e, "role": "ADMIN"}, base=A); url = b["data"]["url"]
    if how == "roll":
        print("(c) roll the sending key (overlap 0):", call("POST", f"/v1/api-keys/{pid}/roll", owner, {"expires_in": 0}, base=A)[0], end=" ")
    else:
        print("(c) revoke the sending key's maker:", call("DELETE", f"/v1/api-keys/{pid}", owner, base=A)[0], end=" ")
    time.sleep(1.0)
    print("| invitation page:", requests.get(url.replace("http://127.0.0.1:18681", B), timeout=10).status_code)
# (e) an app the machine made, turned into a management app by the machine's creator at the dashboard
s, b = call("POST", "/v1/apps", MT, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"]}, base=A)
X = b["data"]["client_id"]
s, b = call("PATCH", f"/v1/apps/{X}", adm, {"management": True}, base=A); XS = (b.get("data") or {}).get("client_secret")
print("(e) admin makes the machine's app X a management app:", s, "made_by_app kept:", call("GET", f"/v1/apps/{X}", adm, base=A)[1]["data"].get("made_by_app") == M[0])
XT = cc(X, XS, "read write", base=A)[1].get("access_token") if XS else None
L = key(XT, "L", ("read",), base=A)[1]["data"]["key"] if XT else None
# (f) another ADMIN takes over an app the machine made
s, b = call("POST", "/v1/apps", MT, {"name": "Y", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A)
Y, Y0 = b["data"]["client_id"], b["data"]["client_secret"]
s, b = call("POST", f"/v1/apps/{Y}/rotate-secret", vic, {"grace_period": 0}, base=A); Y1 = b["data"]["client_secret"]
print("(f) victim (ADMIN) takes over the machine's app Y:", s, "made_by_app now", call("GET", f"/v1/apps/{Y}", vic, base=A)[1]["data"].get("made_by_app"))
print("delete the machine:", call("DELETE", f"/v1/apps/{M[0]}", adm, base=A)[0]); time.sleep(1.2)
print("  J", validate(J, base=B), "| X (made management) cc", cc(X, XS, "read", base=B)[0] if XS else None, "| key L made by X's token", validate(L, base=B) if L else None)
print("  Y: machine-holder's original secret cc", cc(Y, Y0, "read", base=B)[0], "| taker's secret cc", cc(Y, Y1, "read", base=B)[0])
