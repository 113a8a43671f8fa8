-- A key or an app made with a management app's client-credentials token
-- ends with the secret that token was issued under: revoked or deleted
-- when that secret is deleted (the key it was issued through revoked, a
-- rotation without grace), and bounded by its expiry (a grace's end, the
-- roll of that key). Tied only to the app, they outlived a leaked secret's
-- rotation and the key it came through (attacker round 12, findings 1, 3).
ALTER TABLE api_keys ADD COLUMN made_by_secret TEXT;
ALTER TABLE oauth_clients ADD COLUMN made_by_secret TEXT;
CREATE INDEX api_keys_made_by_secret ON api_keys (made_by_secret) WHERE made_by_secret IS NOT NULL;
CREATE INDEX oauth_clients_made_by_secret ON oauth_clients (made_by_secret) WHERE made_by_secret IS NOT NULL;
