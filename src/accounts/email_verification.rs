//! Verifying a person's email address: a link sent at sign-up (and again on
//! "resend"), single use, for 24 hours. The token is 256 random bits shown
//! once in the link; only its SHA-256 digest is stored.

use chrono::{Duration, NaiveDateTime};

use super::single_use_link::{self, digest_of};
use super::{Accounts, AccountsError, User};
use crate::store::email_verifications::{self as rows, EmailVerificationRow};

/// How long a verification link works.
pub const LINK_LIFETIME: Duration = Duration::hours(24);

/// "Resend" sends at most one link this often.
pub const RESEND_AFTER: Duration = Duration::minutes(1);

/// A new link's token (shown once, in the message) and its row.
pub(super) fn new_link(user_id: &str, now: NaiveDateTime) -> (String, EmailVerificationRow) {
    single_use_link::new_link(user_id, now, LINK_LIFETIME)
}

/// The page a link opens.
pub(super) fn path(token: &str) -> String {
    format!("/verify-email?token={token}")
}

/// What "resend" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resent {
    Sent,
    AlreadyVerified,
    /// A link was sent less than `RESEND_AFTER` ago.
    TooSoon,
}

impl Accounts {
    /// True while the link can be used (the page shows its button).
    pub async fn email_verification_usable(&self, token: &str) -> Result<bool, AccountsError> {
        let Some(digest) = digest_of(token) else { return Ok(false) };
        let now = self.now();
        Ok(self.store.run(move |conn| rows::find_usable(conn, &digest, now)).await?.is_some())
    }

    /// Uses the link: the user's address is verified. `None`: the link is
    /// unknown, used or expired, and nothing changed.
    pub async fn verify_email(&self, token: &str) -> Result<Option<String>, AccountsError> {
        let Some(digest) = digest_of(token) else { return Ok(None) };
        let now = self.now();
        Ok(self.store.run(move |conn| rows::consume(conn, &digest, now)).await?)
    }

    /// Sends `user` a new verification link, unless their address is
    /// verified already or a link went out a moment ago. Earlier links keep
    /// working until they expire.
    pub async fn resend_verification(&self, user: &User) -> Result<Resent, AccountsError> {
        let now = self.now();
        let id = user.id.clone();
        let (fresh, latest) = self
            .store
            .run(move |conn| Ok((crate::store::users::find_user(conn, &id)?, rows::latest_for_user(conn, &id)?)))
            .await?;
        let Some(fresh) = fresh else { return Ok(Resent::AlreadyVerified) };
        if fresh.email_verified_at.is_some() {
            return Ok(Resent::AlreadyVerified);
        }
        if latest.is_some_and(|at| now - at < RESEND_AFTER) {
            return Ok(Resent::TooSoon);
        }
        let (token, row) = new_link(&fresh.id, now);
        let link = self.link(&path(&token));
        let mail = self.prepare_letter(&fresh.email, &crate::email::Letter::Verify { link: &link }, now)?;
        self.store
            .run(move |conn| {
                crate::store::write_transaction(conn, |c| {
                    rows::insert(c, &row)?;
                    if let Some(mail) = &mail {
                        crate::email::Outbox::queue(c, mail)?;
                    }
                    Ok(())
                })
            })
            .await?;
        self.mail_queued();
        Ok(Resent::Sent)
    }
}
