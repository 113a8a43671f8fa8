ALTER TABLE oauth_clients DROP COLUMN tokens_valid_after;
