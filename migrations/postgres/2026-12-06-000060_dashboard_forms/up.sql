-- The dashboard (issue #9).
--
-- A creation form (new API key, app registration, invitation) carries a
-- random single-use token; the first POST with it claims it here (the
-- primary key decides between two at once), so a browser re-posting the
-- form (a reload of the page that shows the new secret) makes nothing
-- more. Only the SHA-256 digest is kept, until the form would have expired.
CREATE TABLE form_submissions (
    token_digest TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX form_submissions_expiry ON form_submissions (expires_at);

-- The audit page's filters list the kinds and the actors of an
-- organization's log (SELECT DISTINCT action / actor WHERE organization_id),
-- and a filtered page reads one kind or one actor newest first: each index
-- answers both from its prefix, without reading the rows.
CREATE INDEX audit_events_organization_action ON audit_events (organization_id, action, created_at, id);
CREATE INDEX audit_events_organization_actor ON audit_events (organization_id, actor, created_at, id);
