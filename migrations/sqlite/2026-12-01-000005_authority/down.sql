DROP INDEX refresh_tokens_parent_id;
DROP INDEX refresh_tokens_user_id;
ALTER TABLE users DROP COLUMN tokens_revoked_at;
ALTER TABLE refresh_tokens DROP COLUMN parent_id;
ALTER TABLE refresh_tokens DROP COLUMN organization_id;
ALTER TABLE oauth_clients DROP COLUMN require_pkce;
ALTER TABLE oauth_clients DROP COLUMN management;
