"""Round 12: an invitation sent through a key, then the key is rolled (overlap 0) or its maker
revoked; the invitee (an account of another organization) accepts. Usage: inv_roll.py roll|maker TAG"""
import subprocess, sys, time
from lib import *
A = os.environ.get("A", BASE)
how, tag = sys.argv[1], sys.argv[2]
e = f"inv-{how}-{tag}@other.test"
subprocess.run(["bash", "-c", f"source cli.sh; printf '%s\\n' \"$PW\" | pg user create --email {e} --org Other{tag} --role OWNER"], capture_output=True)
owner, _ = login("owner@acme.test", base=A)
s, b = key(owner, "P", ("read", "write", "delete", "admin"), base=A); pid, P = b["data"]["id"], b["data"]["key"]
ik = P
if how == "maker":
    s, b = key(P, "C", ("read", "write", "admin"), base=A); ik = b["data"]["key"]
s, b = call("POST", "/v1/invitations", ik, {"email": e, "role": "ADMIN"}, base=A); url = b["data"]["url"]
if how == "roll":
    print("roll the sending key, overlap 0:", call("POST", f"/v1/api-keys/{pid}/roll", owner, {"expires_in": 0}, base=A)[0])
else:
    print("revoke the sending key's maker:", call("DELETE", f"/v1/api-keys/{pid}", owner, base=A)[0])
time.sleep(1.0)
sess = page_login(e, base=A)
r = sess.get(url, timeout=10)
r = sess.post(url, data={"csrf_token": csrf(r.text)}, allow_redirects=False, timeout=10)
print("accept:", r.status_code, r.headers.get("location"), re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", r.text))[:160] if r.status_code != 303 else "")
members = {m["email"]: m["role"] for m in call("GET", "/v1/members?limit=100", owner, base=A)[1]["data"]}
print("invitee is now:", members.get(e))
