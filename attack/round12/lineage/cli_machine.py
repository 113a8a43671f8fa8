"""Round 12: the CLI against what a management app made (PostgreSQL, checked on B):
`client delete` of the machine, and `member set-role` demoting its creator to DEVELOPER / VIEWER."""
import subprocess, time, uuid
from lib import *
A = os.environ.get("A", BASE); B = os.environ.get("B", A)
def cli(cmd):
    r = subprocess.run(["bash", "-c", f"source cli.sh; printf '%s\\n' \"$PW\" | pg {cmd}"], capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()[:120]
def setup(role="ADMIN"):
    mail = f"cm-{uuid.uuid4().hex[:6]}@acme.test"; cli(f"user create --email {mail} --org Acme --role {role}")
    adm, _ = login(mail, base=A)
    s, b = call("POST", "/v1/apps", adm, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write", "delete"], "management": True}, base=A)
    M = (b["data"]["client_id"], b["data"]["client_secret"]); MT = cc(*M, "read write delete", base=A)[1]["access_token"]
    J = key(MT, "J", ("read", "write", "delete"), base=A)[1]["data"]["key"]
    s, b = call("POST", "/v1/apps", MT, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}, base=A)
    return mail, M, MT, J, (b["data"]["client_id"], b["data"]["client_secret"])
mail, M, MT, J, X = setup()
print("CLI client delete M:", cli(f"client delete {M[0]}")[0]); time.sleep(1.2)
print("  J", validate(J, base=B), "| X cc", cc(*X, "read", base=B)[0], "| M token", call("GET", "/v1/api-keys?limit=1", MT, base=B)[0])
for role in ("DEVELOPER", "VIEWER"):
    mail, M, MT, J, X = setup()
    print(f"CLI member set-role {role}:", cli(f"member set-role Acme {mail} {role}")); time.sleep(1.2)
    MT2 = cc(*M, "read write delete", base=B)
    t = MT2[1].get("access_token") if MT2[0] == 200 else None
    print(f"  old M token /v1 {call('GET', '/v1/api-keys?limit=1', MT, base=B)[0]} | new M token: cc {MT2[0]}",
          f"GET {call('GET', '/v1/api-keys?limit=1', t, base=B)[0]} POST key {key(t, 'after', ('read','write'), base=B)[0]} DELETE-scope key {key(t, 'after2', ('delete',), base=B)[0]}" if t else "",
          f"| J validate {validate(J, base=B)} J makes a write key {key(J, 'jw', ('write',), base=B)[0]} | X cc {cc(*X, 'read', base=B)[0]}")
