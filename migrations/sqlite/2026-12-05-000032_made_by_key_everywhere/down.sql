DROP INDEX client_secrets_made_by_key;
ALTER TABLE client_secrets DROP COLUMN made_by_key;
ALTER TABLE invitations DROP COLUMN made_by_key;
