"""Reset links: a used link again; a second link after the first reset; a link requested before a
password change (and before 'sign out everywhere') used after it. BASE/DATA as usual."""
import time, uuid, requests
from lib12 import *
def anon(path):
    s = requests.Session(); return s, csrf(s.get(BASE + path).text)
def forgot(e):
    n0 = len(eml_files()); s, t = anon("/forgot-password")
    r = s.post(BASE + "/forgot-password", data={"csrf_token": t, "email": e}, allow_redirects=False)
    import email as em
    for _ in range(40):
        time.sleep(0.25)
        for f in reversed(eml_files()[n0:]):
            m = em.message_from_bytes(open(f, "rb").read())
            if m["To"] == e and m["Subject"] == "Reset your password" and f not in seen:
                seen.add(f); return link_in(f, "reset-password")
seen = set()
def reset(link, pw):
    tok = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["token"][0]
    s, t = anon("/forgot-password")
    r = s.post(BASE + "/reset-password", data={"csrf_token": t, "token": tok, "new_password": pw}, allow_redirects=False)
    return r.status_code, title(r.text)[:90]
def signin(e, pw):
    s, t = anon("/login"); return s.post(BASE + "/login", data={"csrf_token": t, "email": e, "password": pw}, allow_redirects=False).status_code
e = f"rl{uuid.uuid4().hex[:6]}@mail.test"
s, t = anon("/signup"); s.post(BASE + "/signup", data={"csrf_token": t, "email": e, "password": PW, "organization": "RL"})
l1, l2 = forgot(e), forgot(e)
print("reset with link 1:", reset(l1, "password one 123456"))
print("link 1 again:", reset(l1, "password again 123456"))
print("link 2 after link 1 reset the password:", reset(l2, "password two 123456"), "| sign-in with it:", signin(e, "password two 123456"))
cur = "password two 123456" if signin(e, "password two 123456") == 303 else "password one 123456"
l3 = forgot(e)
u = login(e, cur)
r = post(u, "/account/password", {"csrf_token": token_of(u, "/account/password"), "current_password": cur, "new_password": "owner changed it 123456"})
print("owner changes password (signed in):", r.status_code, r.headers.get("location"))
print("link 3 (asked before the change) used after it:", reset(l3, "attacker password 123456"), "| attacker signs in:", signin(e, "attacker password 123456"), "| owner's password:", signin(e, "owner changed it 123456"))
cur = "attacker password 123456" if signin(e, "attacker password 123456") == 303 else "owner changed it 123456"
l4 = forgot(e)
u = login(e, cur)
r = post(u, "/account/sign-out-everywhere", {"csrf_token": token_of(u)}); print("sign out everywhere:", r.status_code)
print("link 4 (asked before sign-out-everywhere) used after it:", reset(l4, "attacker again 1234567"), "| sign-in:", signin(e, "attacker again 1234567"))
