//! The email outbox: messages written in the transaction that caused them,
//! sent later by `email::Sender`. A message is claimed by a conditional
//! UPDATE (a lease), so two instances never send it at once, and it stays
//! until a send succeeds or it is given up (`mark_dead`: a dead letter).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::email_outbox;
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = email_outbox)]
pub struct OutboxRow {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    /// The text and HTML bodies, sealed under the master key.
    pub body_sealed: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    /// Given up: refused for good, or unsent for too long (`last_error`
    /// says why). Never tried again.
    pub failed_at: Option<NaiveDateTime>,
}

/// Messages neither sent nor given up.
fn waiting()
-> diesel::dsl::And<diesel::dsl::IsNull<email_outbox::sent_at>, diesel::dsl::IsNull<email_outbox::failed_at>> {
    email_outbox::sent_at.is_null().and(email_outbox::failed_at.is_null())
}

pub fn insert(conn: &mut DbConnection, row: &OutboxRow) -> Result<(), StoreError> {
    diesel::insert_into(email_outbox::table).values(row).execute(conn)?;
    Ok(())
}

/// Waiting messages due at `now`, oldest first.
pub fn due(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(email_outbox::table
        .filter(waiting())
        .filter(email_outbox::next_attempt_at.le(now))
        .order((email_outbox::next_attempt_at.asc(), email_outbox::id.asc()))
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?)
}

/// Takes the message for one attempt: wins only while it is waiting and
/// still due as `seen` was, and holds it until `lease_until` (a sender that
/// dies mid-send leaves it to be tried again then).
pub fn claim(conn: &mut DbConnection, seen: &OutboxRow, lease_until: NaiveDateTime) -> Result<bool, StoreError> {
    let won = diesel::update(
        email_outbox::table
            .find(&seen.id)
            .filter(waiting())
            .filter(email_outbox::next_attempt_at.eq(seen.next_attempt_at)),
    )
    .set((email_outbox::next_attempt_at.eq(lease_until), email_outbox::attempts.eq(seen.attempts + 1)))
    .execute(conn)?;
    Ok(won == 1)
}

/// Sent: the body, which holds single-use links, is emptied.
pub fn mark_sent(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(email_outbox::table.find(id))
        .set((
            email_outbox::sent_at.eq(now),
            email_outbox::body_sealed.eq(""),
            email_outbox::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Not sent this time: tried again at `retry_at`.
pub fn schedule_retry(
    conn: &mut DbConnection,
    id: &str,
    retry_at: NaiveDateTime,
    error: &str,
) -> Result<(), StoreError> {
    diesel::update(email_outbox::table.find(id).filter(waiting()))
        .set((email_outbox::next_attempt_at.eq(retry_at), email_outbox::last_error.eq(error)))
        .execute(conn)?;
    Ok(())
}

/// Given up for `error`: never tried again, and the body, which holds
/// single-use links, is emptied.
pub fn mark_dead(conn: &mut DbConnection, id: &str, now: NaiveDateTime, error: &str) -> Result<(), StoreError> {
    diesel::update(email_outbox::table.find(id).filter(waiting()))
        .set((email_outbox::failed_at.eq(now), email_outbox::body_sealed.eq(""), email_outbox::last_error.eq(error)))
        .execute(conn)?;
    Ok(())
}

/// Sent messages older than `sent_before` and dead letters older than
/// `failed_before` go (their bodies are empty already).
pub fn prune(
    conn: &mut DbConnection,
    sent_before: NaiveDateTime,
    failed_before: NaiveDateTime,
) -> Result<usize, StoreError> {
    let old = email_outbox::sent_at.lt(sent_before).or(email_outbox::failed_at.lt(failed_before));
    Ok(diesel::delete(email_outbox::table.filter(old)).execute(conn)?)
}

/// One message by id, for tests and the operator.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<OutboxRow>, StoreError> {
    Ok(email_outbox::table.find(id).select(OutboxRow::as_select()).first(conn).optional()?)
}

/// Messages waiting to be sent (not sent, not given up).
pub fn pending_count(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(email_outbox::table.filter(waiting()).count().get_result(conn)?)
}

/// How many messages wait and how many were given up (still kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub waiting: i64,
    pub failed: i64,
}

pub fn counts(conn: &mut DbConnection) -> Result<OutboxCounts, StoreError> {
    let failed = email_outbox::table.filter(email_outbox::failed_at.is_not_null()).count().get_result(conn)?;
    Ok(OutboxCounts { waiting: pending_count(conn)?, failed })
}

/// The dead letters kept, newest first.
pub fn failed(conn: &mut DbConnection, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(email_outbox::table
        .filter(email_outbox::failed_at.is_not_null())
        .order((email_outbox::failed_at.desc(), email_outbox::id.desc()))
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(conn)?)
}
