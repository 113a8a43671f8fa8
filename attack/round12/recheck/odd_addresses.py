"""email_flows.py's odd-address part alone: display-name and bracket forms at sign-up (S or A)."""
import uuid, requests
from lib12 import *
t = uuid.uuid4().hex[:5]
for e in ["a\r\nBcc: evil@evil.test@x.test", "a%0d%0aBcc:e@x.test", f"eve<eve{t}@evil.test>", f"n0<m{t}@target.test>", f"a{t}@b.test>", f"<a{t}@b.test>", f"\"a b\"@x{t}.test", f"a{t}@x.test,b@y.test", f"x <y{t}@z.test>", f"a{t}@b.test ", f" A{t}@B.test"]:
    s = requests.Session(); tk = csrf(s.get(BASE + "/signup").text)
    r = s.post(BASE + "/signup", data={"csrf_token": tk, "email": e, "password": PW, "organization": "Odd"}, allow_redirects=False)
    print(f"signup email {e!r}: {r.status_code} {r.headers.get('location')} {title(r.text)[:90]!r}")
