DROP INDEX api_keys_made_by_key;
ALTER TABLE api_keys DROP COLUMN made_by_key;
