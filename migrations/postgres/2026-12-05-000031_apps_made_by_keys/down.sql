DROP INDEX oauth_clients_made_by_key;
ALTER TABLE oauth_clients DROP COLUMN ends_at;
ALTER TABLE oauth_clients DROP COLUMN made_by_key;
