"""return_to / redirects, XSS via names, security headers and cookies on the new pages, the
key/secret shown once (headers, log, audit, other pages)."""
import json, os, re, subprocess, uuid, requests
from lib12 import *
LOG = os.environ.get("LOG", "/tmp/r12p/sq.log")
o = login("owner@acme.test"); acme = orgs_of(o)[0][0]; K = f"/dashboard/orgs/{acme}"
print("== return_to ==")
for rt in ["//evil.test", "/\\evil.test", "/%2F%2Fevil.test", "/.//evil.test", "https://evil.test", "/\t/evil.test", " //evil.test", "/%5Cevil.test",
           "/%09/evil.test", "/é", "/\u3000/evil.test", "/dashboard\r\nSet-Cookie: x=1", "//%2565vil.test", "/ /evil.test", "/../..//evil.test"]:
    r = get(o, "/login?return_to=" + urllib.parse.quote(rt, safe=""))
    print(f"signed-in GET /login?return_to={rt!r:32} -> {r.status_code} Location={r.headers.get('location')!r}")
s = requests.Session(); t = csrf(s.get(BASE + "/login").text)
for rt in ["//evil.test", "/\\evil.test", "/é", "/\u3000/evil.test"]:
    r = s.post(BASE + "/login", data={"csrf_token": t, "email": "viewer@acme.test", "password": PW, "return_to": rt}, allow_redirects=False)
    print(f"POST /login return_to={rt!r:24} -> {r.status_code} Location={r.headers.get('location')!r}")
    s.cookies.clear(); t = csrf(s.get(BASE + "/login").text)
for rt in ["//evil.test", "/x?a=1", "/\u3000/evil.test"]:
    r = post(o, "/account/verify-email/resend", {"csrf_token": token_of(o), "return_to": rt})
    print(f"resend return_to={rt!r:20} -> {r.status_code} Location={r.headers.get('location')!r}")
for rt in ["//evil.test", "/é"]:
    s = requests.Session(); t = csrf(s.get(BASE + "/signup").text)
    r = s.post(BASE + "/signup", data={"csrf_token": t, "email": f"rt{uuid.uuid4().hex[:5]}@x.test", "password": PW, "organization": "R", "return_to": rt}, allow_redirects=False)
    print(f"POST /signup return_to={rt!r:14} -> {r.status_code} Location={r.headers.get('location')!r}")
print("\n== XSS via names ==")
X = '"><script>alert(1)</script><img src=x onerror=alert(2)>{{7*7}}${7*7}'
tok = token_of(o)
r = post(o, K + "/keys", {"csrf_token": tok, "name": X, "environment": "live", "type": "secret", "scopes": "read"})
print("key with markup name:", r.status_code, "raw <script> in page:", "<script>alert" in r.text, "| escaped:", "&lt;script&gt;" in r.text or "&#x3c;script" in r.text.lower())
r = post(o, K + "/apps", {"csrf_token": tok, "name": X, "client_type": "confidential", "redirect_uris": "https://x.test/cb", "grant_types": "authorization_code", "scopes": "openid", "homepage_url": "javascript:alert(1)", "logo_url": "https://x.test/l.png\" onerror=\"alert(3)"})
print("app with markup name:", r.status_code, title(r.text)[:100], "raw <script>:", "<script>alert" in r.text)
r = post(o, K + "/apps", {"csrf_token": tok, "name": X, "client_type": "confidential", "redirect_uris": "https://x.test/cb", "grant_types": "authorization_code", "scopes": "openid"})
print("app with markup name (no bad urls):", r.status_code, "raw <script>:", "<script>alert" in r.text)
r = post(o, K + "/invitations", {"csrf_token": tok, "email": 'x"><script>alert(1)</script>@x.test', "role": "VIEWER"})
print("invite markup email:", r.status_code, title(r.text)[:100], "raw <script>:", "<script>alert" in r.text)
for p in ["/keys", "/apps", "/members", "/audit", ""]:
    r = get(o, K + p); print(f"page {p or '/':10} raw-script={'<script>alert' in r.text} 49={'>49<' in r.text or ' 49 ' in r.text}")
print("\n== headers ==")
for p in ["/login", "/signup", "/forgot-password", "/account", "/account/apps", K + "/keys", K + "/apps", K + "/members", K + "/audit", K + "/signing-keys", "/verify-email?token=x", "/reset-password?token=x"]:
    r = get(o, p); h = r.headers
    print(f"{p[-30:]:30} {r.status_code} XFO={h.get('x-frame-options')} CC={h.get('cache-control')} RP={h.get('referrer-policy')} CSP-fa={'frame-ancestors' in (h.get('content-security-policy') or '')}")
s = requests.Session(); r = s.get(BASE + "/login"); print("anon csrf cookie:", r.headers.get("set-cookie"))
r = s.post(BASE + "/login", data={"csrf_token": csrf(r.text), "email": "viewer@acme.test", "password": PW}, allow_redirects=False); print("session cookie:", r.headers.get("set-cookie"))
print("\n== secret shown once ==")
r = post(o, K + "/keys", {"csrf_token": tok, "name": "once", "environment": "live", "type": "secret", "scopes": ["read", "write"]})
key = re.search(r'id="new-key" class="secret">([^<]+)<', r.text).group(1)
print("create key answer:", r.status_code, "Cache-Control:", r.headers.get("cache-control"), "Location:", r.headers.get("location"))
kid = re.findall(r'<tr id="([^"]+)" class="key-', r.text)[0]
r = post(o, f"{K}/keys/{kid}/roll", {"csrf_token": tok, "overlap": "0"})
key2 = re.search(r'id="new-key" class="secret">([^<]+)<', r.text).group(1)
r = post(o, K + "/apps", {"csrf_token": tok, "name": "once-app", "client_type": "confidential", "redirect_uris": "https://x.test/cb", "grant_types": "authorization_code", "scopes": "openid"})
sec = re.search(r'id="client-secret">([^<]+)<', r.text).group(1); cid = re.search(r'id="client-id">([^<]+)<', r.text).group(1)
r = post(o, f"{K}/apps/{cid}/rotate-secret", {"csrf_token": tok, "grace_period": "0"})
sec2 = re.search(r'id="client-secret">([^<]+)<', r.text).group(1)
pages = "".join(get(o, K + p).text for p in ["/keys", "/apps", f"/apps/{cid}", "/audit", "/members", ""]) + get(o, "/account").text
st, b = v1_login("owner@acme.test", acme); audit = json.dumps(v1("GET", "/v1/audit-events?limit=200", b["data"]["access_token"])[1])
logtxt = open(LOG).read()
for name, val in [("key", key), ("rolled key", key2), ("app secret", sec), ("rotated secret", sec2)]:
    print(f"{name:15} in other pages: {val in pages}  in audit: {val in audit}  in log: {val in logtxt}  (last 12: {val[-12:]})")
inv = re.findall(r'/invitations/([A-Za-z0-9_-]{20,})', open(LOG).read())
print("invitation/verify/reset tokens in the log:", len(inv), len(re.findall(r'token=[A-Za-z0-9_-]{20,}', logtxt)))
