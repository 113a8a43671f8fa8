-- A client's own (client-credentials) access tokens issued at or before this
-- second are dead: set when its secret is rotated without grace, when
-- another member takes the app over, and when management is turned on.
ALTER TABLE oauth_clients ADD COLUMN tokens_valid_after TIMESTAMP;
