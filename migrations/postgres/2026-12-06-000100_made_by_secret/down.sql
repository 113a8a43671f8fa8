DROP INDEX oauth_clients_made_by_secret;
DROP INDEX api_keys_made_by_secret;
ALTER TABLE oauth_clients DROP COLUMN made_by_secret;
ALTER TABLE api_keys DROP COLUMN made_by_secret;
