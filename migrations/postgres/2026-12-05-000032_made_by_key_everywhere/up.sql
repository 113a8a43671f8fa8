-- What an API key hands out ends with it (attacker round 11, findings 1
-- and 4): an invitation sent through a key is accepted only while the key
-- (and every key it was made through) is live; a client secret issued
-- through a key is deleted when the key is revoked, with the tokens it got,
-- and expires when the key does.
ALTER TABLE invitations ADD COLUMN made_by_key TEXT;
ALTER TABLE client_secrets ADD COLUMN made_by_key TEXT;
CREATE INDEX client_secrets_made_by_key ON client_secrets (made_by_key) WHERE made_by_key IS NOT NULL;
