-- Authority: management apps, per-client PKCE, the organization a dashboard
-- session acts for, the refresh token each one replaced (to tell a race from
-- a theft), and when a user's tokens were last revoked as a whole.
ALTER TABLE oauth_clients ADD COLUMN management BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE oauth_clients ADD COLUMN require_pkce BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE refresh_tokens ADD COLUMN organization_id TEXT REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE refresh_tokens ADD COLUMN parent_id TEXT;
ALTER TABLE users ADD COLUMN tokens_revoked_at TIMESTAMP;
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_parent_id ON refresh_tokens (parent_id);
