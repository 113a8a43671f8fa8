"""Objects for the contract run of /v1 (.ci/contract.sh), made through the
server's own API and pages as a customer would: prints `export NAME=value`
lines for schemathesis.toml. Usage: contract_setup.py BASE EMAIL PASSWORD

Keys need none: the run makes its own with POST /v1/api-keys and follows
the document's links to the operations on one key.
"""

import base64
import hashlib
import html.parser
import http.cookiejar
import json
import secrets
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE, EMAIL, PASSWORD = sys.argv[1:4]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


jar = http.cookiejar.CookieJar()
browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def call(method, path, token=None, body=None, form=None, opener=None, want=(200, 201)):
    headers = {"Origin": BASE}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        res = (opener or urllib.request.build_opener()).open(req)
        status, text, location = res.status, res.read().decode(), res.headers.get("Location")
    except urllib.error.HTTPError as e:
        status, text, location = e.code, e.read().decode(), e.headers.get("Location")
    if status not in want:
        sys.exit(f"contract setup: {method} {path} answered {status}: {text[:500]}")
    return status, text, location


def api(method, path, token, body=None):
    return json.loads(call(method, path, token, body)[1])["data"]


class Hidden(html.parser.HTMLParser):
    """The hidden fields of a page's form."""

    def __init__(self, text):
        super().__init__()
        self.fields = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "hidden":
            self.fields.append((a["name"], a.get("value") or ""))


def login():
    return api("POST", "/v1/auth/login", None, {"email": EMAIL, "password": PASSWORD})


ALL = ["read", "write", "delete", "admin", "webhook"]
session = login()["access_token"]
out = {}
out["CONTRACT_KEY"] = api("POST", "/v1/api-keys", session, {"name": "contract", "scopes": ALL})["key"]


key_secret = out["CONTRACT_KEY"]


def app(name):
    return api(
        "POST",
        "/v1/apps",
        key_secret,
        {
            "name": name,
            "redirect_uris": ["http://127.0.0.1/callback"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes": ["openid", "profile", "email"],
        },
    )["id"]


out["APP_ID"] = app("contract: read, change and rotate")
out["DELETE_APP_ID"] = app("contract: delete")
out["INVITATION_ID"] = api("POST", "/v1/invitations", session, {"email": "invited@example.com", "role": "VIEWER"})["id"]
members = {m["email"]: m["id"] for m in api("GET", "/v1/members?limit=100", session)}
out["MEMBER_ID"] = members["changed@example.com"]
out["REMOVED_MEMBER_ID"] = members["removed@example.com"]

# A consent to withdraw: the user approves a third-party app on the consent
# page, signed in through the login page.
consented = app("contract: consented to")
_, text, _ = call("GET", "/login", opener=browser)
form = dict(Hidden(text).fields) | {"email": EMAIL, "password": PASSWORD}
call("POST", "/login", form=form, opener=browser, want=(303,))
verifier = secrets.token_urlsafe(48)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
query = urllib.parse.urlencode(
    {
        "response_type": "code",
        "client_id": consented,
        "redirect_uri": "http://127.0.0.1/callback",
        "scope": "openid profile",
        "state": "contract",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
)
_, text, _ = call("GET", f"/oauth/authorize?{query}", opener=browser)
fields = Hidden(text).fields + [("decision", "approve")]
_, _, location = call("POST", "/oauth/authorize", form=fields, opener=browser, want=(303,))
if "code=" not in (location or ""):
    sys.exit(f"contract setup: the consent page sent the browser to {location}")
out["CONSENTED_APP_ID"] = consented

# Dashboard sessions: one for the user's own endpoints, one to end by
# logout, and a refresh token to rotate.
out["SESSION"] = session
out["LOGOUT_SESSION"] = login()["access_token"]
out["REFRESH_TOKEN"] = login()["refresh_token"]

for name, value in out.items():
    print(f"export {name}={shlex.quote(value)}")
