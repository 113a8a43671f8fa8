-- OpenID Connect: the browser session that approved a code, and when its
-- user authenticated, carried from the code to the refresh-token family so
-- every ID token names the same `sid` and `auth_time` (OIDC Core §2, §12.2).
ALTER TABLE authorization_codes ADD COLUMN session_id TEXT;
ALTER TABLE authorization_codes ADD COLUMN auth_time TIMESTAMP;
ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN auth_time TIMESTAMP;
