//! Password-reset links, made by an operator (`portcullis user
//! reset-password`) or sent by email ("Forgot your password?"), and used
//! once on the `/reset-password` page. The token
//! is 256 random bits shown once in the link; only its SHA-256 digest is
//! stored. A link works once (a conditional UPDATE) and for 30 minutes; a
//! reset ends every session and token of the user, as a password change does.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use super::single_use_link::{self, digest_of};
use super::{Accounts, AccountsError, User, passwords, throttle, validate};
use crate::store::password_resets::{self as rows, PasswordResetRow};
use crate::store::{self, StoreError};

/// How long a reset link works.
pub const LINK_LIFETIME: Duration = Duration::minutes(30);

/// A new link's token (returned once) and its row.
fn new_link(user_id: &str, now: NaiveDateTime) -> (String, PasswordResetRow) {
    single_use_link::new_link(user_id, now, LINK_LIFETIME)
}

/// A link for a user who is gone is refused as such.
fn no_such_user(e: StoreError) -> AccountsError {
    match e {
        StoreError::ForeignKey(_) => AccountsError::Validation("No such user.".into()),
        other => other.into(),
    }
}

/// The page a link opens.
pub fn path(token: &str) -> String {
    format!("/reset-password?token={token}")
}

impl Accounts {
    /// "Forgot your password?": emails a reset link to `email` when it
    /// belongs to an active account. Throttled per address and per client
    /// IP, whatever the outcome, so nobody can flood an inbox; that is all
    /// the request waits for. The rest (the link, its message, and the
    /// transaction that stores both only for an account) is done after the
    /// answer, so its time says nothing of whether the account exists
    /// (attacker round 12, finding 5).
    pub async fn request_password_reset(&self, email: &str, client_ip: &str) -> Result<(), AccountsError> {
        let email = validate::email(email).map_err(AccountsError::Validation)?;
        let normalized = validate::normalize_email(&email);
        let now = self.now();
        let policy = self.throttle.clone();
        let keys = [
            (format!("reset-{}", throttle::account_key(&normalized)), policy.per_account),
            (format!("reset-{}", throttle::ip_key(client_ip)), policy.per_ip),
        ];
        let attempt = self.store.run(move |conn| throttle::reserve(conn, &keys, policy.window_secs, now)).await?;
        attempt.reserved()?;
        let this = self.clone();
        tokio::spawn(async move {
            // A busy database is waited out, as the request would have.
            for attempt in 1..=5u64 {
                match this.send_password_reset(email.clone(), normalized.clone(), now).await {
                    Err(AccountsError::Store(e)) if e.is_transient() && attempt < 5 => {
                        tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                    }
                    Err(e) => return tracing::warn!(cause = %e, "could not queue a password-reset link"),
                    Ok(()) => return,
                }
            }
        });
        Ok(())
    }

    /// The work of `request_password_reset`, alike for any address: a link
    /// is made and its message rendered and sealed, then one transaction
    /// looks the account up and (only for an account) stores both.
    async fn send_password_reset(
        &self,
        email: String,
        normalized: String,
        now: NaiveDateTime,
    ) -> Result<(), AccountsError> {
        let (token, row) = new_link("", now);
        let minutes = LINK_LIFETIME.num_minutes();
        let link = self.link(&path(&token));
        let mail = self.prepare_letter(&email, &crate::email::Letter::Reset { link: &link, minutes }, now)?;
        let queued = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    let user = store::users::find_user_by_email(c, &normalized)?;
                    let Some(user) = user.filter(|u| u.disabled_at.is_none()) else { return Ok(false) };
                    rows::insert(c, &PasswordResetRow { user_id: user.id, ..row.clone() })?;
                    if let Some(mail) = &mail {
                        // To the address as the account holds it.
                        crate::email::Outbox::queue(
                            c,
                            &crate::store::email_outbox::OutboxRow { recipient: user.email, ..mail.clone() },
                        )?;
                    }
                    Ok(true)
                })
            })
            .await?;
        if queued {
            self.mail_queued();
        }
        Ok(())
    }

    /// Emails `user` a new reset link (an operator's `portcullis user
    /// reset-password`): the link and its message commit together, as
    /// "Forgot your password?" queues them. The message's id, for the
    /// caller to send it now, and when the link expires.
    pub async fn email_password_reset(&self, user: &User) -> Result<(String, DateTime<Utc>), AccountsError> {
        let now = self.now();
        let (token, row) = new_link(&user.id, now);
        let expires_at = row.expires_at.and_utc();
        let link = self.link(&path(&token));
        let letter = crate::email::Letter::Reset { link: &link, minutes: LINK_LIFETIME.num_minutes() };
        let mail = self
            .prepare_letter(&user.email, &letter, now)?
            .ok_or_else(|| AccountsError::Validation("Email is not set up here: no outbox to queue it in.".into()))?;
        let message_id = mail.id.clone();
        self.store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    rows::insert(c, &row)?;
                    crate::email::Outbox::queue(c, &mail)
                })
            })
            .await
            .map_err(no_such_user)?;
        self.mail_queued();
        Ok((message_id, expires_at))
    }

    /// A new reset link's token for the user, and when it expires. The
    /// token is returned this once.
    pub async fn create_password_reset(&self, user_id: &str) -> Result<(String, DateTime<Utc>), AccountsError> {
        let (token, row) = new_link(user_id, self.now());
        let expires_at = row.expires_at.and_utc();
        self.store.run(move |conn| rows::insert(conn, &row)).await.map_err(no_such_user)?;
        Ok((token, expires_at))
    }

    /// True while the link can be used (the page shows its form).
    pub async fn password_reset_usable(&self, token: &str) -> Result<bool, AccountsError> {
        let Some(digest) = digest_of(token) else { return Ok(false) };
        let now = self.now();
        Ok(self.store.run(move |conn| rows::find_usable(conn, &digest, now)).await?.is_some())
    }

    /// Sets a new password through a reset link and signs the user out
    /// everywhere. `Ok(None)`: the link is unknown, used or expired, and
    /// nothing changed. A password the sign-up rules refuse is a
    /// `Validation` error and leaves the link usable.
    pub async fn reset_password(&self, token: &str, new: &str) -> Result<Option<String>, AccountsError> {
        passwords::check_new_password(new).map_err(AccountsError::Validation)?;
        // Checked before the hash, so a dead link costs no argon2.
        if !self.password_reset_usable(token).await? {
            return Ok(None);
        }
        let Some(digest) = digest_of(token) else { return Ok(None) };
        let hash = self.passwords.hash(new).await?;
        let now = self.now();
        let sign_out = self.sign_out_everywhere();
        let outcome = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    // Only the call whose UPDATE wins goes on.
                    let Some(user_id) = rows::consume(c, &digest, now)? else { return Ok(None) };
                    store::users::update_password(c, &user_id, &hash, now)?;
                    let ended = sign_out(c, &user_id, None)?;
                    Ok(Some((user_id, ended)))
                })
            })
            .await?;
        let Some((user_id, ended)) = outcome else { return Ok(None) };
        self.sessions_ended(ended);
        self.caught_up().await;
        Ok(Some(user_id))
    }
}
