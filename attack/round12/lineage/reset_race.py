"""20 concurrent uses of one reset link, each with its own password: exactly one may win."""
import sys, threading
from lib import *
url = sys.argv[1]; tok = url.split("token=")[1]
sessions = []
for i in range(20):
    s = requests.Session(); r = s.get(url, timeout=10); sessions.append((s, csrf(r.text)))
wins, go = [], threading.Event()
def use(i, s, c):
    go.wait()
    r = s.post(BASE + "/reset-password", data={"csrf_token": c, "token": tok, "new_password": f"raced password number {i}"}, timeout=20)
    if "reset-done" in r.text: wins.append(i)
ts = [threading.Thread(target=use, args=(i, s, c)) for i, (s, c) in enumerate(sessions)]
for t in ts: t.start()
go.set()
for t in ts: t.join()
ok = [i for i in range(20) if call("POST", "/v1/auth/login", body={"email": "reset2@acme.test", "password": f"raced password number {i}"})[0] == 200]
print("answered done:", wins, "| passwords that sign in:", ok)
