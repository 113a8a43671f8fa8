//! Password-reset links: stored by the SHA-256 digest of their token, used
//! once by a conditional UPDATE.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::password_resets;
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_resets)]
pub struct PasswordResetRow {
    pub token_digest: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &PasswordResetRow) -> Result<(), StoreError> {
    diesel::insert_into(password_resets::table).values(row).execute(conn)?;
    Ok(())
}

/// The link with this digest if it is still usable at `now` (not used, not
/// expired): what the page shows its form for.
pub fn find_usable(
    conn: &mut DbConnection,
    token_digest: &str,
    now: NaiveDateTime,
) -> Result<Option<PasswordResetRow>, StoreError> {
    Ok(password_resets::table
        .find(token_digest)
        .filter(password_resets::used_at.is_null())
        .filter(password_resets::expires_at.gt(now))
        .select(PasswordResetRow::as_select())
        .first(conn)
        .optional()?)
}

/// Uses the link: one UPDATE that wins only while it is unused and
/// unexpired, so two submissions at once cannot both use it. The user's id
/// when this call won.
pub fn consume(conn: &mut DbConnection, token_digest: &str, now: NaiveDateTime) -> Result<Option<String>, StoreError> {
    let Some(row) = find_usable(conn, token_digest, now)? else { return Ok(None) };
    let won = diesel::update(
        password_resets::table
            .find(token_digest)
            .filter(password_resets::used_at.is_null())
            .filter(password_resets::expires_at.gt(now)),
    )
    .set(password_resets::used_at.eq(now))
    .execute(conn)?;
    Ok((won == 1).then_some(row.user_id))
}

/// Ends every unused link of the user (marks it used at `now`): a reset, a
/// password change and "sign out everywhere" leave no other link working.
pub fn end_all_of_user(conn: &mut DbConnection, user_id: &str, now: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::update(
        password_resets::table.filter(password_resets::user_id.eq(user_id)).filter(password_resets::used_at.is_null()),
    )
    .set(password_resets::used_at.eq(now))
    .execute(conn)?)
}
