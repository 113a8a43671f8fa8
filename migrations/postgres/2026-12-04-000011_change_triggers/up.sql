-- Every change that alters what a cached API-key verification answers is
-- written to the change log by the database itself, whichever code path
-- (server, CLI, a cascade) made it: a key's revocation, expiry, scopes,
-- name or limit; a membership added, changed or removed (the creator's role
-- bounds the key); an organization renamed or deleted; a creator's email
-- (shown by /v1/auth/validate). Each entry of the
-- log is also announced on the channel portcullis_changes when its
-- transaction commits, so that every instance drops it at once; the log
-- itself is the fallback for an instance that missed the announcement.
CREATE FUNCTION portcullis_api_key_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('api_key', OLD.id, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, expires_at, scopes, name, rate_limit_per_minute,
    organization_id, created_by, key_digest OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION portcullis_api_key_changed();

CREATE FUNCTION portcullis_membership_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cache_invalidations (topic, item, created_at)
        VALUES ('member', NEW.organization_id || ' ' || NEW.user_id, now() AT TIME ZONE 'UTC');
    ELSE
        INSERT INTO cache_invalidations (topic, item, created_at)
        VALUES ('member', OLD.organization_id || ' ' || OLD.user_id, now() AT TIME ZONE 'UTC');
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER memberships_changed AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION portcullis_membership_changed();

CREATE FUNCTION portcullis_organization_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('organization', OLD.id, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER organizations_changed AFTER UPDATE OF name OR DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION portcullis_organization_changed();

CREATE FUNCTION portcullis_announce_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('portcullis_changes', NEW.topic || ':' || NEW.item);
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER cache_invalidations_announced AFTER INSERT ON cache_invalidations
    FOR EACH ROW EXECUTE FUNCTION portcullis_announce_change();

CREATE FUNCTION portcullis_user_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    VALUES ('user', OLD.id, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER users_email_changed AFTER UPDATE OF email ON users
    FOR EACH ROW EXECUTE FUNCTION portcullis_user_changed();

CREATE INDEX cache_invalidations_created_at ON cache_invalidations (created_at);
