//! What a user consented to, and the withdrawal of it: the consents joined
//! with their apps (the "authorized apps" a user sees), and the time since
//! which an app's access tokens for a user are dead (`client_tokens_revoked`,
//! the per-app counterpart of `users.tokens_revoked_at`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::changes::{CLIENT_TOKENS, note_local};
use super::schema::{
    authorization_codes, client_tokens_revoked, consents, oauth_clients, organizations, refresh_tokens,
};
use super::{DbConnection, StoreError};

/// A consent with the app it was given to.
#[derive(Debug, Clone, Queryable)]
pub struct AuthorizedAppRow {
    pub client_id: String,
    pub scope: String,
    pub granted_at: NaiveDateTime,
    pub name: String,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    pub organization_id: String,
    pub organization_name: String,
}

/// A page of the apps `user_id` consented to, newest consent first, after
/// the app `after` (a client_id); `None` when that cursor is no app of the
/// user's. Consents to apps since deleted are not shown (they were deleted
/// with the app).
pub fn authorized_apps_page(
    conn: &mut DbConnection,
    user_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Option<Vec<AuthorizedAppRow>>, StoreError> {
    let cursor = match after {
        Some(id) => match consents::table
            .find((user_id, id))
            .select((consents::granted_at, consents::client_id))
            .first::<(NaiveDateTime, String)>(conn)
            .optional()?
        {
            Some(c) => Some(c),
            None => return Ok(None),
        },
        None => None,
    };
    let mut q = consents::table
        .inner_join(oauth_clients::table.on(oauth_clients::client_id.eq(consents::client_id)))
        .inner_join(organizations::table.on(organizations::id.eq(oauth_clients::organization_id)))
        .filter(consents::user_id.eq(user_id))
        // A first approval's row holds no scope until its transaction ends.
        .filter(consents::scope.ne(""))
        .select((
            consents::client_id,
            consents::scope,
            consents::granted_at,
            oauth_clients::name,
            oauth_clients::homepage_url,
            oauth_clients::logo_url,
            organizations::id,
            organizations::name,
        ))
        .order((consents::granted_at.desc(), consents::client_id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = cursor {
        q = q.filter(consents::granted_at.lt(at).or(consents::granted_at.eq(at).and(consents::client_id.lt(id))));
    }
    Ok(Some(q.load(conn)?))
}

/// When each of `client_ids` last received a token for `user_id`, as far
/// as the database still knows: the newest refresh token of the user with
/// the app (each refresh makes one) or the newest code redeemed (codes are
/// kept an hour). Apps with neither are left out.
pub fn last_token_times(
    conn: &mut DbConnection,
    user_id: &str,
    client_ids: &[String],
) -> Result<Vec<(String, NaiveDateTime)>, StoreError> {
    use diesel::dsl::max;
    let refreshed: Vec<(String, Option<NaiveDateTime>)> = refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::client_id.eq_any(client_ids))
        .group_by(refresh_tokens::client_id)
        .select((refresh_tokens::client_id, max(refresh_tokens::created_at)))
        .load(conn)?;
    let redeemed: Vec<(String, Option<NaiveDateTime>)> = authorization_codes::table
        .filter(authorization_codes::user_id.eq(user_id))
        .filter(authorization_codes::client_id.eq_any(client_ids))
        .group_by(authorization_codes::client_id)
        .select((authorization_codes::client_id, max(authorization_codes::consumed_at)))
        .load(conn)?;
    let mut latest: std::collections::BTreeMap<String, NaiveDateTime> = Default::default();
    for (client, at) in refreshed.into_iter().chain(redeemed) {
        if let Some(at) = at {
            let entry = latest.entry(client).or_insert(at);
            *entry = (*entry).max(at);
        }
    }
    Ok(latest.into_iter().collect())
}

/// Deletes the consent of `user_id` to `client_id`: true when there was one.
pub fn delete_consent(conn: &mut DbConnection, user_id: &str, client_id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(consents::table.find((user_id, client_id))).execute(conn)? == 1)
}

/// Marks every access token `client_id` holds for `user_id` issued before
/// `at` as dead (the liveness check compares it with a token's `iat`).
/// Idempotent; one statement, for the same reason as `revoke_access_token`.
pub fn set_client_tokens_revoked_at(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    note_local(CLIENT_TOKENS, &format!("{user_id} {client_id}"));
    let values = (
        client_tokens_revoked::user_id.eq(user_id),
        client_tokens_revoked::client_id.eq(client_id),
        client_tokens_revoked::revoked_at.eq(at),
    );
    let target = (client_tokens_revoked::user_id, client_tokens_revoked::client_id);
    match conn {
        DbConnection::Postgresql(pg) => diesel::insert_into(client_tokens_revoked::table)
            .values(values)
            .on_conflict(target)
            .do_update()
            .set(client_tokens_revoked::revoked_at.eq(at))
            .execute(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::insert_into(client_tokens_revoked::table)
            .values(values)
            .on_conflict(target)
            .do_update()
            .set(client_tokens_revoked::revoked_at.eq(at))
            .execute(sqlite)?,
    };
    Ok(())
}

/// Since when the tokens `client_id` holds for `user_id` are dead, if ever.
pub fn client_tokens_revoked_at(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(client_tokens_revoked::table
        .find((user_id, client_id))
        .select(client_tokens_revoked::revoked_at)
        .first(conn)
        .optional()?)
}

/// The families of `user_id` with `client_id` that still have an
/// unrevoked, unexpired token.
pub fn live_families(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<String>, StoreError> {
    Ok(refresh_tokens::table
        .filter(refresh_tokens::user_id.eq(user_id))
        .filter(refresh_tokens::client_id.eq(client_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::family_expires_at.gt(now))
        .select(refresh_tokens::family_id)
        .distinct()
        .load(conn)?)
}

/// Removes the codes of `user_id` for `client_id` not yet redeemed: a code
/// approved before a withdrawal must not give a token after it.
pub fn delete_pending_codes(conn: &mut DbConnection, user_id: &str, client_id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        authorization_codes::table
            .filter(authorization_codes::user_id.eq(user_id))
            .filter(authorization_codes::client_id.eq(client_id))
            .filter(authorization_codes::consumed_at.is_null()),
    )
    .execute(conn)?)
}

/// The access tokens (`jti`) that redeemed codes of `user_id` for
/// `client_id` issued at or after `since`, as far as the codes are still
/// kept (an hour past their expiry).
pub fn code_issued_jtis(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    since: NaiveDateTime,
) -> Result<Vec<String>, StoreError> {
    Ok(authorization_codes::table
        .filter(authorization_codes::user_id.eq(user_id))
        .filter(authorization_codes::client_id.eq(client_id))
        .filter(authorization_codes::consumed_at.ge(since))
        .filter(authorization_codes::issued_jti.is_not_null())
        .select(authorization_codes::issued_jti.assume_not_null())
        .load(conn)?)
}
