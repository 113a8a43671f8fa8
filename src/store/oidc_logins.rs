//! Which browser sessions received an ID token for which client: the
//! clients that back-channel logout notifies when a session ends. A
//! session's rows go with it (foreign key, `ON DELETE CASCADE`), so whoever
//! ends sessions reads them first, in the same transaction; and ending one
//! goes through here, so that what was signed in through it (refresh-token
//! families, pending codes) ends in that transaction too.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use super::schema::{authorization_codes, oidc_logins, refresh_tokens, sessions};
use super::{DbConnection, StoreError};

/// Records that `session_id` received an ID token for `client_id`.
/// Idempotent (a second ID token for the same pair changes nothing). One
/// statement that inserts only while the session exists: a session ended in
/// the meantime has nobody left to notify.
pub fn record(
    conn: &mut DbConnection,
    session_id: &str,
    client_id: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let source = sessions::table.filter(sessions::id.eq(session_id)).select((
        sessions::id,
        client_id.into_sql::<Text>(),
        now.into_sql::<Timestamp>(),
    ));
    let columns = (oidc_logins::session_id, oidc_logins::client_id, oidc_logins::created_at);
    let inserted = match conn {
        DbConnection::Postgresql(pg) => diesel::insert_into(oidc_logins::table)
            .values(source)
            .into_columns(columns)
            .on_conflict_do_nothing()
            .execute(pg),
        DbConnection::Sqlite(sqlite) => {
            diesel::insert_or_ignore_into(oidc_logins::table).values(source).into_columns(columns).execute(sqlite)
        }
    };
    match inserted.map_err(StoreError::from) {
        // The session ended between the statement's read and its write.
        Ok(_) | Err(StoreError::ForeignKey(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The client_ids that received an ID token in this session, in order.
pub fn clients_of_session(conn: &mut DbConnection, session_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(oidc_logins::table
        .filter(oidc_logins::session_id.eq(session_id))
        .select(oidc_logins::client_id)
        .order(oidc_logins::client_id.asc())
        .load(conn)?)
}

/// A browser session that just ended, and the clients that received an ID
/// token in it: what back-channel logout tells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    pub session_id: String,
    pub user_id: String,
    pub client_ids: Vec<String>,
}

/// What else a session's end takes along, in the same transaction and
/// before its row goes: its tokens (`OAuth::end_session_tokens_blocking`).
pub type OnEnd<'a> = &'a dyn Fn(&mut DbConnection, &EndedSession) -> Result<(), StoreError>;

/// Ends the session whose cookie has this digest. Its row is locked first
/// (PostgreSQL; SQLite's immediate transaction holds the write lock), so no
/// `record` for it can slip in between the read of its clients and the
/// delete that takes their rows along.
pub fn end_session_by_digest(
    conn: &mut DbConnection,
    token_digest: &str,
    on_end: OnEnd<'_>,
) -> Result<Option<EndedSession>, StoreError> {
    super::write_transaction(conn, |c| {
        let query =
            sessions::table.filter(sessions::token_digest.eq(token_digest)).select((sessions::id, sessions::user_id));
        let found: Option<(String, String)> = match c {
            DbConnection::Postgresql(pg) => query.for_update().first(pg).optional()?,
            DbConnection::Sqlite(sqlite) => query.first(sqlite).optional()?,
        };
        let Some((session_id, user_id)) = found else { return Ok(None) };
        end_locked(c, session_id, user_id, on_end).map(Some)
    })
}

/// Ends every session of a user but `keep`, locked as above.
pub fn end_sessions_of_user(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    on_end: OnEnd<'_>,
) -> Result<Vec<EndedSession>, StoreError> {
    super::write_transaction(conn, |c| {
        // Session ids are never empty: "" keeps none.
        let query = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::id.ne(keep.unwrap_or("")))
            .select(sessions::id);
        let ids: Vec<String> = match c {
            DbConnection::Postgresql(pg) => query.for_update().load(pg)?,
            DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
        };
        ids.into_iter().map(|session_id| end_locked(c, session_id, user_id.to_owned(), on_end)).collect()
    })
}

/// Ends up to `limit` sessions expired at `now`, locked as above: an
/// expired session ends as a sign-out does, its apps told.
pub fn end_expired_sessions(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
    on_end: OnEnd<'_>,
) -> Result<Vec<EndedSession>, StoreError> {
    super::write_transaction(conn, |c| {
        let query = sessions::table
            .filter(sessions::expires_at.le(now))
            .order(sessions::expires_at.asc())
            .limit(limit)
            .select((sessions::id, sessions::user_id));
        let found: Vec<(String, String)> = match c {
            // Instances polling together skip each other's rows.
            DbConnection::Postgresql(pg) => query.for_update().skip_locked().load(pg)?,
            DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
        };
        found.into_iter().map(|(session_id, user_id)| end_locked(c, session_id, user_id, on_end)).collect()
    })
}

/// Ends a session whose row the caller's transaction has locked: reads its
/// clients, runs `on_end`, deletes it (its `oidc_logins` rows go along).
fn end_locked(
    conn: &mut DbConnection,
    session_id: String,
    user_id: String,
    on_end: OnEnd<'_>,
) -> Result<EndedSession, StoreError> {
    let client_ids = clients_of_session(conn, &session_id)?;
    let ended = EndedSession { session_id, user_id, client_ids };
    on_end(conn, &ended)?;
    diesel::delete(sessions::table.find(&ended.session_id)).execute(conn)?;
    Ok(ended)
}

/// The live refresh-token families signed in through a session of
/// `user_id`, with their scopes (a family's rows share one, or narrow it
/// when its app lost a scope: a family may appear once per scope).
pub fn families_of_session(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<(String, String)>, StoreError> {
    // `user_id` first: it is indexed, `session_id` is not.
    Ok(refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::session_id.eq(session_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::family_expires_at.gt(now))
        .select((refresh_tokens::family_id, refresh_tokens::scope))
        .distinct()
        .load(conn)?)
}

/// Deletes the codes approved in a session of `user_id` and not redeemed
/// yet: one redeemed after the session's end would start a family of it.
pub fn delete_pending_codes_of_session(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        authorization_codes::table
            .filter(authorization_codes::user_id.eq(user_id))
            .filter(authorization_codes::session_id.eq(session_id))
            .filter(authorization_codes::consumed_at.is_null()),
    )
    .execute(conn)?)
}
