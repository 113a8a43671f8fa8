-- Email (issue #9). An address is verified by a single-use link: only the
-- SHA-256 digest of its token is stored, used by a conditional UPDATE.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;

CREATE TABLE email_verifications (
    token_digest TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX email_verifications_user ON email_verifications (user_id, created_at);

-- Messages waiting to be sent, written in the transaction that caused them
-- and sent by a background sender (SMTP, or files in data_dir/outbox).
-- The body is sealed under the master key (it holds single-use links) and
-- emptied once the message is sent.
CREATE TABLE email_outbox (
    id TEXT PRIMARY KEY NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at TIMESTAMP
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE sent_at IS NULL;
