"""Reset link: CSRF, single use, headers, what the page leaks. reset.py URL"""
import sys
from lib import *
url = sys.argv[1]; tok = url.split("token=")[1]
s = requests.Session()
r = s.get(url, timeout=10)
print("GET", r.status_code, "Referrer-Policy:", r.headers.get("referrer-policy"), "Cache-Control:", r.headers.get("cache-control"))
print("external refs:", re.findall(r'(?:src|href)="(https?://[^"]+)"', r.text))
# no CSRF
r2 = requests.post(BASE + "/reset-password", data={"token": tok, "new_password": "attacker password 123"}, allow_redirects=False, timeout=10)
print("POST without csrf:", r2.status_code)
r3 = s.post(BASE + "/reset-password", data={"csrf_token": csrf(r.text), "token": tok, "new_password": "short"}, timeout=10)
print("weak password:", r3.status_code, "reset-invalid" in r3.text)
r4 = s.post(BASE + "/reset-password", data={"csrf_token": csrf(r.text), "token": tok, "new_password": "new password reset 1"}, timeout=10)
print("good:", r4.status_code, "reset-done" in r4.text)
r5 = s.post(BASE + "/reset-password", data={"csrf_token": csrf(r.text), "token": tok, "new_password": "new password reset 2"}, timeout=10)
print("second use:", r5.status_code, "reset-done" in r5.text, "reset-invalid" in r5.text)
print("login with 1:", call("POST", "/v1/auth/login", body={"email": "reset@acme.test", "password": "new password reset 1"})[0])
