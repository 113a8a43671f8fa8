"""`portcullis user disable` / `enable` across two instances: every credential of the user.
Usage: disable.py EMAIL  (CLI=pg|sq picks the database; A makes, B checks)"""
import subprocess, sys, time
from lib import *

A = os.environ.get("A", BASE); B = os.environ.get("B", A); CLI = os.environ.get("CLI", "pg")
email = sys.argv[1]
RU = "http://127.0.0.1:9999/cb"
def cli(*args):
    r = subprocess.run(["bash", "-c", f"source cli.sh; {CLI} " + " ".join(args)], capture_output=True, text=True)
    return (r.returncode, (r.stdout + r.stderr).strip()[-200:])
owner, _ = login("owner@acme.test", base=A)
sess, sdata = login(email, base=A)
SRT = sdata.get("refresh_token")
s, b = key(sess, "vk", ("read", "write"), base=A); VK = b["data"]["key"]
s, b = call("POST", "/v1/apps", sess, {"name": "vM", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "admin"], "management": True}, base=A); assert s == 201, b
M = (b["data"]["client_id"], b["data"]["client_secret"])
MT = cc(*M, "read", base=A)[1]["access_token"]
s, b = call("POST", "/v1/apps", VK, {"name": "via-vk", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A)
KA = (b["data"]["client_id"], b["data"]["client_secret"])
s, b = call("POST", "/v1/apps", owner, {"name": "rp", "type": "confidential", "redirect_uris": [RU],
            "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "offline_access", "read"]}, base=A)
RP = (b["data"]["client_id"], b["data"]["client_secret"])
s, b = call("POST", "/v1/apps", owner, {"name": "rs", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read"], "resource_server": True}, base=A); RS = (b["data"]["client_id"], b["data"]["client_secret"])
u = page_login(email, base=A)
code, ver = authorize(u, RP[0], RU, base=A)
t = redeem(*RP, code, ver, RU, base=A)[1]; AT, RT = t["access_token"], t["refresh_token"]
pend_code, pend_ver = authorize(u, RP[0], RU, base=A)

def state(label, base):
    r = {
        "session /v1/auth/me": call("GET", "/v1/auth/me", sess, base=base)[0],
        "API key": validate(VK, base=base)[0],
        "mgmt app old token /v1": call("GET", "/v1/api-keys?limit=1", MT, base=base)[0],
        "mgmt app new cc token /v1": (lambda t: call("GET", "/v1/api-keys?limit=1", t[1]["access_token"], base=base)[0] if t[0] == 200 else f"cc {t[0]}")(cc(*M, "read", base=base)),
        "app via key cc": cc(*KA, "read", base=base)[0],
        "oauth AT introspect": introspect(*RS, AT, base=base)[1].get("active"),
        "oauth AT userinfo": userinfo(AT, base=base),
        "browser session /dashboard": u.get(base + "/dashboard", allow_redirects=False, timeout=10).status_code,
    }
    print(label, r)

state("before  B:", B)
t0 = time.time(); print("disable:", cli("user disable", email), round(time.time() - t0, 2), "s")
state("disabled B (at once):", B)
time.sleep(1.2)
state("disabled B (+1.2s):", B)
print("  refresh OAuth RT:", refresh(*RP, RT, base=B)[0], "| pending code:", redeem(*RP, pend_code, pend_ver, RU, base=B)[0],
      "| dashboard refresh:", call("POST", "/v1/auth/refresh", None, {"refresh_token": SRT}, base=B)[0] if SRT else None)
print("  login while disabled:", call("POST", "/v1/auth/login", body={"email": email, "password": PW}, base=B)[0])
print("enable:", cli("user enable", email)); time.sleep(1.2)
state("enabled B:", B)
print("  refresh OAuth RT:", refresh(*RP, RT, base=B)[0],
      "| dashboard refresh:", call("POST", "/v1/auth/refresh", None, {"refresh_token": SRT}, base=B)[0] if SRT else None)
