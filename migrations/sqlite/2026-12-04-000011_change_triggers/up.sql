-- Every change that alters what a cached verification answers is written to
-- the change log by the database itself, whichever code path (server, CLI,
-- SQL by hand, a cascade) made it: any change to an API key but its
-- last use; a membership added, changed or removed (the creator's role
-- bounds a key); an organization renamed or deleted; a user's email (shown
-- by /v1/auth/validate); any change to an OAuth client or its secrets; an
-- access token denied, a user's tokens revoked as a whole.
-- An update that changes nothing logs nothing.

CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys
WHEN OLD.id IS NOT NEW.id OR OLD.organization_id IS NOT NEW.organization_id OR OLD.created_by IS NOT NEW.created_by OR OLD.name IS NOT NEW.name OR OLD.kind IS NOT NEW.kind OR OLD.environment IS NOT NEW.environment OR OLD.prefix IS NOT NEW.prefix OR OLD.last_four IS NOT NEW.last_four OR OLD.key_digest IS NOT NEW.key_digest OR OLD.scopes IS NOT NEW.scopes OR OLD.rate_limit_per_minute IS NOT NEW.rate_limit_per_minute OR OLD.expires_at IS NOT NEW.expires_at OR OLD.created_at IS NOT NEW.created_at OR OLD.revoked_at IS NOT NEW.revoked_at OR OLD.rolled_from IS NOT NEW.rolled_from
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('api_key', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('api_key', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER memberships_added AFTER INSERT ON memberships
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('member', NEW.organization_id || ' ' || NEW.user_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER memberships_changed AFTER UPDATE ON memberships
WHEN OLD.role IS NOT NEW.role OR OLD.organization_id IS NOT NEW.organization_id OR OLD.user_id IS NOT NEW.user_id
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('member', OLD.organization_id || ' ' || OLD.user_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER memberships_deleted AFTER DELETE ON memberships
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('member', OLD.organization_id || ' ' || OLD.user_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER organizations_changed AFTER UPDATE ON organizations
WHEN OLD.name IS NOT NEW.name OR OLD.id IS NOT NEW.id
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('organization', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER organizations_deleted AFTER DELETE ON organizations
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('organization', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER users_email_changed AFTER UPDATE ON users
WHEN OLD.email IS NOT NEW.email
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('user', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER oauth_clients_changed AFTER UPDATE ON oauth_clients
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('client', OLD.client_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER oauth_clients_deleted AFTER DELETE ON oauth_clients
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('client', OLD.client_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

-- A secret whose client is gone (a cascade) logs nothing: the client's own
-- deletion did.
CREATE TRIGGER client_secrets_added AFTER INSERT ON client_secrets
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    SELECT 'client', client_id, strftime('%Y-%m-%d %H:%M:%f', 'now') FROM oauth_clients WHERE id = NEW.client_pk;
END;

CREATE TRIGGER client_secrets_changed AFTER UPDATE ON client_secrets
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    SELECT 'client', client_id, strftime('%Y-%m-%d %H:%M:%f', 'now') FROM oauth_clients WHERE id = OLD.client_pk;
END;

CREATE TRIGGER client_secrets_deleted AFTER DELETE ON client_secrets
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    SELECT 'client', client_id, strftime('%Y-%m-%d %H:%M:%f', 'now') FROM oauth_clients WHERE id = OLD.client_pk;
END;

-- Access-token liveness (kept in memory too): a token denied, a user's
-- tokens revoked as a whole.
CREATE TRIGGER revoked_access_tokens_added AFTER INSERT ON revoked_access_tokens
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('access_token', NEW.jti, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER users_tokens_revoked AFTER UPDATE ON users
WHEN OLD.tokens_revoked_at IS NOT NEW.tokens_revoked_at
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('user_tokens', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

-- A user deleted: their pairwise subjects go with them (a cascade).
CREATE TRIGGER users_deleted AFTER DELETE ON users
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('user_tokens', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE INDEX cache_invalidations_created_at ON cache_invalidations (created_at);
