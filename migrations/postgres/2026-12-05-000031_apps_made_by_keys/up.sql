-- An app registered through an API key (POST /v1/apps with a key) ends
-- with that key: deleted when the key is revoked, unknown from the key's
-- expiry (`ends_at`, bounded again when the key is rolled). Otherwise a
-- leaked key, once revoked, would leave behind the apps made with it and
-- their secrets (attacker round 7, finding 8).
ALTER TABLE oauth_clients ADD COLUMN made_by_key TEXT;
ALTER TABLE oauth_clients ADD COLUMN ends_at TIMESTAMP;
CREATE INDEX oauth_clients_made_by_key ON oauth_clients (made_by_key) WHERE made_by_key IS NOT NULL;
