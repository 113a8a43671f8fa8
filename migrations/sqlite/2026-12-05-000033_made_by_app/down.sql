DROP INDEX oauth_clients_made_by_app;
DROP INDEX api_keys_made_by_app;
ALTER TABLE oauth_clients DROP COLUMN made_by_app;
ALTER TABLE api_keys DROP COLUMN made_by_app;
