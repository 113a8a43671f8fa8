DROP TABLE oidc_logins;
ALTER TABLE oauth_clients DROP COLUMN id_token_signed_response_alg;
ALTER TABLE oauth_clients DROP COLUMN sector_identifier;
ALTER TABLE oauth_clients DROP COLUMN subject_type;
ALTER TABLE oauth_clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE oauth_clients DROP COLUMN post_logout_redirect_uris;
