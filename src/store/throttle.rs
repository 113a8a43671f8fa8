//! Failed sign-in attempts, one row each, counted over a sliding window.
//! Kept in the database so every instance sees the same count.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::LoginFailureRow;
use super::schema::login_failures;
use super::{DbConnection, StoreError};

pub fn record_failure(conn: &mut DbConnection, row: &LoginFailureRow) -> Result<(), StoreError> {
    diesel::insert_into(login_failures::table).values(row).execute(conn)?;
    Ok(())
}

/// How many failures `key` has since `since`, and the oldest of them.
pub fn failures_since(
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

pub fn clear_failures(conn: &mut DbConnection, key: &str) -> Result<(), StoreError> {
    diesel::delete(login_failures::table.filter(login_failures::throttle_key.eq(key))).execute(conn)?;
    Ok(())
}

/// Drops rows too old to count for anyone.
pub fn prune_failures(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(login_failures::table.filter(login_failures::failed_at.le(before))).execute(conn)?)
}
