//! Email: messages are rendered from `templates/email/`, written to the
//! `email_outbox` table in the transaction that caused them (`Outbox`), and
//! sent in the background (`Sender`) through SMTP (`smtp_url`) or, with none
//! configured, as `.eml` files in `data_dir/outbox/`. No request waits for
//! SMTP; a message stays in the table, tried again with backoff, until a
//! send succeeds, so none is lost while the SMTP server is down.
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
/// Sent messages are kept (bodies emptied) this long, then deleted.
const KEEP_SENT: Duration = Duration::days(7);
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
            let (seen, lease_until) = (row.clone(), now + LEASE);
            if !self.store.run(move |conn| rows::claim(conn, &seen, lease_until)).await? {
                continue; // another instance has it
            }
            let outcome = self.deliver(&row).await;
            let id = row.id.clone();
            let now = self.clock.now().naive_utc();
            match outcome {
                Ok(()) => {
                    self.store.run(move |conn| rows::mark_sent(conn, &id, now)).await?;
                    sent += 1;
                }
                Err(why) => {
                    let retry_at = now + retry_delay(row.attempts + 1);
                    tracing::warn!(message = %row.id, attempts = row.attempts + 1, retry_at = %retry_at, cause = %why,
                        "an email could not be sent; it stays in the outbox");
                    self.store.run(move |conn| rows::mark_failed(conn, &id, retry_at, &why)).await?;
                }
            }
        }
        let before = now - KEEP_SENT;
        self.store.run(move |conn| rows::prune_sent(conn, before)).await?;
        Ok(sent)
    }

    async fn deliver(&self, row: &OutboxRow) -> Result<(), String> {
        let bodies = self
            .master_key
            .open(&seal_aad(&row.id), &row.body_sealed)
            .ok_or("the message cannot be opened with this master key")?;
        let bodies: Bodies = serde_json::from_slice(&bodies).map_err(|e| e.to_string())?;
        let to: Mailbox = row.recipient.parse().map_err(|e| format!("recipient: {e}"))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .multipart(MultiPart::alternative_plain_html(bodies.text, bodies.html))
            .map_err(|e| e.to_string())?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
            Transport::Folder(dir) => {
                let path = dir.join(format!("{}.eml", row.id));
                let bytes = message.formatted();
                let written = path.clone();
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || write_private(&dir, &written, &bytes))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "email written to the outbox folder (no smtp_url)");
                Ok(())
            }
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
    fn smtp_urls_are_checked_without_quoting_them() {
        assert!(check_config(Some("smtp://127.0.0.1:2525"), None).is_ok());
        assert!(check_config(Some("smtps://user:pw@mail.example.com"), Some("Acme <no@acme.example>")).is_ok());
        let e = check_config(Some("http://user:s3cret@mail.example.com"), None).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(check_config(None, Some("not an address")).is_err());
        assert_eq!(default_from("https://id.acme.example/"), "portcullis <no-reply@id.acme.example>");
    }
}
