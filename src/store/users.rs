//! Users.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::UserRow;
use super::schema::users;
use super::{DbConnection, StoreError};

pub fn insert_user(conn: &mut DbConnection, row: &UserRow) -> Result<(), StoreError> {
    diesel::insert_into(users::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_user_by_email(conn: &mut DbConnection, email_normalized: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .filter(users::email_normalized.eq(email_normalized))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_user(conn: &mut DbConnection, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table.find(id).select(UserRow::as_select()).first(conn).optional()?)
}

pub fn update_password(
    conn: &mut DbConnection,
    id: &str,
    password_hash: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let n = diesel::update(users::table.find(id))
        .set((users::password_hash.eq(password_hash), users::password_changed_at.eq(now)))
        .execute(conn)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Marks every token of the user issued before `at` as revoked (the
/// liveness check compares it with a token's `iat`).
pub fn set_tokens_revoked_at(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(users::table.find(id)).set(users::tokens_revoked_at.eq(at)).execute(conn)?;
    Ok(())
}
