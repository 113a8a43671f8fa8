//! Throttling of sign-in (per account and per client IP) and sign-up (per
//! client IP): attempts counted over a sliding window; at the limit, further
//! attempts wait until the oldest leaves the window.
//!
//! The attempt is reserved before the password is checked or hashed, so N
//! parallel attempts against a limit of 5 get at most 5 password checks.

use chrono::{Duration, NaiveDateTime};

use crate::store::throttle::{self as rows, Reservation};
use crate::store::{DbConnection, StoreError};

pub fn account_key(email_normalized: &str) -> String {
    format!("account:{email_normalized}")
}

pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Sign-ups are counted apart from sign-ins: a busy office signing people
/// up does not lock its members out of signing in.
pub fn signup_ip_key(ip: &str) -> String {
    format!("signup-ip:{ip}")
}

/// An attempt counted under its keys, or how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; the ids of its rows, to release when it succeeds.
    Reserved(Vec<String>),
    /// A key is at its limit: seconds until the oldest attempt leaves the window.
    Throttled { retry_after_secs: i64 },
}

/// Counts an attempt under every key unless one is at its limit.
pub fn reserve(
    conn: &mut DbConnection,
    keys: &[(String, u32)],
    window_secs: i64,
    now: NaiveDateTime,
) -> Result<Attempt, StoreError> {
    let window = Duration::seconds(window_secs);
    Ok(match rows::reserve_attempt(conn, keys, now - window, now)? {
        Reservation::Granted(ids) => Attempt::Reserved(ids),
        Reservation::Full { oldest } => {
            Attempt::Throttled { retry_after_secs: (oldest + window - now).num_seconds().max(1) }
        }
    })
}
