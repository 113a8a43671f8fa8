-- Every change that alters what a cached API-key verification answers is
-- written to the change log by the database itself, whichever code path
-- (server, CLI, a cascade) made it: a key's revocation, expiry, scopes,
-- name or limit; a membership added, changed or removed (the creator's role
-- bounds the key); an organization renamed or deleted; a creator's email
-- (shown by /v1/auth/validate).
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, expires_at, scopes, name, rate_limit_per_minute,
    organization_id, created_by, key_digest ON api_keys
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('api_key', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('api_key', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER memberships_added AFTER INSERT ON memberships
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('member', NEW.organization_id || ' ' || NEW.user_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER memberships_changed AFTER UPDATE ON memberships
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('member', OLD.organization_id || ' ' || OLD.user_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER memberships_deleted AFTER DELETE ON memberships
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('member', OLD.organization_id || ' ' || OLD.user_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER organizations_changed AFTER UPDATE OF name ON organizations
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('organization', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER organizations_deleted AFTER DELETE ON organizations
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('organization', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER users_email_changed AFTER UPDATE OF email ON users
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('user', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE INDEX cache_invalidations_created_at ON cache_invalidations (created_at);
