DROP TABLE password_resets;
DROP TRIGGER users_disabled_changed ON users;
ALTER TABLE users DROP COLUMN disabled_at;
