-- The key through which a key was made (POST /v1/api-keys with an API key,
-- or a roll of such a key): the child ends with its maker, revoked with it
-- and never expiring after it (attacker round 4, finding 4).
ALTER TABLE api_keys ADD COLUMN made_by_key TEXT;
CREATE INDEX api_keys_made_by_key ON api_keys (made_by_key) WHERE made_by_key IS NOT NULL;
