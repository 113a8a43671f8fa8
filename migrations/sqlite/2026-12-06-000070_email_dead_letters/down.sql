DROP INDEX email_outbox_failed;
DROP INDEX email_outbox_due;
ALTER TABLE email_outbox DROP COLUMN failed_at;
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE sent_at IS NULL;
