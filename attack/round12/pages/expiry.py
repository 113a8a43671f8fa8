"""Expiry of emailed links on S: each link's row is moved into the past in the SQLite file
(expires_at = now - 1 minute), then used."""
import subprocess, time, uuid, email as em, requests
from lib12 import *
DB = "/tmp/r12p/sq/p.db"
def q(sql): return subprocess.run(["sqlite3", DB, sql], capture_output=True, text=True).stdout.strip()
def anon(path): s = requests.Session(); return s, csrf(s.get(BASE + path).text)
def mail_to(e, subject, n0):
    for _ in range(40):
        time.sleep(0.25)
        for f in reversed(eml_files()[n0:]):
            m = em.message_from_bytes(open(f, "rb").read())
            if m["To"] == e and m["Subject"].startswith(subject): return f
e = f"exp{uuid.uuid4().hex[:6]}@mail.test"; n0 = len(eml_files())
s, t = anon("/signup"); s.post(BASE + "/signup", data={"csrf_token": t, "email": e, "password": PW, "organization": "Exp"})
vtok = link_in(mail_to(e, "Confirm", n0), "verify-email").split("token=")[1]
uid = q(f"select id from users where email='{e}'")
q(f"update email_verifications set expires_at=datetime('now','-1 minute') where user_id='{uid}'")
r = requests.get(BASE + "/verify-email?token=" + vtok); print("expired verification link GET:", r.status_code)
s, t = anon("/forgot-password"); r = s.post(BASE + "/verify-email", data={"csrf_token": t, "token": vtok}); print("expired verification POST:", r.status_code, title(r.text)[:80], "| verified:", q(f"select email_verified_at is not null from users where id='{uid}'"))
n0 = len(eml_files()); s, t = anon("/forgot-password"); s.post(BASE + "/forgot-password", data={"csrf_token": t, "email": e})
rtok = link_in(mail_to(e, "Reset", n0), "reset-password").split("token=")[1]
q(f"update password_resets set expires_at=datetime('now','-1 minute') where user_id='{uid}'")
s, t = anon("/forgot-password"); r = s.post(BASE + "/reset-password", data={"csrf_token": t, "token": rtok, "new_password": "expired link pw 12345"}); print("expired reset POST:", r.status_code, title(r.text)[:80])
o = login("owner@acme.test"); acme = orgs_of(o)[0][0]
ie = f"iexp{uuid.uuid4().hex[:6]}@mail.test"
r = post(o, f"/dashboard/orgs/{acme}/invitations", {"csrf_token": token_of(o), "email": ie, "role": "VIEWER"})
path = "/invitations/" + html.unescape(re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', r.text).group(1)).split("/invitations/")[1]
q(f"update invitations set expires_at=datetime('now','-1 minute') where email='{ie}'")
s, t = anon("/signup?return_to=" + urllib.parse.quote(path))
r = s.post(BASE + "/signup", data={"csrf_token": t, "email": ie, "password": PW, "organization": "", "return_to": path}, allow_redirects=False)
print("sign-up from an expired invitation (no org name):", r.status_code, title(r.text)[:80])
r = s.post(BASE + "/signup", data={"csrf_token": t, "email": ie, "password": PW, "organization": "Own", "return_to": path}, allow_redirects=False)
u = login(ie); print("then signed in; organizations:", orgs_of(u)[1], "| GET link:", get(u, path).status_code, "| POST accept:", post(u, path, {"csrf_token": token_of(u)}).status_code)
