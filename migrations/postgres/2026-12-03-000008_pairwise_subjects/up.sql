-- The user behind each pairwise subject (OIDC Core §8). A pairwise app's
-- access tokens carry the subject it knows the user by, never the user's id,
-- so resolving such a token (userinfo, a revocation of all the user's
-- tokens) needs the way back. Written when a token carrying the subject is
-- issued; the subject is an HMAC, unique across organizations and sectors.
CREATE TABLE pairwise_subjects (
    subject TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX pairwise_subjects_user ON pairwise_subjects (user_id);
