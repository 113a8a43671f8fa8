-- OpenID Connect registration fields (RP-Initiated Logout 1.0 §3.1,
-- Back-Channel Logout 1.0 §2.2, OIDC Core §8, OIDC Registration §2), and
-- which browser sessions received an ID token for which client: the clients
-- that back-channel logout notifies when the session ends.
ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE oauth_clients ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'public';
ALTER TABLE oauth_clients ADD COLUMN sector_identifier TEXT;
ALTER TABLE oauth_clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';

-- A session's rows are read in the transaction that ends it, and go with it.
CREATE TABLE oidc_logins (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
