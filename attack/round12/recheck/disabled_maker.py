"""Round 12: apps registered through a user's key (finding 8, fixed) and through
their management app's token, when the user is disabled (CLI) and enabled again.
Checks on B (made on A): client credentials, a victim's refresh token and access
token (introspection at an owner's resource server, userinfo), the authorize page.
Usage: disabled_maker.py TAG"""
import subprocess, sys, time
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A); CLI = os.environ.get("CLI", "pg")
tag = sys.argv[1] if len(sys.argv) > 1 else "x"
RU = "http://127.0.0.1:9999/cb"
def cli(*a):
    r = subprocess.run(["bash", "-c", f"source cli.sh; printf '%s\\n' \"$PW\" | {CLI} " + " ".join(a)], capture_output=True, text=True)
    return r.returncode
email = f"dm-{tag}@acme.test"
cli("user create --email", email, "--org Acme --role ADMIN")
owner, _ = login("owner@acme.test", base=A)
u, _ = login(email, base=A)
s, b = key(u, "uk", ("read", "write", "delete"), base=A); UK = b["data"]["key"]
s, b = call("POST", "/v1/apps", u, {"name": "um", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write"], "management": True}, base=A); M = (b["data"]["client_id"], b["data"]["client_secret"])
MT = cc(*M, "read write", base=A)[1]["access_token"]
rp = {"type": "confidential", "redirect_uris": [RU], "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
      "scopes": ["openid", "offline_access", "read"]}
apps = {}
for label, cred in (("via key", UK), ("via machine", MT), ("at dashboard", u)):
    s, b = call("POST", "/v1/apps", cred, dict(rp, name=label), base=A); assert s == 201, (label, b)
    apps[label] = (b["data"]["client_id"], b["data"]["client_secret"])
s, b = call("POST", "/v1/apps", owner, {"name": "rs", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read"], "resource_server": True}, base=A); RS = (b["data"]["client_id"], b["data"]["client_secret"])
v = page_login("victim@acme.test", base=A)
grants = {}
for label, (cid, sec) in apps.items():
    code, ver = authorize(v, cid, RU, base=A)
    t = redeem(cid, sec, code, ver, RU, base=A)[1]
    grants[label] = (t["access_token"], t["refresh_token"])

def state(when):
    for label, (cid, sec) in apps.items():
        at, rt = grants[label]
        st_rt, t = refresh(cid, sec, rt, base=B)
        if st_rt == 200: grants[label] = (t["access_token"], t["refresh_token"])
        try:
            authorize(v, cid, RU, base=B); page = "code issued"
        except Exception as e:
            page = "no code"
        print(f"  {when:9} {label:12}: cc {cc(cid, sec, 'read', base=B)[0]} | victim refresh {st_rt} | victim AT introspect "
              f"{introspect(*RS, at, base=B)[1].get('active')} userinfo {userinfo(at, base=B)} | authorize: {page}")
state("before")
print("disable:", cli("user disable", email)); time.sleep(1.2)
state("disabled")
print("enable:", cli("user enable", email)); time.sleep(1.2)
state("enabled")
