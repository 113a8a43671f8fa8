//! Single-use form tokens: a creation form (a new API key, an app, an
//! invitation) carries one, and only its first POST creates anything.
//!
//! The page that shows a new secret is the answer to the POST that made it
//! (post/redirect/get would have to keep the secret somewhere). Reloading
//! it makes the browser post the form again; with its token already claimed
//! that second POST creates nothing and is told so. A token is
//! `{issued_at}.{random}`: its time bounds how long its claim must be kept,
//! and a token older than that is refused as an expired form (else a
//! re-post after the claim was dropped would create again).

use chrono::{DateTime, Duration, Utc};

use crate::store::{Store, StoreError, form_submissions};
use crate::tokens::opaque;

/// How long a form may stay open before it is sent.
pub const LIFETIME: Duration = Duration::hours(12);

/// How far ahead of the server's clock an issue time may be (another
/// instance's clock).
const SKEW: Duration = Duration::minutes(5);

/// A new token for a form shown at `now`.
pub fn new_token(now: DateTime<Utc>) -> String {
    format!("{}.{}", now.timestamp(), opaque::random_secret())
}

/// What a form's POST may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// The first POST of this form: go on, and `release` the token when
    /// nothing was made.
    First,
    /// The form was sent before: make nothing.
    Again,
    /// The form is too old (or its token is not one of ours): show it again.
    Expired,
}

/// When `token` was issued, if it is well formed and not from the future.
fn issued_at(token: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (secs, random) = token.split_once('.')?;
    if random.len() != 43 || !random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    let at = DateTime::from_timestamp(secs.parse().ok()?, 0)?;
    (at <= now + SKEW).then_some(at)
}

/// Claims `token` for `user_id`: the first claim wins, atomically.
pub async fn claim(store: &Store, user_id: &str, token: &str, now: DateTime<Utc>) -> Result<Claim, StoreError> {
    let Some(issued) = issued_at(token, now) else { return Ok(Claim::Expired) };
    let expires_at = issued + LIFETIME;
    if expires_at <= now {
        return Ok(Claim::Expired);
    }
    let (digest, user_id) = (opaque::digest(token), user_id.to_owned());
    let first = store
        .run(move |c| form_submissions::claim(c, &digest, &user_id, expires_at.naive_utc(), now.naive_utc()))
        .await?;
    Ok(if first { Claim::First } else { Claim::Again })
}

/// Gives back a claimed token whose form made nothing (it was refused), so
/// that the corrected form can be sent with it.
pub async fn release(store: &Store, user_id: &str, token: &str) -> Result<(), StoreError> {
    let (digest, user_id) = (opaque::digest(token), user_id.to_owned());
    store.run(move |c| form_submissions::release(c, &digest, &user_id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_carries_its_issue_time_and_a_256_bit_random_part() {
        let now = Utc::now();
        let token = new_token(now);
        assert_eq!(issued_at(&token, now).map(|t| t.timestamp()), Some(now.timestamp()));
        assert_ne!(token, new_token(now));
    }

    #[test]
    fn malformed_or_future_tokens_have_no_issue_time() {
        let now = Utc::now();
        let random = opaque::random_secret();
        let future = format!("{}.{random}", (now + Duration::hours(1)).timestamp());
        for bad in ["", "x", "12.short", &format!("x.{random}"), &format!("1.{}", "!".repeat(43)), &future] {
            assert_eq!(issued_at(bad, now), None, "{bad:?}");
        }
    }
}
