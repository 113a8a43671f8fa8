-- A key or an app made with a management app's client-credentials token
-- ends with that app: revoked (the key, with what was made through it) or
-- deleted (the app) when the management app is deleted, loses management,
-- or ends with the key it was itself registered through. Bounded by the
-- token's expiry alone, they outlived the app by up to a day (keys) or
-- for good (apps): attacker round 11, finding 6.
ALTER TABLE api_keys ADD COLUMN made_by_app TEXT;
ALTER TABLE oauth_clients ADD COLUMN made_by_app TEXT;
CREATE INDEX api_keys_made_by_app ON api_keys (made_by_app) WHERE made_by_app IS NOT NULL;
CREATE INDEX oauth_clients_made_by_app ON oauth_clients (made_by_app) WHERE made_by_app IS NOT NULL;
