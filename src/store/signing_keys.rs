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
use super::schema::{oauth_clients, signing_keys};
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

/// A key without its key material: what `keys list` shows and what the
/// housekeeping decides on.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct KeyStatus {
    pub kid: String,
    pub algorithm: String,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub activated_at: Option<NaiveDateTime>,
    pub retired_at: Option<NaiveDateTime>,
}

/// What `retire_retired` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retired {
    /// The retired key is gone: no longer published, verifies nothing.
    Removed,
    /// The key is in another state (`current` or `next`): kept.
    InState {
        state: String,
        algorithm: String,
    },
    NotFound,
}

/// Every key's status, newest first; a few rows, read on every change poll.
pub fn list_statuses(conn: &mut DbConnection) -> Result<Vec<KeyStatus>, StoreError> {
    Ok(signing_keys::table
        .select(KeyStatus::as_select())
        .order((signing_keys::created_at.desc(), signing_keys::kid.asc()))
        .load(conn)?)
}

/// The longest access-token lifetime a client overrides the configured one
/// with, in seconds, if any client does; as stored, so a row from before
/// registration bounded it may exceed the bound (`RotationPolicy` clamps).
pub fn longest_client_access_ttl(conn: &mut DbConnection) -> Result<Option<i64>, StoreError> {
    let longest: Option<i32> =
        oauth_clients::table.select(diesel::dsl::max(oauth_clients::access_token_ttl_secs)).first(conn)?;
    Ok(longest.map(i64::from))
}

/// Deletes the key `kid` if it is `retired` (a compromised key: it must stop
/// verifying now, not at the end of its window). One conditional DELETE;
/// the state is read only to explain a refusal.
pub fn retire_retired(conn: &mut DbConnection, kid: &str) -> Result<Retired, StoreError> {
    let deleted = diesel::delete(
        signing_keys::table.filter(signing_keys::kid.eq(kid)).filter(signing_keys::state.eq(STATE_RETIRED)),
    )
    .execute(conn)?;
    if deleted > 0 {
        return Ok(Retired::Removed);
    }
    let found: Option<(String, String)> = signing_keys::table
        .filter(signing_keys::kid.eq(kid))
        .select((signing_keys::state, signing_keys::algorithm))
        .first(conn)
        .optional()?;
    Ok(found.map_or(Retired::NotFound, |(state, algorithm)| Retired::InState { state, algorithm }))
}

/// Inserts `row` (a `next` key) if its algorithm has no `next` key and its
/// current key was activated at or before `due`: the scheduled rotation,
/// decided in one transaction so that instances running the schedule
/// together prepare one key, and none when a rotation just happened.
pub fn insert_next_if_due(
    conn: &mut DbConnection,
    row: &SigningKeyRow,
    due: NaiveDateTime,
) -> Result<bool, StoreError> {
    super::serializable_transaction(conn, |c| {
        let of_algorithm = signing_keys::table.filter(signing_keys::algorithm.eq(&row.algorithm));
        let next = of_algorithm.filter(signing_keys::state.eq(STATE_NEXT)).select(signing_keys::kid).first::<String>(c);
        if next.optional()?.is_some() {
            return Ok(false);
        }
        let current: Option<(NaiveDateTime, Option<NaiveDateTime>)> = of_algorithm
            .filter(signing_keys::state.eq(STATE_CURRENT))
            .select((signing_keys::created_at, signing_keys::activated_at))
            .first(c)
            .optional()?;
        match current {
            Some((created, activated)) if activated.unwrap_or(created) <= due => {}
            _ => return Ok(false),
        }
        diesel::insert_into(signing_keys::table).values(row).execute(c)?;
        Ok(true)
    })
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
