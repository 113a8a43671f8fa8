"""Helpers for the round-12 pages attack (throwaway credentials only)."""
import html, json, os, re, time, urllib.parse, glob
import requests

BASE = os.environ.get("BASE", "http://127.0.0.1:18781")
PW = os.environ.get("PW", "correct horse battery staple 12")
DATA = os.environ.get("DATA", "/tmp/r12r/sq")


def csrf(text):
    m = re.search(r'name="csrf_token" value="([^"]+)"', text)
    return html.unescape(m.group(1)) if m else None


def login(email, pw=PW, base=None):
    s = requests.Session()
    b = base or BASE
    r = s.get(b + "/login", timeout=30)
    r = s.post(b + "/login", data={"csrf_token": csrf(r.text), "email": email, "password": pw},
               allow_redirects=False, timeout=30)
    assert r.status_code in (302, 303), (email, r.status_code, r.text[:300])
    s.base = b
    return s


def get(s, path, **kw):
    return s.get(s.base + path, allow_redirects=False, timeout=30, **kw)


def post(s, path, data, **kw):
    return s.post(s.base + path, data=data, allow_redirects=False, timeout=30, **kw)


def token_of(s, path="/account"):
    return csrf(get(s, path).text)


def orgs_of(s):
    r = get(s, "/account")
    ids = re.findall(r'/dashboard/orgs/([A-Za-z0-9_-]+)', r.text)
    names = re.findall(r'<a href="/dashboard/orgs/([A-Za-z0-9_-]+)">([^<]*)</a>', r.text)
    return list(dict.fromkeys(ids)), names


def members(s, org):
    """[(id, email)] from the members page."""
    r = get(s, f"/dashboard/orgs/{org}/members")
    return [(m, e.strip()) for m, e in re.findall(r'<tr id="member-([^"]+)">\s*<td data-label="Email" class="email">([^<]*)<', r.text)], r


def v1(method, path, cred=None, body=None, base=None):
    h = {"authorization": "Bearer " + cred} if cred else {}
    r = requests.request(method, (base or BASE) + path, headers=h, json=body, timeout=30)
    try:
        return r.status_code, r.json()
    except Exception:
        return r.status_code, r.text


def v1_login(email, org=None, pw=PW, base=None):
    body = {"email": email, "password": pw}
    if org:
        body["organization_id"] = org
    return v1("POST", "/v1/auth/login", body=body, base=base)


def title(text):
    m = re.search(r"<h1[^>]*>(.*?)</h1>", text, re.S)
    e = re.search(r'class="(?:error|form-error)[^"]*"[^>]*>(.*?)<', text, re.S)
    return (m.group(1).strip() if m else "") + (" | " + e.group(1).strip() if e else "")


def eml_files():
    return sorted(glob.glob(DATA + "/outbox/*.eml"), key=os.path.getmtime)


def wait_eml(n_before, timeout=8):
    t = time.time()
    while time.time() - t < timeout:
        f = eml_files()
        if len(f) > n_before:
            return f[n_before:]
        time.sleep(0.2)
    return []


def link_in(path, kind):
    """Extract a link (verify-email / reset-password / invitations) from an .eml (quoted-printable aware)."""
    import email
    msg = email.message_from_bytes(open(path, "rb").read())
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            body = part.get_payload(decode=True).decode()
            m = re.search(r"(http://\S*" + kind + r"\S*)", body)
            if m:
                return m.group(1)
    return None


def eml_to(addr, kind, timeout=10):
    """Newest link of `kind` in an outbox message whose To: is addr (waits for the sender)."""
    import email
    t = time.time()
    while time.time() - t < timeout:
        for f in reversed(eml_files()):
            try:
                msg = email.message_from_bytes(open(f, "rb").read())
            except Exception:
                continue
            if addr.lower() in (msg.get("To") or "").lower():
                l = link_in(f, kind)
                if l:
                    return l
        time.sleep(0.2)
    return None


def verify_email(addr, base=None):
    """The real flow: open the verification link from the outbox, press Confirm."""
    l = eml_to(addr, "verify-email")
    assert l, ("no verification mail for", addr)
    tok = urllib.parse.parse_qs(urllib.parse.urlparse(l).query)["token"][0]
    b = base or BASE
    s = requests.Session(); r = s.get(b + "/verify-email?token=" + tok, timeout=30)
    r = s.post(b + "/verify-email", data={"csrf_token": csrf(r.text), "token": tok}, allow_redirects=False, timeout=30)
    assert r.status_code in (200, 303), (r.status_code, r.text[:200])
    return r.status_code
