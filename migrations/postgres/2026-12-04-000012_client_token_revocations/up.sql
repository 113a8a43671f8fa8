-- A user withdrew their consent to an app (/v1/authorized-apps): every
-- access token that app got for the user before `revoked_at` is dead, with
-- or without a refresh token behind it (a token is dead when its
-- `iat < revoked_at`, as with users.tokens_revoked_at). One row per user and
-- app; a later withdrawal moves the time forward.
CREATE TABLE client_tokens_revoked (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    revoked_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Access-token liveness is kept in memory on every instance: tell them (the
-- log entry is announced by cache_invalidations_announced).
CREATE FUNCTION portcullis_client_tokens_revoked() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('client_tokens', NEW.user_id || ' ' || NEW.client_id, now() AT TIME ZONE 'UTC');
    ELSE
        INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('client_tokens', OLD.user_id || ' ' || OLD.client_id, now() AT TIME ZONE 'UTC');
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER client_tokens_revoked_added AFTER INSERT OR DELETE ON client_tokens_revoked
    FOR EACH ROW EXECUTE FUNCTION portcullis_client_tokens_revoked();
CREATE TRIGGER client_tokens_revoked_changed AFTER UPDATE ON client_tokens_revoked
    FOR EACH ROW WHEN ((OLD.revoked_at, OLD.user_id, OLD.client_id) IS DISTINCT FROM (NEW.revoked_at, NEW.user_id, NEW.client_id))
    EXECUTE FUNCTION portcullis_client_tokens_revoked();
