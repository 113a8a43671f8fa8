//! API keys: looked up by digest, listed by prefix and last four.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::OrganizationRow;
use super::schema::{api_keys, memberships, organizations, users};
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: String,
    pub organization_id: String,
    pub created_by: Option<String>,
    pub name: String,
    pub kind: String,
    pub environment: String,
    pub prefix: String,
    pub last_four: String,
    pub key_digest: String,
    pub scopes: String,
    pub rate_limit_per_minute: Option<i32>,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub rolled_from: Option<String>,
}

pub fn insert_key(conn: &mut DbConnection, row: &ApiKeyRow) -> Result<(), StoreError> {
    diesel::insert_into(api_keys::table).values(row).execute(conn)?;
    Ok(())
}

/// A key as verification reads it: the key, its organization, its
/// creator's current role there (none when the creator left) and email.
/// Not found while the creator is disabled.
pub type KeyForVerification = (ApiKeyRow, OrganizationRow, Option<String>, Option<String>);

/// The hot path's one indexed lookup (once per key while it is cached).
pub fn find_for_verification(conn: &mut DbConnection, digest: &str) -> Result<Option<KeyForVerification>, StoreError> {
    Ok(api_keys::table
        .inner_join(organizations::table)
        .left_join(
            memberships::table.on(memberships::organization_id
                .eq(api_keys::organization_id)
                .and(memberships::user_id.nullable().eq(api_keys::created_by))),
        )
        .left_join(users::table.on(users::id.nullable().eq(api_keys::created_by)))
        .filter(api_keys::key_digest.eq(digest))
        // A disabled creator's keys are as if unknown (`user disable`); a
        // key without a creator has no user row (NULL passes).
        .filter(users::disabled_at.is_null())
        .select((
            ApiKeyRow::as_select(),
            OrganizationRow::as_select(),
            memberships::role.nullable(),
            users::email.nullable(),
        ))
        .first(conn)
        .optional()?)
}

pub fn find_key(conn: &mut DbConnection, organization_id: &str, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::organization_id.eq(organization_id))
        .filter(api_keys::id.eq(id))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// A page of an organization's keys, newest first, after the cursor key.
pub fn list_keys(
    conn: &mut DbConnection,
    organization_id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<ApiKeyRow>, StoreError> {
    let mut q = api_keys::table
        .filter(api_keys::organization_id.eq(organization_id))
        .select(ApiKeyRow::as_select())
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(api_keys::created_at.lt(at).or(api_keys::created_at.eq(at).and(api_keys::id.lt(id))));
    }
    Ok(q.load(conn)?)
}

/// Revokes a live key; false when it was already revoked (or is not there).
pub fn revoke_key(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    Ok(diesel::update(api_keys::table.filter(api_keys::id.eq(id)).filter(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(now))
        .execute(conn)?
        == 1)
}

pub fn update_key(conn: &mut DbConnection, id: &str, name: &str, scopes: &str) -> Result<(), StoreError> {
    diesel::update(api_keys::table.find(id))
        .set((api_keys::name.eq(name), api_keys::scopes.eq(scopes)))
        .execute(conn)?;
    Ok(())
}

/// Rolling: the new key, and the old one set to expire at `old_until`
/// (sooner than it would have), in one transaction.
pub fn roll_key(
    conn: &mut DbConnection,
    old_id: &str,
    new: &ApiKeyRow,
    old_until: NaiveDateTime,
) -> Result<(), StoreError> {
    super::write_transaction(conn, |c| {
        diesel::update(
            api_keys::table
                .filter(api_keys::id.eq(old_id))
                .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(old_until))),
        )
        .set(api_keys::expires_at.eq(old_until))
        .execute(c)?;
        diesel::insert_into(api_keys::table).values(new).execute(c)?;
        Ok(())
    })
}

/// Records use, at most once per `min_gap` (the caller batches).
pub fn touch_last_used(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(id))
            .filter(api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(at))),
    )
    .set(api_keys::last_used_at.eq(at))
    .execute(conn)?;
    Ok(())
}
