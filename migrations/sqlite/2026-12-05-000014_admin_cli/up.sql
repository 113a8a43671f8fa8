-- An operator can disable a user (`portcullis user disable`): sign-in is
-- refused and every credential acting for them resolves to nothing while
-- this is set. Cleared by `user enable`.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;

-- Disabling or enabling changes what a cached API-key verification answers
-- (the creator's keys): logged like an email change.
CREATE TRIGGER users_disabled_changed AFTER UPDATE ON users
WHEN OLD.disabled_at IS NOT NEW.disabled_at
BEGIN
    INSERT INTO cache_invalidations (topic, item, created_at) VALUES ('user', OLD.id, strftime('%Y-%m-%d %H:%M:%f', 'now'));
END;

-- Single-use password-reset links (`portcullis user reset-password`): only
-- the SHA-256 digest of the token is stored; a link is used by a
-- conditional UPDATE of used_at.
CREATE TABLE password_resets (
    token_digest TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX password_resets_user ON password_resets (user_id);
