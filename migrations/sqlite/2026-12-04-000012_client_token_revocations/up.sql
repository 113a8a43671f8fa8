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

-- Access-token liveness is kept in memory on every instance: tell them.
CREATE TRIGGER client_tokens_revoked_added AFTER INSERT ON client_tokens_revoked
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('client_tokens', NEW.user_id || ' ' || NEW.client_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER client_tokens_revoked_changed AFTER UPDATE ON client_tokens_revoked
WHEN OLD.revoked_at IS NOT NEW.revoked_at OR OLD.user_id IS NOT NEW.user_id OR OLD.client_id IS NOT NEW.client_id
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('client_tokens', OLD.user_id || ' ' || OLD.client_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

CREATE TRIGGER client_tokens_revoked_deleted AFTER DELETE ON client_tokens_revoked
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('client_tokens', OLD.user_id || ' ' || OLD.client_id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;
