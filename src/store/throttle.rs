//! Sign-in and sign-up attempts, one row per attempt and throttle key,
//! counted over a sliding window. Kept in the database so every instance
//! sees the same count.
//!
//! An attempt is reserved (its row written) before the password is checked,
//! in one locked transaction with the count, so parallel attempts cannot all
//! see room under the limit. A successful sign-in deletes its rows again; any
//! other outcome leaves them counted as failures.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::models::LoginFailureRow;
use super::schema::login_failures;
use super::write_transaction;
use super::{DbConnection, StoreError};

/// What `reserve_attempt` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt is counted under every key: the ids of its rows.
    Granted(Vec<String>),
    /// A key is at its limit; nothing was written. `oldest` is the latest of
    /// the full keys' oldest attempts: the limit lifts when it leaves the window.
    Full { oldest: NaiveDateTime },
}

/// Counts each key's attempts since `since` and, when none is at its limit,
/// writes one row per key at `now`, atomically on both backends.
pub fn reserve_attempt(
    conn: &mut DbConnection,
    keys: &[(String, u32)],
    since: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Reservation, StoreError> {
    // Housekeeping outside the locked transaction: rows too old to count
    // for anyone. Best effort; a failure here changes no decision.
    if let Err(e) = diesel::delete(login_failures::table.filter(login_failures::failed_at.le(since))).execute(conn) {
        tracing::debug!(cause = %e, "could not prune old sign-in attempts");
    }
    write_transaction(conn, |c| {
        if let DbConnection::Postgresql(_) = c {
            // One lock per key, taken in a fixed order so two attempts on the
            // same pair of keys cannot deadlock; released at commit.
            let mut locks: Vec<i64> = keys.iter().map(|(k, _)| super::advisory_lock_id(k)).collect();
            locks.sort_unstable();
            locks.dedup();
            for id in locks {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1)").bind::<BigInt, _>(id).execute(c)?;
            }
        }
        let mut full: Option<NaiveDateTime> = None;
        for (key, limit) in keys {
            let (count, oldest) = attempts_since(c, key, since)?;
            if count >= i64::from(*limit) {
                let oldest = oldest.unwrap_or(now);
                full = Some(full.map_or(oldest, |f| f.max(oldest)));
            }
        }
        if let Some(oldest) = full {
            return Ok(Reservation::Full { oldest });
        }
        let rows: Vec<LoginFailureRow> = keys
            .iter()
            .map(|(key, _)| LoginFailureRow {
                id: uuid::Uuid::new_v4().to_string(),
                throttle_key: key.clone(),
                failed_at: now,
            })
            .collect();
        for row in &rows {
            diesel::insert_into(login_failures::table).values(row).execute(c)?;
        }
        Ok(Reservation::Granted(rows.into_iter().map(|r| r.id).collect()))
    })
}

/// How many attempts `key` has since `since`, and the oldest of them.
fn attempts_since(
    conn: &mut DbConnection,
    key: &str,
    since: NaiveDateTime,
) -> Result<(i64, Option<NaiveDateTime>), StoreError> {
    let recent =
        login_failures::table.filter(login_failures::throttle_key.eq(key)).filter(login_failures::failed_at.gt(since));
    let count: i64 = recent.count().get_result(conn)?;
    let oldest =
        recent.select(login_failures::failed_at).order(login_failures::failed_at.asc()).first(conn).optional()?;
    Ok((count, oldest))
}

/// An attempt that does not count: its own reserved rows go. After a
/// successful sign-in so do the account's earlier failures (`clear_key`).
pub fn release_attempt(conn: &mut DbConnection, ids: &[String], clear_key: Option<&str>) -> Result<(), StoreError> {
    super::write_transaction(conn, |c| {
        diesel::delete(login_failures::table.filter(login_failures::id.eq_any(ids))).execute(c)?;
        if let Some(key) = clear_key {
            diesel::delete(login_failures::table.filter(login_failures::throttle_key.eq(key))).execute(c)?;
        }
        Ok(())
    })
}
