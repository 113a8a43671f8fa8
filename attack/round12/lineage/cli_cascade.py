"""The CLI's key revoke / member remove cascade as /v1 does (SQLite server S + the CLI)."""
import subprocess, time
from lib import *
CLI = os.environ.get("CLI", "sq")
def cli(cmd):
    r = subprocess.run(["bash", "-c", f"source cli.sh; printf '%s\\n' \"$PW\" | {CLI} {cmd}"], capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()[:160]
owner, _ = login("owner@acme.test")
s, b = key(owner, "P", ("read", "write")); pid, P = b["data"]["id"], b["data"]["key"]
s, b = key(P, "C", ("read", "write")); C = b["data"]["key"]
s, b = call("POST", "/v1/apps", C, {"name": "viaC", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}); X = (b["data"]["client_id"], b["data"]["client_secret"])
print("cli key revoke P:", cli(f"key revoke {pid}")); time.sleep(1.2)
print(" P", validate(P), "C", validate(C), "app via C cc", cc(*X, "read")[0])
print(cli("user create --email cm2@acme.test --org Acme --role ADMIN"))
m, _ = login("cm2@acme.test")
s, b = key(m, "mk", ("read", "write")); MK = b["data"]["key"]
s, b = key(MK, "mk-child", ("read",)); MC = b["data"]["key"]
s, b = call("POST", "/v1/apps", m, {"name": "cm1-bot", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "admin"], "management": True})
M = (b["data"]["client_id"], b["data"]["client_secret"]); MT = cc(*M, "read admin")[1]["access_token"]
print("cli member remove:", cli("member remove Acme cm2@acme.test")); time.sleep(1.2)
print(" key", validate(MK), "child", validate(MC), "mgmt token", call("GET", "/v1/audit-events?limit=1", MT)[0], "session", call("GET", "/v1/auth/me", m)[0])
print("cli member add (re-join as ADMIN):", cli("member add Acme cm2@acme.test --role ADMIN")); time.sleep(1.2)
MT2 = cc(*M, "read admin")
print(" key", validate(MK), "child", validate(MC), "old mgmt token", call("GET", "/v1/audit-events?limit=1", MT)[0],
      "new mgmt token", call("GET", "/v1/audit-events?limit=1", MT2[1]["access_token"])[0] if MT2[0] == 200 else MT2[0], "old session", call("GET", "/v1/auth/me", m)[0])
