"""Accept an invitation URL as EMAIL: accept_inv.py EMAIL URL"""
import sys
from lib import *
email, url = sys.argv[1], sys.argv[2]
s = page_login(email)
r = s.get(url, timeout=10)
print("GET", r.status_code)
r = s.post(url, data={"csrf_token": csrf(r.text)}, allow_redirects=False, timeout=10)
print("POST", r.status_code, r.headers.get("location"), re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", r.text))[:200] if r.status_code != 303 else "")
