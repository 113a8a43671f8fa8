"""Keys and apps made by a management app's token, after the app is deleted (by the person who made it)."""
import time
from lib import *
adm, _ = login("admin@acme.test")
s, b = call("POST", "/v1/apps", adm, {"name": "bot", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete"], "management": True, "access_token_ttl": 86400}); M = (b["data"]["client_id"], b["data"]["client_secret"])
MT = cc(*M, "read write delete")[1]["access_token"]
s, b = key(MT, "J", ("read", "write", "delete")); J = b["data"]["key"]; print("key by the bot:", s, "expires", b["data"]["expires_at"])
s, b = call("POST", "/v1/apps", MT, {"name": "X", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]}); X = (b["data"]["client_id"], b["data"]["client_secret"])
print("delete the bot:", call("DELETE", f"/v1/apps/{M[0]}", adm)[0]); time.sleep(1.2)
print("bot token:", call("GET", "/v1/api-keys?limit=1", MT)[0], "| J:", validate(J), "J makes a key:", key(J, "J2", ("read",))[0], "| X cc:", cc(*X, "read")[0])
