DROP TABLE password_resets;
DROP TRIGGER users_disabled_changed;
ALTER TABLE users DROP COLUMN disabled_at;
