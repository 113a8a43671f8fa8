"""Round 12: variants of machine_rotate.py. A management app's token (or a key it made)
takes over an owner's ordinary app (rotate-secret, grace 0); then the machine ends by:
  keyrevoke : M was registered through an admin key K0; K0 is revoked (M deleted with it)
  remove    : M's creator is removed from the organization (M loses management)
  viaJ      : the rotation is made with a key J the machine made; then M is deleted
Usage: machine_rotate2.py keyrevoke|remove|viaJ"""
import subprocess, sys, time, uuid
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
how = sys.argv[1]
owner, _ = login("owner@acme.test", base=A)
mail = f"mr-{uuid.uuid4().hex[:6]}@acme.test"
subprocess.run(["bash", "-c", f"source cli.sh; printf '%s\\n' \"$PW\" | pg user create --email {mail} --org Acme --role ADMIN"], capture_output=True)
adm, _ = login(mail, base=A); uid = call("GET", "/v1/auth/me", adm, base=A)[1]["data"]["id"]
s, b = call("POST", "/v1/apps", owner, {"name": "first-party", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"]}, base=A)
Q, Q0 = b["data"]["client_id"], b["data"]["client_secret"]
maker = adm
if how == "keyrevoke":
    s, b = key(adm, "K0", ("read", "write", "delete", "admin"), base=A); k0, maker = b["data"]["id"], b["data"]["key"]
s, b = call("POST", "/v1/apps", maker, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"], "management": True}, base=A)
M = (b["data"]["client_id"], b["data"]["client_secret"]); MT = cc(*M, "read write", base=A)[1]["access_token"]
cred = MT
if how == "viaJ":
    cred = key(MT, "J", ("read", "write"), base=A)[1]["data"]["key"]
s, b = call("POST", f"/v1/apps/{Q}/rotate-secret", cred, {"grace_period": 0}, base=A); NEW = (b.get("data") or {}).get("client_secret")
print(how, ": rotation through", "J" if how == "viaJ" else "M's token", "->", s, "| owner's secret now", cc(Q, Q0, "read", base=B)[0])
if how == "keyrevoke":
    print("revoke K0:", call("DELETE", f"/v1/api-keys/{k0}", owner, base=A)[0], "| M cc:", end=" "); time.sleep(1.2); print(cc(*M, "read", base=B)[0])
elif how == "remove":
    print("remove M's creator:", call("DELETE", f"/v1/members/{uid}", owner, base=A)[0], end=" "); time.sleep(1.2); print("| M token /v1:", call("GET", "/v1/apps?limit=1", MT, base=B)[0])
else:
    print("delete M:", call("DELETE", f"/v1/apps/{M[0]}", adm, base=A)[0]); time.sleep(1.2)
st, t = cc(Q, NEW, "read write", base=B)
print("  the secret the machine's holder got, afterwards: cc", st, "scope", t.get("scope"), "| app GET", call("GET", f"/v1/apps/{Q}", owner, base=B)[0])
