"""Email flows on one server: outbox files and permissions, the sealed DB rows, verification link
(GET does not consume, POST once), reset links (reuse, other links after a reset), header injection
attempts, invitations to odd addresses."""
import os, re, stat, subprocess, sys, time, email as emaillib, requests, uuid
from lib12 import *

def anon_form(path):
    s = requests.Session(); r = s.get(BASE + path, timeout=30); return s, csrf(r.text)

def signup(email, org="Org " + uuid.uuid4().hex[:6], pw=PW, return_to=None):
    s, t = anon_form("/signup" + (f"?return_to={urllib.parse.quote(return_to)}" if return_to else ""))
    d = {"csrf_token": t, "email": email, "password": pw, "organization": org}
    if return_to: d["return_to"] = return_to
    return s.post(BASE + "/signup", data=d, allow_redirects=False, timeout=30)

def forgot(email):
    s, t = anon_form("/forgot-password")
    return s.post(BASE + "/forgot-password", data={"csrf_token": t, "email": email}, allow_redirects=False, timeout=30)

tag = uuid.uuid4().hex[:6]
print("== outbox folder ==")
n0 = len(eml_files())
u = f"new{tag}@mail.test"
r = signup(u); print("signup", r.status_code, r.headers.get("location"))
new = wait_eml(n0); print("eml written:", new)
d = DATA + "/outbox"
print("folder mode", oct(stat.S_IMODE(os.stat(d).st_mode)), "file modes", {oct(stat.S_IMODE(os.stat(f).st_mode)) for f in eml_files()})
raw = open(new[-1], "rb").read().decode()
print("headers of the verification message:\n" + raw.split("\r\n\r\n")[0])
vlink = link_in(new[-1], "verify-email")
print("verify link", vlink)

print("\n== DB outbox row ==")
if BASE.endswith("18781"):
    q = subprocess.run(["sqlite3", DATA + "/p.db", "select id, recipient, subject, length(body_sealed), hex(substr(body_sealed,1,24)), sent_at from email_outbox order by created_at desc limit 3"], capture_output=True, text=True)
    print(q.stdout, q.stderr)
    q = subprocess.run(["sqlite3", DATA + "/p.db", "select count(*) from email_outbox where body_sealed like '%verify-email%' or body_sealed like '%invitations/%'"], capture_output=True, text=True)
    print("rows whose sealed body holds a link in clear:", q.stdout.strip())
else:
    q = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "attack12r", "-Atc", "select id, recipient, subject, length(body_sealed), sent_at from email_outbox order by created_at desc limit 3"], capture_output=True, text=True)
    print(q.stdout, q.stderr)
    q = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "attack12r", "-Atc", "select count(*) from email_outbox where position('verify-email'::bytea in body_sealed)>0"], capture_output=True, text=True)
    print("rows whose sealed body holds a link in clear:", q.stdout.strip(), q.stderr.strip())

print("\n== verification link ==")
tok = urllib.parse.parse_qs(urllib.parse.urlparse(vlink).query)["token"][0]
for i in range(3):
    r = requests.get(BASE + "/verify-email?token=" + tok, timeout=30); print("GET (mail scanner)", i, r.status_code, "button" in r.text)
r = requests.head(BASE + "/verify-email?token=" + tok, timeout=30); print("HEAD", r.status_code)
s = requests.Session(); r = s.get(BASE + "/verify-email?token=" + tok)
r1 = s.post(BASE + "/verify-email", data={"csrf_token": csrf(r.text), "token": tok}, allow_redirects=False); print("POST once", r1.status_code, title(r1.text))
r2 = s.post(BASE + "/verify-email", data={"csrf_token": csrf(r.text), "token": tok}, allow_redirects=False); print("POST again", r2.status_code, title(r2.text))
r3 = requests.post(BASE + "/verify-email", data={"token": tok}, allow_redirects=False); print("POST without csrf", r3.status_code)

print("\n== reset links ==")
n0 = len(eml_files())
r = forgot(u); print("forgot #1", r.status_code, r.headers.get("location"))
r = forgot(u.upper()); print("forgot #2 (upper-case)", r.status_code)
new = wait_eml(n0); time.sleep(1); new = eml_files()[n0:]
links = [link_in(f, "reset-password") for f in new]; print("reset mails:", len(new), [l[-12:] if l else None for l in links])
def reset(link, pw):
    tok = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["token"][0]
    s = requests.Session(); r = s.get(BASE + "/reset-password?token=" + tok)
    return s.post(BASE + "/reset-password", data={"csrf_token": csrf(r.text), "token": tok, "new_password": pw}, allow_redirects=False)
r = reset(links[0], "first new password 12345"); print("reset with link 1:", r.status_code, title(r.text))
r = reset(links[0], "again password 12345"); print("reuse link 1:", r.status_code, title(r.text))
if len(links) > 1:
    r = reset(links[1], "second link password 12345"); print("link 2 after link 1 was used:", r.status_code, title(r.text))
    ss = requests.Session(); rr = ss.get(BASE + "/login")
    rr = ss.post(BASE + "/login", data={"csrf_token": csrf(rr.text), "email": u, "password": "second link password 12345"}, allow_redirects=False)
    print("sign-in with the password set through link 2:", rr.status_code, rr.headers.get("location"))
# a reset link requested before a password change (signed in) still works after it?
n0 = len(eml_files()); forgot(u); new = wait_eml(n0); time.sleep(0.5)
l3 = link_in(eml_files()[-1], "reset-password")
s = login(u, "second link password 12345")
r = post(s, "/account/password", {"csrf_token": token_of(s, "/account/password"), "current_password": "second link password 12345", "new_password": "changed by owner 123456"})
print("password change by the signed-in owner:", r.status_code, r.headers.get("location"))
r = reset(l3, "attacker kept link 123456"); print("reset link issued before the password change, used after it:", r.status_code, title(r.text))

print("\n== header injection / odd addresses ==")
for e in ["a\r\nBcc: evil@evil.test@x.test", "a@x.test\r\nBcc: evil@evil.test", "a%0d%0aBcc:e@x.test", "eve<eve@evil.test>", "a@b.test>", "\"a b\"@x.test", "a@x.test,b@y.test"]:
    r = signup(e); print(f"signup email {e!r}: {r.status_code} {title(r.text)[:80]!r}")
for name in ["Acme\r\nBcc: evil@evil.test", "Acme\u2028Bcc: evil@evil.test", "Acme\u0085Bcc: x", "=?utf-8?q?=0D=0ABcc:_evil@evil.test?=", "<img src=x onerror=alert(1)>{{7*7}}"]:
    r = signup(f"h{uuid.uuid4().hex[:6]}@mail.test", org=name); print(f"signup org {name!r}: {r.status_code} {title(r.text)[:80]!r}")
