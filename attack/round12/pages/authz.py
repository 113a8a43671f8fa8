"""CSRF and authority matrix on the organization pages: forged POSTs by each role,
cross-organization ids, non-members. Prints one line per attempt: status and the page title/error."""
import re, sys, requests
from lib12 import *

o, a, d, v, g = (login(e) for e in ["owner@acme.test", "admin@acme.test", "dev@acme.test", "viewer@acme.test", "gowner@globex.test"])
o2 = login("owner@acme.test")  # a second session of the same user
acme = orgs_of(o)[0][0]; globex = orgs_of(g)[0][0]
print("acme", acme, "globex", globex)
T = {n: token_of(s) for n, s in [("o", o), ("o2", o2), ("a", a), ("d", d), ("v", v), ("g", g)]}
K = f"/dashboard/orgs/{acme}"
G = f"/dashboard/orgs/{globex}"
def show(label, r):
    print(f"{label:70s} {r.status_code} {title(r.text)[:110]!r}" + (f" loc={r.headers.get('location')}" if r.is_redirect else ""))

# Globex objects made by its owner
r = post(g, G + "/keys", {"csrf_token": T["g"], "name": "gkey", "environment": "live", "type": "secret", "scopes": "read"})
gkey = re.findall(r'<tr id="([^"]+)" class="key-', r.text)[0]
r = post(g, G + "/apps", {"csrf_token": T["g"], "name": "gapp", "client_type": "confidential", "redirect_uris": "https://g.test/cb", "grant_types": "authorization_code", "scopes": "openid"})
gapp = re.search(r'id="client-id">([^<]+)<', r.text).group(1)
r = post(g, G + "/invitations", {"csrf_token": T["g"], "email": "x@globex.test", "role": "VIEWER"})
ginv = re.findall(r'/invitations/([A-Za-z0-9_-]+)/revoke', r.text)[0]
gmem = [m for m, e in members(g, globex)[0]]
print("globex key", gkey, "app", gapp, "inv", ginv, "members", gmem)
# Acme objects
r = post(o, K + "/keys", {"csrf_token": T["o"], "name": "okey", "environment": "live", "type": "secret", "scopes": ["read", "admin"]})
okey = re.findall(r'<tr id="([^"]+)" class="key-', r.text)[0]
r = post(a, K + "/apps", {"csrf_token": T["a"], "name": "aapp", "client_type": "confidential", "redirect_uris": "https://a.test/cb", "grant_types": "authorization_code", "scopes": "openid"})
aapp = re.search(r'id="client-id">([^<]+)<', r.text).group(1)
mem = dict((e, m) for m, e in members(o, acme)[0])
print("acme members", mem)

print("\n== CSRF ==")
kd = {"name": "c", "environment": "live", "type": "secret", "scopes": "read"}
show("owner create key, no token", post(o, K + "/keys", kd))
show("owner create key, wrong token", post(o, K + "/keys", dict(kd, csrf_token="x" * 43)))
show("owner create key, admin's session token", post(o, K + "/keys", dict(kd, csrf_token=T["a"])))
show("owner create key, token of owner's other session", post(o, K + "/keys", dict(kd, csrf_token=T["o2"])))
show("owner create key, right token, Origin https://evil.test", post(o, K + "/keys", dict(kd, csrf_token=T["o"]), headers={"Origin": "https://evil.test", "Referer": "https://evil.test/x"}))
show("owner create key, token in query string only", o.post(o.base + K + "/keys?csrf_token=" + T["o"], data=kd, allow_redirects=False))
show("owner create key, JSON body with token", o.post(o.base + K + "/keys", json=dict(kd, csrf_token=T["o"]), allow_redirects=False))
show("owner create key, text/plain body", o.post(o.base + K + "/keys", data="csrf_token=%s&name=c&scopes=read" % T["o"], headers={"content-type": "text/plain"}, allow_redirects=False))
show("owner delete account, no token", post(o, "/account/delete", {"current_password": PW}))
show("owner sign-out-everywhere, wrong token", post(o, "/account/sign-out-everywhere", {"csrf_token": T["a"]}))
show("owner change password, other's token", post(o, "/account/password", {"csrf_token": T["a"], "current_password": PW, "new_password": "x" * 20}))
show("owner resend verification, no token", post(o, "/account/verify-email/resend", {"x": "1"}))
show("owner revoke authorized app, no token", post(o, "/account/apps/abc/revoke", {"x": "1"}))
show("owner invite, empty token", post(o, K + "/invitations", {"csrf_token": "", "email": "q@x.test", "role": "VIEWER"}))
show("GET /account/delete", get(o, "/account/delete"))
show("GET /dashboard/orgs/acme/keys/okey/revoke (confirm page only)", get(o, f"{K}/keys/{okey}/revoke"))
show("HEAD keys revoke", o.head(o.base + f"{K}/keys/{okey}/revoke", allow_redirects=False))
show("PUT keys revoke", o.put(o.base + f"{K}/keys/{okey}/revoke", data={"csrf_token": T["o"]}, allow_redirects=False))
show("POST with X-HTTP-Method-Override: GET no token", post(o, f"{K}/keys/{okey}/revoke", {"x": "1"}, headers={"X-HTTP-Method-Override": "GET"}))

print("\n== VIEWER ==")
show("viewer create key read", post(v, K + "/keys", dict(kd, csrf_token=T["v"])))
show("viewer create restricted keys:read", post(v, K + "/keys", {"csrf_token": T["v"], "name": "r", "type": "restricted", "environment": "live", "scopes": "keys:read"}))
show("viewer revoke owner key", post(v, f"{K}/keys/{okey}/revoke", {"csrf_token": T["v"]}))
show("viewer roll owner key", post(v, f"{K}/keys/{okey}/roll", {"csrf_token": T["v"], "overlap": "0"}))
show("viewer register app", post(v, K + "/apps", {"csrf_token": T["v"], "name": "v", "client_type": "confidential", "redirect_uris": "https://v.test/cb", "grant_types": "authorization_code", "scopes": "openid"}))
show("viewer edit admin app", post(v, f"{K}/apps/{aapp}", {"csrf_token": T["v"], "name": "pwn", "redirect_uris": "https://evil.test/cb", "grant_types": "authorization_code", "scopes": "openid"}))
show("viewer rotate admin app", post(v, f"{K}/apps/{aapp}/rotate-secret", {"csrf_token": T["v"], "grace_period": "0"}))
show("viewer delete admin app", post(v, f"{K}/apps/{aapp}/delete", {"csrf_token": T["v"]}))
show("viewer change own role to OWNER", post(v, f"{K}/members/{mem['viewer@acme.test']}/role", {"csrf_token": T["v"], "role": "OWNER"}))
show("viewer invite ADMIN", post(v, K + "/invitations", {"csrf_token": T["v"], "email": "q@x.test", "role": "ADMIN"}))
show("viewer remove dev", post(v, f"{K}/members/{mem['dev@acme.test']}/remove", {"csrf_token": T["v"]}))
show("viewer GET audit", get(v, K + "/audit"))
show("viewer GET signing-keys", get(v, K + "/signing-keys"))

print("\n== DEVELOPER ==")
show("dev create key admin", post(d, K + "/keys", dict(kd, csrf_token=T["d"], scopes=["read", "admin"])))
show("dev create restricted members:write", post(d, K + "/keys", {"csrf_token": T["d"], "name": "r", "type": "restricted", "environment": "live", "scopes": "members:write"}))
show("dev create restricted audit:read", post(d, K + "/keys", {"csrf_token": T["d"], "name": "r", "type": "restricted", "environment": "live", "scopes": "audit:read"}))
show("dev create key unknown scope 'superuser'", post(d, K + "/keys", dict(kd, csrf_token=T["d"], scopes="superuser")))
show("dev roll owner's admin key", post(d, f"{K}/keys/{okey}/roll", {"csrf_token": T["d"], "overlap": "0"}))
show("dev revoke owner's key", post(d, f"{K}/keys/{okey}/revoke", {"csrf_token": T["d"]}))
show("dev register management app", post(d, K + "/apps", {"csrf_token": T["d"], "name": "m", "client_type": "confidential", "grant_types": "client_credentials", "scopes": ["read", "write"], "management": "on"}))
show("dev register mgmt app with admin scope", post(d, K + "/apps", {"csrf_token": T["d"], "name": "m2", "client_type": "confidential", "grant_types": "client_credentials", "scopes": ["admin"], "management": "on"}))
show("dev edit admin's app", post(d, f"{K}/apps/{aapp}", {"csrf_token": T["d"], "name": "pwn", "redirect_uris": "https://evil.test/cb", "grant_types": "authorization_code", "scopes": "openid"}))
show("dev rotate admin's app", post(d, f"{K}/apps/{aapp}/rotate-secret", {"csrf_token": T["d"], "grace_period": "0"}))
show("dev delete admin's app", post(d, f"{K}/apps/{aapp}/delete", {"csrf_token": T["d"]}))
show("dev change own role to ADMIN", post(d, f"{K}/members/{mem['dev@acme.test']}/role", {"csrf_token": T["d"], "role": "ADMIN"}))
show("dev invite DEVELOPER", post(d, K + "/invitations", {"csrf_token": T["d"], "email": "q@x.test", "role": "DEVELOPER"}))
show("dev GET audit", get(d, K + "/audit"))
show("dev GET signing-keys", get(d, K + "/signing-keys"))

print("\n== ADMIN ==")
show("admin change own role to OWNER", post(a, f"{K}/members/{mem['admin@acme.test']}/role", {"csrf_token": T["a"], "role": "OWNER"}))
show("admin demote owner to VIEWER", post(a, f"{K}/members/{mem['owner@acme.test']}/role", {"csrf_token": T["a"], "role": "VIEWER"}))
show("admin remove owner", post(a, f"{K}/members/{mem['owner@acme.test']}/remove", {"csrf_token": T["a"]}))
show("admin invite OWNER", post(a, K + "/invitations", {"csrf_token": T["a"], "email": "q@x.test", "role": "OWNER"}))
show("admin invite role 'owner' lowercase", post(a, K + "/invitations", {"csrf_token": T["a"], "email": "q@x.test", "role": "owner"}))
show("admin invite role ' OWNER'", post(a, K + "/invitations", {"csrf_token": T["a"], "email": "q@x.test", "role": " OWNER"}))
show("admin change dev role to 'Owner'", post(a, f"{K}/members/{mem['dev@acme.test']}/role", {"csrf_token": T["a"], "role": "Owner"}))
show("admin roll owner's key", post(a, f"{K}/keys/{okey}/roll", {"csrf_token": T["a"], "overlap": "0"}))
show("admin roll owner's key overlap=-5", post(a, f"{K}/keys/{okey}/roll", {"csrf_token": T["a"], "overlap": "-5"}))
show("owner roll own key overlap=99999999999", post(o, f"{K}/keys/{okey}/roll", {"csrf_token": T["o"], "overlap": "99999999999"}))
show("admin rotate grace=99999999", post(a, f"{K}/apps/{aapp}/rotate-secret", {"csrf_token": T["a"], "grace_period": "99999999"}))

print("\n== cross-organization (Acme owner, Globex ids) ==")
show("acme owner GET globex overview", get(o, G))
for p in ["/keys", "/apps", "/members", "/audit", "/signing-keys", f"/apps/{gapp}", f"/keys/{gkey}/revoke"]:
    show(f"acme owner GET globex{p}", get(o, G + p))
show("POST globex keys with acme token", post(o, G + "/keys", dict(kd, csrf_token=T["o"])))
show("acme path, globex key revoke", post(o, f"{K}/keys/{gkey}/revoke", {"csrf_token": T["o"]}))
show("acme path, globex key roll", post(o, f"{K}/keys/{gkey}/roll", {"csrf_token": T["o"], "overlap": "0"}))
show("acme path, globex key confirm GET", get(o, f"{K}/keys/{gkey}/roll"))
show("acme keys?revoked=globexkey (name leak?)", get(o, f"{K}/keys?revoked={gkey}"))
show("acme keys?after=globexkey", get(o, f"{K}/keys?after={gkey}"))
show("acme members?after=globex member", get(o, f"{K}/members?after={gmem[0]}"))
show("acme path, globex app GET", get(o, f"{K}/apps/{gapp}"))
show("acme path, globex app edit", post(o, f"{K}/apps/{gapp}", {"csrf_token": T["o"], "name": "pwn", "redirect_uris": "https://evil.test/cb", "grant_types": "authorization_code", "scopes": "openid"}))
show("acme path, globex app rotate", post(o, f"{K}/apps/{gapp}/rotate-secret", {"csrf_token": T["o"], "grace_period": "0"}))
show("acme path, globex app delete GET", get(o, f"{K}/apps/{gapp}/delete"))
show("acme path, globex app delete", post(o, f"{K}/apps/{gapp}/delete", {"csrf_token": T["o"]}))
show("acme path, globex member role", post(o, f"{K}/members/{gmem[0]}/role", {"csrf_token": T["o"], "role": "VIEWER"}))
show("acme path, globex member remove GET", get(o, f"{K}/members/{gmem[0]}/remove"))
show("acme path, globex member remove", post(o, f"{K}/members/{gmem[0]}/remove", {"csrf_token": T["o"]}))
show("acme path, globex invitation revoke GET", get(o, f"{K}/invitations/{ginv}/revoke"))
show("acme path, globex invitation revoke", post(o, f"{K}/invitations/{ginv}/revoke", {"csrf_token": T["o"]}))
show("acme owner revoke globex consent /account/apps/gapp/revoke", post(o, f"/account/apps/{gapp}/revoke", {"csrf_token": T["o"]}))
show("non-member (gowner) GET acme members", get(g, K + "/members"))
show("anonymous GET acme keys", requests.get(BASE + K + "/keys", allow_redirects=False))
show("anonymous POST acme keys", requests.post(BASE + K + "/keys", data=kd, allow_redirects=False))
# state after
r = get(g, G + "/keys"); print("globex key still active:", 'class="key-active"' in r.text and gkey in r.text)
r = get(g, G + f"/apps/{gapp}"); print("globex app:", r.status_code, "pwn" in r.text)
print("globex members:", members(g, globex)[0])
r = get(g, G + "/members"); print("globex invitation pending:", ginv in r.text)
r = get(o, K + "/members"); print("acme members after:", [(e, re.search(r'member-' + m + r'.*?(OWNER|ADMIN|DEVELOPER|VIEWER)', r.text, re.S).group(1)) for m, e in members(o, acme)[0]])
