"""An organization name with markup, shown on its pages, on the invitation page and sign-up page of its
invitation, on another member's switcher, and in the invitation email's HTML part."""
import time, uuid, requests, email as em
from lib12 import *
X = '<img src=x onerror=alert(1)>"\'{{7*7}}</title><script>alert(2)</script>'
e = f"xo{uuid.uuid4().hex[:6]}@mail.test"
s = requests.Session(); t = csrf(s.get(BASE + "/signup").text)
s.post(BASE + "/signup", data={"csrf_token": t, "email": e, "password": PW, "organization": X})
u = login(e); org = orgs_of(u)[0][0]
ie = f"xi{uuid.uuid4().hex[:6]}@mail.test"; n0 = len(eml_files())
r = post(u, f"/dashboard/orgs/{org}/invitations", {"csrf_token": token_of(u), "email": ie, "role": "VIEWER"})
path = "/invitations/" + html.unescape(re.search(r'id="invitation-link" type="text" readonly value="([^"]+)"', r.text).group(1)).split("/invitations/")[1]
bad = lambda txt: ("<script>alert(2)" in txt) or ("<img src=x" in txt)
for p in ["", "/keys", "/apps", "/members", "/audit"]:
    print(f"org page {p or '/':9} raw markup: {bad(get(u, f'/dashboard/orgs/{org}{p}').text)}")
print("signup page of the invitation, raw markup:", bad(requests.get(BASE + "/signup?return_to=" + urllib.parse.quote(path)).text))
s2 = requests.Session(); t = csrf(s2.get(BASE + "/signup").text)
s2.post(BASE + "/signup", data={"csrf_token": t, "email": ie, "password": PW, "organization": "Mine"})
v = login(ie); print("invitation page (signed in), raw markup:", bad(get(v, path).text))
post(v, path, {"csrf_token": token_of(v)}); print("account page of a member, raw markup:", bad(get(v, "/account").text), "| switcher on own org page:", bad(get(v, "/dashboard").text))
f = wait_eml(n0); time.sleep(0.5)
for f in eml_files()[n0:]:
    m = em.message_from_bytes(open(f, "rb").read())
    if m["To"] == ie:
        for part in m.walk():
            if part.get_content_type() == "text/html":
                print("invitation email HTML, raw markup:", bad(part.get_payload(decode=True).decode()))
