//! Server-side sessions, looked up by the SHA-256 digest of the cookie value.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{SessionRow, UserRow};
use super::schema::{sessions, users};
use super::{DbConnection, StoreError};

pub fn insert_session(conn: &mut DbConnection, row: &SessionRow) -> Result<(), StoreError> {
    diesel::insert_into(sessions::table).values(row).execute(conn)?;
    Ok(())
}

/// The live session with this digest and its user; expired ones are not found.
pub fn find_live_session(
    conn: &mut DbConnection,
    token_digest: &str,
    now: NaiveDateTime,
) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::token_digest.eq(token_digest))
        .filter(sessions::expires_at.gt(now))
        // A disabled user's sessions end when they are disabled; this keeps
        // one that slipped in meanwhile from counting.
        .filter(users::disabled_at.is_null())
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()?)
}

/// True while the session `session_id` exists and has not expired.
pub fn is_live(conn: &mut DbConnection, session_id: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let found: Option<String> = sessions::table
        .find(session_id)
        .filter(sessions::expires_at.gt(now))
        .select(sessions::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

/// True when some session has expired at `now` and is still to be ended:
/// one indexed read, so that the poll that ends them writes only then.
pub fn any_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(sessions::table.filter(sessions::expires_at.le(now)))).get_result(conn)?)
}
