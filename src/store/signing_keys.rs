//! Signing keys, per algorithm: at most one `current` (signs), at most one
//! `next` (published, not yet signing), any number of `retired` (published
//! until their tokens have expired). Each algorithm rotates on its own.
//!
//! The table has no constraint that keeps a second `current` out, so every
//! state change runs in `serializable_transaction`: SERIALIZABLE on
//! PostgreSQL, so two instances racing to create or promote a key cannot
//! both commit (the loser is run again and sees the winner's key); on
//! SQLite a write transaction from the start, so one decides at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::SigningKeyRow;
use super::schema::signing_keys;
use super::{DbConnection, StoreError};

pub const STATE_NEXT: &str = "next";
pub const STATE_CURRENT: &str = "current";
pub const STATE_RETIRED: &str = "retired";

/// What an insert guarded by "no other key in this state" did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardedInsert {
    Inserted,
    /// Another key already holds the state: its kid.
    Exists(String),
}

/// Every key, newest first.
pub fn list_keys(conn: &mut DbConnection) -> Result<Vec<SigningKeyRow>, StoreError> {
    Ok(signing_keys::table
        .select(SigningKeyRow::as_select())
        .order((signing_keys::created_at.desc(), signing_keys::kid.asc()))
        .load(conn)?)
}

/// The kid of the `algorithm` key in `state` (`next` or `current`), if any.
pub fn find_kid_in_state(conn: &mut DbConnection, algorithm: &str, state: &str) -> Result<Option<String>, StoreError> {
    Ok(signing_keys::table
        .filter(signing_keys::algorithm.eq(algorithm))
        .filter(signing_keys::state.eq(state))
        .select(signing_keys::kid)
        .order(signing_keys::created_at.desc())
        .first(conn)
        .optional()?)
}

/// Inserts `row` unless a key of its algorithm is already in `row.state`.
/// Used for the first `current` key and for a `next` one, where a second
/// would be a bug.
pub fn insert_if_state_free(conn: &mut DbConnection, row: &SigningKeyRow) -> Result<GuardedInsert, StoreError> {
    super::serializable_transaction(conn, |c| {
        let holder: Option<String> = signing_keys::table
            .filter(signing_keys::algorithm.eq(&row.algorithm))
            .filter(signing_keys::state.eq(&row.state))
            .select(signing_keys::kid)
            .first(c)
            .optional()?;
        if let Some(kid) = holder {
            return Ok(GuardedInsert::Exists(kid));
        }
        diesel::insert_into(signing_keys::table).values(row).execute(c)?;
        Ok(GuardedInsert::Inserted)
    })
}

/// Promotes the key `kid`, if it is still `next`, to `current` and retires
/// the old current one of its algorithm, in one transaction. False when
/// `kid` is not `next` (never prepared, or already activated by someone else).
pub fn activate_next(conn: &mut DbConnection, kid: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    super::serializable_transaction(conn, |c| {
        let next = signing_keys::table.filter(signing_keys::kid.eq(kid)).filter(signing_keys::state.eq(STATE_NEXT));
        let Some(algorithm) = next.select(signing_keys::algorithm).first::<String>(c).optional()? else {
            return Ok(false);
        };
        diesel::update(next)
            .set((signing_keys::state.eq(STATE_CURRENT), signing_keys::activated_at.eq(now)))
            .execute(c)?;
        diesel::update(
            signing_keys::table
                .filter(signing_keys::algorithm.eq(&algorithm))
                .filter(signing_keys::state.eq(STATE_CURRENT))
                .filter(signing_keys::kid.ne(kid)),
        )
        .set((signing_keys::state.eq(STATE_RETIRED), signing_keys::retired_at.eq(now)))
        .execute(c)?;
        Ok(true)
    })
}

/// Deletes the `retired` keys retired at or before `cutoff`; how many. Keys
/// in another state, or retired without a date, are kept.
pub fn delete_retired_by(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        signing_keys::table.filter(signing_keys::state.eq(STATE_RETIRED)).filter(signing_keys::retired_at.le(cutoff)),
    )
    .execute(conn)?)
}
