-- Dead letters: a message the SMTP server refuses for good (a 5xx reply),
-- or one still unsent after days of retries, is marked failed (its reason
-- in last_error, its sealed body emptied) and never tried again.
ALTER TABLE email_outbox ADD COLUMN failed_at TIMESTAMP;
DROP INDEX email_outbox_due;
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX email_outbox_failed ON email_outbox (failed_at) WHERE failed_at IS NOT NULL;
