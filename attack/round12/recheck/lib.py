"""Helpers for attacker round 11 (throwaway test credentials only)."""
import base64, hashlib, html, json, os, re, secrets, urllib.parse
import requests

BASE = os.environ.get("BASE", "http://127.0.0.1:18781")
PW = os.environ.get("PW", "correct horse battery staple 12")


def call(method, path, cred=None, body=None, base=None):
    h = {}
    if cred:
        h["authorization"] = "Bearer " + cred
    r = requests.request(method, (base or BASE) + path, headers=h, json=body, timeout=30)
    try:
        b = r.json()
    except Exception:
        b = r.text
    return r.status_code, b


def login(email, pw=PW, org=None, base=None):
    body = {"email": email, "password": pw}
    if org:
        body["organization_id"] = org
    s, b = call("POST", "/v1/auth/login", body=body, base=base)
    assert s == 200, (s, b)
    return b["data"]["access_token"], b["data"]


def key(cred, name="k", scopes=("read", "write"), base=None, **extra):
    body = {"name": name, "scopes": list(scopes)}
    body.update(extra)
    s, b = call("POST", "/v1/api-keys", cred, body, base=base)
    return s, b


def validate(cred, base=None):
    s, b = call("GET", "/v1/auth/validate", cred, base=base)
    return s, (b.get("error", {}).get("code") if isinstance(b, dict) and s != 200 else None)


def cc(client_id, secret, scope=None, base=None):
    d = {"grant_type": "client_credentials"}
    if scope:
        d["scope"] = scope
    r = requests.post((base or BASE) + "/oauth/token", data=d, auth=(client_id, secret), timeout=30)
    return r.status_code, r.json()


def introspect(client_id, secret, token, base=None):
    r = requests.post((base or BASE) + "/oauth/introspect", data={"token": token}, auth=(client_id, secret), timeout=30)
    return r.status_code, r.json()


def csrf(text):
    m = re.search(r'name="csrf_token" value="([^"]+)"', text)
    return html.unescape(m.group(1)) if m else None


def page_login(email, pw=PW, base=None):
    s = requests.Session()
    r = s.get((base or BASE) + "/login", timeout=30)
    r = s.post((base or BASE) + "/login", data={"csrf_token": csrf(r.text), "email": email, "password": pw},
               allow_redirects=False, timeout=30)
    assert r.status_code in (302, 303), (r.status_code, r.text[:300])
    return s


def authorize(sess, client_id, redirect_uri, scope="openid offline_access", base=None):
    """Code flow with PKCE through the consent page; returns the code (or raises)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
         "state": "st", "code_challenge": challenge, "code_challenge_method": "S256", "nonce": "n"}
    r = sess.get((base or BASE) + "/oauth/authorize", params=q, allow_redirects=False, timeout=30)
    if r.status_code == 200 and "decision" in r.text:
        params = dict((html.unescape(k), html.unescape(v)) for k, v in
                      re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', r.text))
        params["decision"] = "approve"
        r = sess.post((base or BASE) + "/oauth/authorize", data=params, allow_redirects=False, timeout=30)
    loc = r.headers.get("location", "")
    qs = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
    if "code" not in qs:
        raise RuntimeError(f"no code: {r.status_code} {loc} {r.text[:300]}")
    return qs["code"][0], verifier


def redeem(client_id, secret, code, verifier, redirect_uri, base=None):
    d = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    r = requests.post((base or BASE) + "/oauth/token", data=d, auth=(client_id, secret), timeout=30)
    return r.status_code, r.json()


def refresh(client_id, secret, rt, base=None):
    d = {"grant_type": "refresh_token", "refresh_token": rt}
    r = requests.post((base or BASE) + "/oauth/token", data=d, auth=(client_id, secret), timeout=30)
    return r.status_code, r.json()


def userinfo(at, base=None):
    r = requests.get((base or BASE) + "/oauth/userinfo", headers={"authorization": "Bearer " + at}, timeout=30)
    return r.status_code
