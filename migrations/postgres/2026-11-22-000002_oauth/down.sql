DROP TABLE cache_invalidations;
DROP TABLE signing_keys;
DROP TABLE consents;
DROP TABLE revoked_access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE authorization_codes;
DROP TABLE client_secrets;
DROP TABLE oauth_clients;
