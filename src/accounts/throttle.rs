//! Sign-in throttling: failures counted per account and per client IP over
//! a sliding window; at the limit, further attempts wait until the oldest
//! failure leaves the window.

use chrono::{Duration, NaiveDateTime};

use crate::store::models::LoginFailureRow;
use crate::store::{DbConnection, StoreError, throttle as rows};

pub fn account_key(email_normalized: &str) -> String {
    format!("account:{email_normalized}")
}

pub fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Seconds to wait when any key is at its limit, else `None`.
pub fn retry_after(
    conn: &mut DbConnection,
    keys: &[(String, u32)],
    window_secs: i64,
    now: NaiveDateTime,
) -> Result<Option<i64>, StoreError> {
    let since = now - Duration::seconds(window_secs);
    let mut wait: Option<i64> = None;
    for (key, limit) in keys {
        let (count, oldest) = rows::failures_since(conn, key, since)?;
        if count >= i64::from(*limit) {
            let until = oldest.unwrap_or(now) + Duration::seconds(window_secs);
            let secs = (until - now).num_seconds().max(1);
            wait = Some(wait.map_or(secs, |w| w.max(secs)));
        }
    }
    Ok(wait)
}

pub fn record(
    conn: &mut DbConnection,
    keys: &[String],
    window_secs: i64,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    rows::prune_failures(conn, now - Duration::seconds(window_secs))?;
    for key in keys {
        rows::record_failure(
            conn,
            &LoginFailureRow { id: uuid::Uuid::new_v4().to_string(), throttle_key: key.clone(), failed_at: now },
        )?;
    }
    Ok(())
}
