//! Which browser sessions received an ID token for which client: the
//! clients that back-channel logout notifies when a session ends. A
//! session's rows go with it (foreign key, `ON DELETE CASCADE`), so whoever
//! ends sessions reads them first, in the same transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};

use super::schema::{oidc_logins, sessions};
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

/// Ends the session whose cookie has this digest. Its row is locked first
/// (PostgreSQL; SQLite's immediate transaction holds the write lock), so no
/// `record` for it can slip in between the read of its clients and the
/// delete that takes their rows along.
pub fn end_session_by_digest(conn: &mut DbConnection, token_digest: &str) -> Result<Option<EndedSession>, StoreError> {
    super::write_transaction(conn, |c| {
        let query =
            sessions::table.filter(sessions::token_digest.eq(token_digest)).select((sessions::id, sessions::user_id));
        let found: Option<(String, String)> = match c {
            DbConnection::Postgresql(pg) => query.for_update().first(pg).optional()?,
            DbConnection::Sqlite(sqlite) => query.first(sqlite).optional()?,
        };
        let Some((session_id, user_id)) = found else { return Ok(None) };
        let client_ids = clients_of_session(c, &session_id)?;
        diesel::delete(sessions::table.find(&session_id)).execute(c)?;
        Ok(Some(EndedSession { session_id, user_id, client_ids }))
    })
}

/// Ends every session of a user but `keep`, locked as above.
pub fn end_sessions_of_user(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
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
        let mut ended = Vec::with_capacity(ids.len());
        for session_id in ids {
            let client_ids = clients_of_session(c, &session_id)?;
            ended.push(EndedSession { session_id, user_id: user_id.to_owned(), client_ids });
        }
        let ids: Vec<&str> = ended.iter().map(|e| e.session_id.as_str()).collect();
        diesel::delete(sessions::table.filter(sessions::id.eq_any(ids))).execute(c)?;
        Ok(ended)
    })
}
