-- Every change that alters what a cached verification answers is written to
-- the change log by the database itself, whichever code path (server, CLI,
-- SQL by hand, a cascade) made it: any change to an API key but its
-- last use; a membership added, changed or removed (the creator's role
-- bounds a key); an organization renamed or deleted; a user's email (shown
-- by /v1/auth/validate); any change to an OAuth client or its secrets; an
-- access token denied, a user's tokens revoked as a whole.
-- An update that changes nothing logs nothing.
-- Each entry of the log is also announced on the channel portcullis_changes
-- when its transaction commits, so that every instance drops it at once;
-- the log itself is the fallback for an instance that missed it.

CREATE FUNCTION portcullis_api_key_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('api_key', OLD.id, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_changed AFTER UPDATE ON api_keys
    FOR EACH ROW WHEN ((OLD.id, OLD.organization_id, OLD.created_by, OLD.name, OLD.kind, OLD.environment, OLD.prefix, OLD.last_four, OLD.key_digest, OLD.scopes, OLD.rate_limit_per_minute, OLD.expires_at, OLD.created_at, OLD.revoked_at, OLD.rolled_from)
        IS DISTINCT FROM (NEW.id, NEW.organization_id, NEW.created_by, NEW.name, NEW.kind, NEW.environment, NEW.prefix, NEW.last_four, NEW.key_digest, NEW.scopes, NEW.rate_limit_per_minute, NEW.expires_at, NEW.created_at, NEW.revoked_at, NEW.rolled_from))
    EXECUTE FUNCTION portcullis_api_key_changed();
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION portcullis_api_key_changed();

CREATE FUNCTION portcullis_membership_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('member', NEW.organization_id || ' ' || NEW.user_id, now() AT TIME ZONE 'UTC');
    ELSE
        INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('member', OLD.organization_id || ' ' || OLD.user_id, now() AT TIME ZONE 'UTC');
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER memberships_added AFTER INSERT OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION portcullis_membership_changed();
CREATE TRIGGER memberships_changed AFTER UPDATE ON memberships
    FOR EACH ROW WHEN ((OLD.role, OLD.organization_id, OLD.user_id) IS DISTINCT FROM (NEW.role, NEW.organization_id, NEW.user_id))
    EXECUTE FUNCTION portcullis_membership_changed();

CREATE FUNCTION portcullis_organization_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('organization', OLD.id, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER organizations_changed AFTER UPDATE ON organizations
    FOR EACH ROW WHEN ((OLD.name, OLD.id) IS DISTINCT FROM (NEW.name, NEW.id))
    EXECUTE FUNCTION portcullis_organization_changed();
CREATE TRIGGER organizations_deleted AFTER DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION portcullis_organization_changed();

CREATE FUNCTION portcullis_user_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('user', OLD.id, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER users_email_changed AFTER UPDATE ON users
    FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION portcullis_user_changed();

CREATE FUNCTION portcullis_client_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('client', OLD.client_id, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER oauth_clients_changed AFTER UPDATE OR DELETE ON oauth_clients
    FOR EACH ROW EXECUTE FUNCTION portcullis_client_changed();

-- A secret whose client is gone (a cascade) logs nothing: the client's own
-- deletion did.
CREATE FUNCTION portcullis_client_secret_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at)
    SELECT 'client', c.client_id, now() AT TIME ZONE 'UTC' FROM oauth_clients c
    WHERE c.id = CASE WHEN TG_OP = 'INSERT' THEN NEW.client_pk ELSE OLD.client_pk END;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER client_secrets_changed AFTER INSERT OR UPDATE OR DELETE ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION portcullis_client_secret_changed();

-- Access-token liveness (kept in memory too): a token denied, a user's
-- tokens revoked as a whole.
CREATE FUNCTION portcullis_access_token_denied() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('access_token', NEW.jti, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER revoked_access_tokens_added AFTER INSERT ON revoked_access_tokens
    FOR EACH ROW EXECUTE FUNCTION portcullis_access_token_denied();

CREATE FUNCTION portcullis_user_tokens_revoked() RETURNS trigger AS $$
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('user_tokens', OLD.id, now() AT TIME ZONE 'UTC');
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER users_tokens_revoked AFTER UPDATE ON users
    FOR EACH ROW WHEN (OLD.tokens_revoked_at IS DISTINCT FROM NEW.tokens_revoked_at)
    EXECUTE FUNCTION portcullis_user_tokens_revoked();
-- A user deleted: their pairwise subjects go with them (a cascade).
CREATE TRIGGER users_deleted AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION portcullis_user_tokens_revoked();

CREATE FUNCTION portcullis_announce_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('portcullis_changes', NEW.topic || ':' || NEW.item);
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER cache_invalidations_announced AFTER INSERT ON cache_invalidations
    FOR EACH ROW EXECUTE FUNCTION portcullis_announce_change();

CREATE INDEX cache_invalidations_created_at ON cache_invalidations (created_at);
