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

/// Deletes a user; what hangs on them goes with them (the schema's
/// cascades: memberships, sessions, consents, refresh tokens) or forgets
/// them (keys and apps they made keep a `NULL` creator). True when there
/// was such a user.
/// Within a write transaction: holds the user's row until it ends
/// (PostgreSQL `FOR UPDATE`, which a new membership's foreign key check
/// waits for: the user joins nothing meanwhile; SQLite's immediate
/// transaction holds the write lock already).
pub fn lock_user(conn: &mut DbConnection, id: &str) -> Result<(), StoreError> {
    if let DbConnection::Postgresql(pg) = conn {
        users::table.find(id).select(users::id).for_update().load::<String>(pg)?;
    }
    Ok(())
}

pub fn delete_user(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(users::table.find(id)).execute(conn)? == 1)
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

/// Replaces a password hash by a hash of the same password at another cost
/// (an upgrade at sign-in). Only while the row still holds `old_hash`, so a
/// password changed meanwhile is never overwritten; `password_changed_at`
/// stays, since the password did not change and its sessions live on.
/// True when the row was updated.
pub fn upgrade_password_hash(
    conn: &mut DbConnection,
    id: &str,
    old_hash: &str,
    new_hash: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(users::table.find(id).filter(users::password_hash.eq(old_hash)))
        .set(users::password_hash.eq(new_hash))
        .execute(conn)?;
    Ok(n == 1)
}

/// Marks every token of the user issued before `at` as revoked (the
/// liveness check compares it with a token's `iat`).
pub fn set_tokens_revoked_at(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), StoreError> {
    super::changes::note_local(super::changes::USER_TOKENS, id);
    diesel::update(users::table.find(id)).set(users::tokens_revoked_at.eq(at)).execute(conn)?;
    Ok(())
}

/// Every user, oldest first (the CLI's `user list`).
pub fn list_users(conn: &mut DbConnection) -> Result<Vec<UserRow>, StoreError> {
    Ok(users::table.order((users::created_at.asc(), users::id.asc())).select(UserRow::as_select()).load(conn)?)
}

/// Disables (`Some(now)`) or enables (`None`) a user; only when that
/// changes something, so a second `disable` keeps the first time. True when
/// the row changed. A trigger logs the change for the API-key caches.
pub fn set_disabled(conn: &mut DbConnection, id: &str, at: Option<NaiveDateTime>) -> Result<bool, StoreError> {
    let target = users::table.find(id);
    let n = match at {
        Some(at) => {
            diesel::update(target.filter(users::disabled_at.is_null())).set(users::disabled_at.eq(at)).execute(conn)?
        }
        None => diesel::update(target.filter(users::disabled_at.is_not_null()))
            .set(users::disabled_at.eq(None::<NaiveDateTime>))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Within a write transaction: whether the user exists and is not
/// disabled, with their row locked against `set_disabled` until the
/// transaction ends (PostgreSQL `FOR SHARE`; SQLite's immediate transaction
/// holds the write lock already): a session written here is either seen by
/// a disable that commits later, or refused by one that committed before.
pub fn active_held(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    let of_user = users::table.find(id).select(users::disabled_at);
    let found: Option<Option<NaiveDateTime>> = match conn {
        DbConnection::Postgresql(pg) => of_user.for_share().first(pg).optional()?,
        DbConnection::Sqlite(sqlite) => of_user.first(sqlite).optional()?,
    };
    Ok(matches!(found, Some(None)))
}

/// True when the user exists and is disabled.
pub fn is_disabled(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    let found: Option<Option<NaiveDateTime>> =
        users::table.find(id).select(users::disabled_at).first(conn).optional()?;
    Ok(matches!(found, Some(Some(_))))
}
