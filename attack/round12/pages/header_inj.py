"""Organization names in the invitation Subject header: U+2028, encoded words, long names."""
import uuid, requests, email as emaillib
from lib12 import *
for name in ["Acme\u2028Bcc: evil@evil.test", "=?utf-8?q?X=0D=0ABcc:_evil@evil.test?=", "Acme\u00a0\u200b\u202eevil", "A" * 60 + ": Bcc evil@evil.test " + "B" * 19]:
    e = f"h{uuid.uuid4().hex[:6]}@mail.test"
    s = requests.Session(); r = s.get(BASE + "/signup")
    s.post(BASE + "/signup", data={"csrf_token": csrf(r.text), "email": e, "password": PW, "organization": name})
    u = login(e); org = orgs_of(u)[0][0]; n0 = len(eml_files())
    r = post(u, f"/dashboard/orgs/{org}/invitations", {"csrf_token": token_of(u), "email": "hdr@mail.test", "role": "VIEWER"})
    f = wait_eml(n0)[-1]; raw = open(f, "rb").read().decode()
    hdr = raw.split("\r\n\r\n")[0]
    m = emaillib.message_from_bytes(raw.encode())
    print(f"org {name!r}: invite {r.status_code}\n  raw header block:\n    " + hdr.replace("\r\n", "\n    ") + f"\n  parsed To={m['To']!r} Bcc={m['Bcc']!r} Subject={m['Subject']!r}")
