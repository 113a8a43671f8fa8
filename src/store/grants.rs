//! What grants leave behind: authorization codes, refresh-token families,
//! revoked access tokens, consents. Every secret is stored as its digest,
//! and every state change is one conditional UPDATE whose row count says
//! who won.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{authorization_codes, consents, refresh_tokens, revoked_access_tokens, users};
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct AuthorizationCodeRow {
    pub code_digest: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
    pub issued_jti: Option<String>,
    pub issued_family_id: Option<String>,
    /// The browser session that approved the code (OIDC `sid`).
    pub session_id: Option<String>,
    /// When that session's user authenticated (OIDC `auth_time`).
    pub auth_time: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenRow {
    pub id: String,
    pub token_digest: String,
    pub family_id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scope: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub family_expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub access_jti: Option<String>,
    /// The organization a dashboard session acts for.
    pub organization_id: Option<String>,
    /// The token this one replaced at rotation.
    pub parent_id: Option<String>,
    /// The browser session and authentication time of the code that began
    /// the family, so a refresh's ID token repeats its `sid` and `auth_time`.
    pub session_id: Option<String>,
    pub auth_time: Option<NaiveDateTime>,
}

pub fn insert_code(conn: &mut DbConnection, row: &AuthorizationCodeRow) -> Result<(), StoreError> {
    diesel::insert_into(authorization_codes::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_code(conn: &mut DbConnection, digest: &str) -> Result<Option<AuthorizationCodeRow>, StoreError> {
    Ok(authorization_codes::table.find(digest).select(AuthorizationCodeRow::as_select()).first(conn).optional()?)
}

/// Marks the code used and records what its use issues, only if nobody
/// used it before: true for the one caller that wins.
pub fn consume_code(
    conn: &mut DbConnection,
    digest: &str,
    now: NaiveDateTime,
    issued_jti: &str,
    issued_family_id: Option<&str>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        authorization_codes::table
            .filter(authorization_codes::code_digest.eq(digest))
            .filter(authorization_codes::consumed_at.is_null())
            .filter(authorization_codes::expires_at.gt(now)),
    )
    .set((
        authorization_codes::consumed_at.eq(now),
        authorization_codes::issued_jti.eq(issued_jti),
        authorization_codes::issued_family_id.eq(issued_family_id),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// An approval, in one write transaction: the consent widened by `widen`
/// (from what was granted before), expired codes swept, the new code
/// stored. A write transaction from the start, so SQLite never has to
/// upgrade a read lock under a concurrent writer ("database is locked").
pub fn approve(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    widen: impl Fn(Option<String>) -> String,
    now: NaiveDateTime,
    code: &AuthorizationCodeRow,
) -> Result<(), StoreError> {
    super::write_transaction(conn, |c| {
        let scope = widen(lock_consent(c, user_id, client_id, now)?);
        diesel::update(consents::table.find((user_id, client_id)))
            .set((consents::scope.eq(&scope), consents::granted_at.eq(now)))
            .execute(c)?;
        delete_expired_codes(c, now - chrono::Duration::hours(1))?;
        insert_code(c, code)
    })
}

/// What a code's redemption leaves behind besides the code's new state.
pub struct Redemption<'a> {
    pub refresh: Option<&'a RefreshTokenRow>,
    /// `(session_id, client_id)`: the browser session gets an ID token for
    /// this client (what back-channel logout notifies).
    pub oidc_login: Option<(&'a str, &'a str)>,
}

/// Redeems a code: marks it used with what its use issues, stores the
/// refresh token and the OpenID Connect login, in one write transaction;
/// false when someone else won.
pub fn redeem_code(
    conn: &mut DbConnection,
    digest: &str,
    now: NaiveDateTime,
    issued_jti: &str,
    issued_family_id: Option<&str>,
    redemption: &Redemption<'_>,
) -> Result<bool, StoreError> {
    super::write_transaction(conn, |c| {
        if !consume_code(c, digest, now, issued_jti, issued_family_id)? {
            return Ok(false);
        }
        if let Some(r) = redemption.refresh {
            insert_refresh_token(c, r)?;
        }
        if let Some((session_id, client_id)) = redemption.oidc_login {
            super::oidc_logins::record(c, session_id, client_id, now)?;
        }
        Ok(true)
    })
}

/// Removes a user's codes not yet redeemed (the user's tokens are ending).
pub fn delete_pending_codes_of_user(conn: &mut DbConnection, user_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        authorization_codes::table
            .filter(authorization_codes::user_id.eq(user_id))
            .filter(authorization_codes::consumed_at.is_null()),
    )
    .execute(conn)?)
}

pub fn delete_expired_codes(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.lt(before))).execute(conn)?)
}

pub fn insert_refresh_token(conn: &mut DbConnection, row: &RefreshTokenRow) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_refresh_token(conn: &mut DbConnection, digest: &str) -> Result<Option<RefreshTokenRow>, StoreError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::token_digest.eq(digest))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Runs `decide` on the refresh token with this digest while holding it
/// against every other use, in one transaction: the row is read `FOR
/// UPDATE` on PostgreSQL, after `BEGIN IMMEDIATE` on SQLite. A concurrent
/// use of the same token waits, then reads the row as the first use left
/// it, so the decision is taken on what really happened (RFC 9700
/// §4.14.2: a race is told from a replay). `decide` may write; what it
/// wrote is committed whenever it returns `Ok`. It may run more than once
/// (`write_transaction`), so it writes only through its connection.
pub fn use_refresh_token<T>(
    conn: &mut DbConnection,
    digest: &str,
    mut decide: impl FnMut(&mut DbConnection, Option<RefreshTokenRow>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    super::write_transaction(conn, |c| {
        if let DbConnection::Postgresql(_) = c {
            // The family's lock before the row's, in the order
            // `revoke_family` takes them (a family id never changes).
            let family: Option<String> = refresh_tokens::table
                .filter(refresh_tokens::token_digest.eq(digest))
                .select(refresh_tokens::family_id)
                .first(c)
                .optional()?;
            if let Some(family) = family {
                lock_family(c, &family)?;
            }
        }
        let row = match c {
            DbConnection::Postgresql(pg) => refresh_tokens::table
                .filter(refresh_tokens::token_digest.eq(digest))
                .select(RefreshTokenRow::as_select())
                .for_update()
                .first(pg)
                .optional()?,
            // The immediate transaction already holds the write lock.
            DbConnection::Sqlite(_) => find_refresh_token(c, digest)?,
        };
        decide(c, row)
    })
}

/// The token that replaced `parent_id` at its rotation, if any.
pub fn find_successor(conn: &mut DbConnection, parent_id: &str) -> Result<Option<RefreshTokenRow>, StoreError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::parent_id.eq(parent_id))
        .select(RefreshTokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Retires a refresh token at its use, only if it is still live: true for
/// the one caller that wins when two race.
pub fn rotate_refresh_token(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Revokes every token of a family and denies, until `deny_until`, the
/// access tokens issued with them. `deny_until - now` is the caller's bound
/// on an access token's lifetime, so tokens issued longer ago than that
/// have expired and need no denial. Idempotent. The domain reaches this
/// through `OAuth::revoke_family_blocking` only.
pub fn revoke_family(
    conn: &mut DbConnection,
    family_id: &str,
    now: NaiveDateTime,
    deny_until: NaiveDateTime,
) -> Result<(), StoreError> {
    // One transaction (a savepoint inside the caller's), so the family's
    // lock is held to its end. Without the lock, on PostgreSQL, a rotation
    // committing while the UPDATE below runs would add a successor the
    // UPDATE cannot see (READ COMMITTED), and the family would live on
    // through it.
    super::write_transaction(conn, |c| {
        lock_family(c, family_id)?;
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(family_id))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(c)?;
        let issued_after = now - (deny_until - now);
        let jtis: Vec<String> = refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::created_at.ge(issued_after))
            .filter(refresh_tokens::access_jti.is_not_null())
            .select(refresh_tokens::access_jti.assume_not_null())
            .load(c)?;
        for jti in jtis {
            revoke_access_token(c, &jti, deny_until)?;
        }
        Ok(())
    })
}

/// Serializes every writer of one refresh-token family (rotation,
/// revocation) until the end of its transaction.
fn lock_family(conn: &mut DbConnection, family_id: &str) -> Result<(), StoreError> {
    super::lock_until_commit(conn, &format!("refresh-family:{family_id}"))
}

/// The families of a user that still have an unrevoked, unexpired token.
pub fn live_families_of_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<String>, StoreError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::family_expires_at.gt(now))
        .select(refresh_tokens::family_id)
        .distinct()
        .load(conn)?)
}

/// Denies an access token until it would have expired anyway. Idempotent,
/// and one statement: inside a PostgreSQL transaction a unique violation
/// would abort everything after it, so a concurrent denial of the same
/// token is ignored by the database, not caught here.
pub fn revoke_access_token(conn: &mut DbConnection, jti: &str, expires_at: NaiveDateTime) -> Result<(), StoreError> {
    super::changes::note_local(super::changes::ACCESS_TOKEN, jti);
    let values = (revoked_access_tokens::jti.eq(jti), revoked_access_tokens::expires_at.eq(expires_at));
    match conn {
        DbConnection::Postgresql(pg) => {
            diesel::insert_into(revoked_access_tokens::table).values(values).on_conflict_do_nothing().execute(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            diesel::insert_or_ignore_into(revoked_access_tokens::table).values(values).execute(sqlite)?
        }
    };
    Ok(())
}

/// What decides whether a user's token is live, besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Denial {
    /// Its `jti` is on the denylist.
    pub denied: bool,
    /// Since when the user's tokens are revoked as a whole, if ever.
    pub user_since: Option<NaiveDateTime>,
    /// Since when the tokens its app holds for the user are revoked (the
    /// user withdrew their consent), if ever.
    pub client_since: Option<NaiveDateTime>,
}

/// What decides whether a token is live: whether its `jti` is denied, and
/// for a user's token (`(user_id, client_id)`) since when the user's
/// tokens, and the app's tokens for the user, are revoked (if ever).
pub fn denial(conn: &mut DbConnection, jti: &str, user: Option<(&str, &str)>) -> Result<Denial, StoreError> {
    let denied = is_access_token_revoked(conn, jti)?;
    let (user_since, client_since) = match user {
        Some((user_id, client_id)) => (
            // A deleted user's tokens are all revoked: their row, and with it
            // `tokens_revoked_at`, is gone.
            match users::table.find(user_id).select(users::tokens_revoked_at).first(conn).optional()? {
                Some(since) => since,
                None => Some(NaiveDateTime::MAX),
            },
            super::consents::client_tokens_revoked_at(conn, user_id, client_id)?,
        ),
        None => (None, None),
    };
    Ok(Denial { denied, user_since, client_since })
}

pub fn is_access_token_revoked(conn: &mut DbConnection, jti: &str) -> Result<bool, StoreError> {
    Ok(revoked_access_tokens::table.find(jti).count().get_result::<i64>(conn)? > 0)
}

pub fn prune_revoked_access_tokens(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.lt(now))).execute(conn)?)
}

pub fn find_consent(conn: &mut DbConnection, user_id: &str, client_id: &str) -> Result<Option<String>, StoreError> {
    Ok(consents::table.find((user_id, client_id)).select(consents::scope).first(conn).optional()?)
}

/// The consent of `user_id` to `client_id`, held against every other
/// approval until the transaction ends: the row is made when missing (with
/// no scope, so two first approvals cannot both insert), then read `FOR
/// UPDATE` on PostgreSQL; SQLite's write transaction already holds the lock.
/// `None` when nothing was granted before.
fn lock_consent(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    now: NaiveDateTime,
) -> Result<Option<String>, StoreError> {
    let row = (
        consents::user_id.eq(user_id),
        consents::client_id.eq(client_id),
        consents::scope.eq(""),
        consents::granted_at.eq(now),
    );
    let scope: String = match conn {
        DbConnection::Postgresql(pg) => {
            diesel::insert_into(consents::table).values(row).on_conflict_do_nothing().execute(pg)?;
            consents::table.find((user_id, client_id)).select(consents::scope).for_update().first(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            diesel::insert_or_ignore_into(consents::table).values(row).execute(sqlite)?;
            consents::table.find((user_id, client_id)).select(consents::scope).first(sqlite)?
        }
    };
    Ok(Some(scope).filter(|s| !s.is_empty()))
}
