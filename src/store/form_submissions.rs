//! Single-use tokens of the dashboard's creation forms, kept by their
//! SHA-256 digest until the form would have expired: the first POST of a
//! form claims its token, a second one finds it taken.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::form_submissions;
use super::{DbConnection, StoreError};

/// Claims `token_digest` for `user_id` until `expires_at`; true when this
/// call claimed it (the primary key decides between two at once). Tokens
/// expired at `now` are dropped first.
pub fn claim(
    conn: &mut DbConnection,
    token_digest: &str,
    user_id: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    diesel::delete(form_submissions::table.filter(form_submissions::expires_at.le(now))).execute(conn)?;
    let row = (
        form_submissions::token_digest.eq(token_digest),
        form_submissions::user_id.eq(user_id),
        form_submissions::expires_at.eq(expires_at),
    );
    let inserted = match conn {
        DbConnection::Postgresql(pg) => {
            diesel::insert_into(form_submissions::table).values(row).on_conflict_do_nothing().execute(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            diesel::insert_or_ignore_into(form_submissions::table).values(row).execute(sqlite)?
        }
    };
    Ok(inserted == 1)
}

/// Gives a claimed token back (what its form was to make was not made).
pub fn release(conn: &mut DbConnection, token_digest: &str, user_id: &str) -> Result<(), StoreError> {
    diesel::delete(
        form_submissions::table
            .filter(form_submissions::token_digest.eq(token_digest))
            .filter(form_submissions::user_id.eq(user_id)),
    )
    .execute(conn)?;
    Ok(())
}
