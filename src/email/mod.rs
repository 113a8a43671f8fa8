//! Email: messages are rendered from `templates/email/`, written to the
//! `email_outbox` table in the transaction that caused them (`Outbox`), and
//! sent in the background (`Sender`) through SMTP (`smtp_url`) or, with none
//! configured, as `.eml` files in `data_dir/outbox/`. No request waits for
//! SMTP; a message stays in the table, tried again with backoff, until a
//! send succeeds, so none is lost while the SMTP server is down. A message
//! the server refuses for good (a 5xx reply: no such user) or still unsent
//! after `GIVE_UP_AFTER` is a dead letter: marked failed with the reason,
//! its body emptied, never tried again, and counted where operators look
//! (`portcullis_email_outbox_messages{state="failed"}`, `portcullis email
//! failed`).
//!
//! Messages hold single-use links, so their bodies are sealed under the
//! master key in the table and emptied once sent.

pub mod templates;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Config;
use crate::store::email_outbox::{self as rows, OutboxRow};
use crate::store::{DbConnection, Store, StoreError};
use crate::tokens::master_key::MasterKey;
pub use templates::{Letter, Message};

/// The name messages give the server.
const SITE: &str = "portcullis";
/// How long one attempt holds a message before another may try it.
const LEASE: Duration = Duration::minutes(5);
/// The first retry waits this long, each next one twice as long…
const FIRST_RETRY: Duration = Duration::seconds(30);
/// …up to this.
const LONGEST_RETRY: Duration = Duration::hours(1);
/// A message still unsent this long after it was queued is given up: the
/// links it carries have expired by then (an invitation's lasts 7 days,
/// the others a day at most).
pub const GIVE_UP_AFTER: Duration = Duration::days(3);
/// Sent messages are kept (bodies emptied) this long, then deleted.
const KEEP_SENT: Duration = Duration::days(7);
/// Dead letters are kept (bodies emptied) this long, for the operator.
const KEEP_FAILED: Duration = Duration::days(30);
/// Messages one pass sends at most; the rest wait for the next pass.
const BATCH: i64 = 50;
/// One SMTP exchange takes at most this long.
const SMTP_TIMEOUT: StdDuration = StdDuration::from_secs(20);

#[derive(Serialize, Deserialize)]
struct Bodies {
    text: String,
    html: String,
}

fn seal_aad(id: &str) -> Vec<u8> {
    format!("email_outbox:{id}").into_bytes()
}

/// The queue side: renders a letter and writes it to the outbox on the
/// caller's connection, so it commits (or not) with what caused it.
#[derive(Clone)]
pub struct Outbox {
    issuer: String,
    master_key: Arc<MasterKey>,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(issuer: &str, master_key: MasterKey) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            master_key: Arc::new(master_key),
            wake: Arc::new(Notify::new()),
        }
    }

    /// An absolute link to `path` (which starts with `/`) on this server.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The row for `letter` to `to`, rendered and sealed, due at `now`.
    pub fn prepare(&self, to: &str, letter: &Letter<'_>, now: NaiveDateTime) -> Result<OutboxRow, StoreError> {
        let message = templates::compose(SITE, &self.issuer, to, letter)
            .map_err(|e| StoreError::Other(format!("rendering an email: {e}")))?;
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let bodies = serde_json::to_vec(&Bodies { text: message.text, html: message.html })
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let body_sealed = self
            .master_key
            .seal(&seal_aad(&id), &bodies)
            .ok_or_else(|| StoreError::Other("sealing an email failed".into()))?;
        Ok(OutboxRow {
            id,
            recipient: message.to,
            subject: message.subject,
            body_sealed,
            created_at: now,
            next_attempt_at: now,
            attempts: 0,
            last_error: None,
            sent_at: None,
            failed_at: None,
        })
    }

    /// Writes a prepared message; call `wake` once the transaction commits.
    pub fn queue(conn: &mut DbConnection, row: &OutboxRow) -> Result<(), StoreError> {
        rows::insert(conn, row)
    }

    /// Tells the sender a message is waiting (it also looks every few seconds).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Where messages go.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// One `.eml` file per message, mode 0600 (no `smtp_url`).
    Folder(PathBuf),
}

/// The delivery side: sends what is due, one instance per process.
pub struct Sender {
    store: Store,
    clock: Arc<dyn Clock>,
    master_key: Arc<MasterKey>,
    from: Mailbox,
    transport: Transport,
    wake: Arc<Notify>,
}

/// The sender address when `email_from` is not set: no-reply at the
/// issuer's host.
pub fn default_from(issuer: &str) -> String {
    let host = url::Url::parse(issuer).ok().and_then(|u| u.host_str().map(str::to_owned));
    format!("portcullis <no-reply@{}>", host.unwrap_or_else(|| "localhost".into()))
}

/// Checks `smtp_url` and `email_from` (config validation): the error names
/// the key, never the value of `smtp_url` (it may hold a password).
pub fn check_config(smtp_url: Option<&str>, email_from: Option<&str>) -> Result<(), String> {
    if let Some(url) = smtp_url {
        let scheme_ok =
            url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host().is_some());
        if !scheme_ok || AsyncSmtpTransport::<Tokio1Executor>::from_url(url).is_err() {
            return Err("smtp_url must be smtp://[user:password@]host[:port] or smtps://… \
                        (add ?tls=required to smtp:// for STARTTLS)"
                .into());
        }
    }
    if let Some(from) = email_from
        && from.parse::<Mailbox>().is_err()
    {
        return Err(format!("email_from: {from:?} is not an address such as \"Acme <no-reply@acme.example>\""));
    }
    Ok(())
}

impl Sender {
    /// The sender for this configuration, sharing `outbox`'s wake-up.
    pub fn from_config(config: &Config, store: Store, clock: Arc<dyn Clock>, outbox: &Outbox) -> anyhow::Result<Self> {
        check_config(config.smtp_url.as_deref(), config.email_from.as_deref()).map_err(anyhow::Error::msg)?;
        let from = config.email_from.clone().unwrap_or_else(|| default_from(&config.issuer));
        let from: Mailbox = from.parse().map_err(|e| anyhow::anyhow!("email_from: {e}"))?;
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|_| anyhow::anyhow!("smtp_url is not a usable SMTP URL"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            None => Transport::Folder(config.data_dir.join("outbox")),
        };
        Ok(Self { store, clock, master_key: outbox.master_key.clone(), from, transport, wake: outbox.wake.clone() })
    }

    /// Says where messages go, at start-up.
    pub fn announce(&self) {
        match &self.transport {
            Transport::Smtp(_) => tracing::info!(from = %self.from, "sending email through SMTP (smtp_url)"),
            Transport::Folder(dir) => tracing::warn!(
                outbox = %dir.display(),
                "no smtp_url: emails are written as .eml files to the outbox folder, not sent"
            ),
        }
    }

    /// Runs the sender: a pass when woken and every `period`.
    pub fn spawn(self: Arc<Self>, period: StdDuration) {
        actix_web::rt::spawn(async move {
            loop {
                if let Err(e) = self.deliver_due().await {
                    tracing::warn!(cause = %e, "the email outbox could not be read");
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(period) => {}
                }
            }
        });
    }

    /// One pass: sends every message due now (up to a batch). Returns how
    /// many were sent.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let now = self.clock.now().naive_utc();
        let due = self.store.run(move |conn| rows::due(conn, now, BATCH)).await?;
        let mut sent = 0;
        for row in due {
            if let Delivery::Sent(_) = self.attempt(row).await? {
                sent += 1;
            }
        }
        let (sent_before, failed_before) = (now - KEEP_SENT, now - KEEP_FAILED);
        self.store.run(move |conn| rows::prune(conn, sent_before, failed_before)).await?;
        Ok(sent)
    }

    /// Sends one message now, whether due or not (a command that queued it
    /// and wants to say where it went).
    pub async fn deliver_now(&self, id: &str) -> Result<Delivery, StoreError> {
        let id = id.to_owned();
        let row = self.store.run(move |conn| rows::find(conn, &id)).await?;
        match row {
            Some(row) if row.sent_at.is_none() && row.failed_at.is_none() => self.attempt(row).await,
            _ => Ok(Delivery::Taken),
        }
    }

    /// One attempt at `row` as it was read: claimed first (another sender
    /// may have it), then sent, then marked sent, due again, or given up.
    async fn attempt(&self, row: OutboxRow) -> Result<Delivery, StoreError> {
        let (seen, lease_until) = (row.clone(), self.clock.now().naive_utc() + LEASE);
        if !self.store.run(move |conn| rows::claim(conn, &seen, lease_until)).await? {
            return Ok(Delivery::Taken);
        }
        let outcome = self.deliver(&row).await;
        let (id, attempts) = (row.id.clone(), row.attempts + 1);
        let now = self.clock.now().naive_utc();
        Ok(match outcome.map_err(|failure| failure.judged(now - row.created_at, attempts)) {
            Ok(file) => {
                self.store.run(move |conn| rows::mark_sent(conn, &id, now)).await?;
                Delivery::Sent(file)
            }
            Err(Failure::Transient(why)) => {
                let retry_at = now + retry_delay(attempts);
                tracing::warn!(message = %id, attempts, retry_at = %retry_at, cause = %why,
                    "an email could not be sent; it stays in the outbox");
                let cause = why.clone();
                self.store.run(move |conn| rows::schedule_retry(conn, &id, retry_at, &cause)).await?;
                Delivery::Retrying { retry_at, why }
            }
            Err(Failure::Permanent(why)) => {
                // The id and the reason only: never the body, whose links work.
                tracing::warn!(message = %id, attempts, cause = %why,
                    "an email was given up: it will not be sent (a dead letter)");
                let cause = why.clone();
                self.store.run(move |conn| rows::mark_dead(conn, &id, now, &cause)).await?;
                Delivery::GivenUp(why)
            }
        })
    }

    /// Sends `row`: `Some(file)` when it was written to the outbox folder.
    async fn deliver(&self, row: &OutboxRow) -> Result<Option<PathBuf>, Failure> {
        let bodies = self
            .master_key
            .open(&seal_aad(&row.id), &row.body_sealed)
            // Transient: the right master key may yet come back.
            .ok_or_else(|| Failure::Transient("the message cannot be opened with this master key".into()))?;
        let bodies: Bodies = serde_json::from_slice(&bodies).map_err(|e| Failure::Permanent(e.to_string()))?;
        let to: Mailbox = row.recipient.parse().map_err(|e| Failure::Permanent(format!("recipient: {e}")))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .multipart(MultiPart::alternative_plain_html(bodies.text, bodies.html))
            .map_err(|e| Failure::Permanent(e.to_string()))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| None).map_err(|e| {
                // RFC 5321 §4.2.1: a 5yz reply is a permanent refusal; a 4yz
                // one, or no reply at all (a dropped connection), may pass later.
                if e.is_permanent() { Failure::Permanent(e.to_string()) } else { Failure::Transient(e.to_string()) }
            }),
            Transport::Folder(dir) => {
                let path = dir.join(format!("{}.eml", row.id));
                let bytes = message.formatted();
                let written = path.clone();
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || write_private(&dir, &written, &bytes))
                    .await
                    .map_err(|e| Failure::Transient(e.to_string()))?
                    .map_err(|e| Failure::Transient(format!("{}: {e}", path.display())))?;
                tracing::info!(path = %path.display(), "email written to the outbox folder (no smtp_url)");
                Ok(Some(path))
            }
        }
    }
}

/// What became of one attempt at a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent through SMTP (`None`), or written to this file (no `smtp_url`).
    Sent(Option<PathBuf>),
    /// Not sent this time; tried again from `retry_at`.
    Retrying { retry_at: NaiveDateTime, why: String },
    /// Given up for good (a dead letter), for this reason.
    GivenUp(String),
    /// Another sender holds it, or it is sent or given up already.
    Taken,
}

/// Why an attempt did not send a message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Worth another try later (the server is down, busy, or said 4yz).
    Transient(String),
    /// Never worth another (the server said 5yz, the message is malformed).
    Permanent(String),
}

impl Failure {
    /// A transient failure of a message queued `age` ago becomes permanent
    /// once it is `GIVE_UP_AFTER` old.
    fn judged(self, age: Duration, attempts: i32) -> Self {
        match self {
            Self::Transient(why) if age >= GIVE_UP_AFTER => Self::Permanent(format!(
                "given up after {attempts} attempts over {} days; the last: {why}",
                GIVE_UP_AFTER.num_days()
            )),
            other => other,
        }
    }
}

/// The wait before attempt `attempts + 1`: doubling from `FIRST_RETRY`,
/// at most `LONGEST_RETRY`.
fn retry_delay(attempts: i32) -> Duration {
    let doublings = (attempts.max(1) - 1).min(12) as u32;
    (FIRST_RETRY * 2i32.pow(doublings)).min(LONGEST_RETRY)
}

/// Writes `bytes` to a new file readable by its owner only, in `dir`
/// (made 0700 when missing).
fn write_private(dir: &std::path::Path, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        builder.mode(0o700);
        options.mode(0o600);
    }
    builder.create(dir)?;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_thirty_seconds_up_to_an_hour() {
        assert_eq!(retry_delay(1), Duration::seconds(30));
        assert_eq!(retry_delay(2), Duration::seconds(60));
        assert_eq!(retry_delay(3), Duration::seconds(120));
        assert_eq!(retry_delay(8), Duration::hours(1));
        assert_eq!(retry_delay(1000), Duration::hours(1));
    }

    #[test]
    fn a_transient_failure_becomes_final_after_three_days() {
        let down = || Failure::Transient("connection refused".into());
        assert_eq!(down().judged(Duration::days(3) - Duration::seconds(1), 60), down());
        let Failure::Permanent(why) = down().judged(Duration::days(3), 61) else { panic!("not given up") };
        assert_eq!(why, "given up after 61 attempts over 3 days; the last: connection refused");
        let refused = Failure::Permanent("550 no such user".into());
        assert_eq!(refused.clone().judged(Duration::zero(), 1), refused);
    }

    #[test]
    fn smtp_urls_are_checked_without_quoting_them() {
        assert!(check_config(Some("smtp://127.0.0.1:2525"), None).is_ok());
        assert!(check_config(Some("smtps://user:pw@mail.example.com"), Some("Acme <no@acme.example>")).is_ok());
        let e = check_config(Some("http://user:s3cret@mail.example.com"), None).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(check_config(None, Some("not an address")).is_err());
        assert_eq!(default_from("https://id.acme.example/"), "portcullis <no-reply@id.acme.example>");
    }
}
