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
    /// The key through which this key was made; it ends with that key.
    pub made_by_key: Option<String>,
    /// The management app whose token made this key; it ends with that app.
    pub made_by_app: Option<String>,
    /// The secret that token was issued under; it ends with that secret.
    pub made_by_secret: Option<String>,
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

/// True when key `id`'s creator is disabled (the key acts as if unknown).
pub fn creator_disabled(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    let found: i64 = api_keys::table
        .inner_join(users::table.on(users::id.nullable().eq(api_keys::created_by)))
        .filter(api_keys::id.eq(id))
        .filter(users::disabled_at.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(found > 0)
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

/// Revokes a live key and every live key made through it, down the line;
/// false when the key was already revoked (or is not there).
pub fn revoke_key(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    super::write_transaction(conn, |c| {
        let revoked =
            diesel::update(api_keys::table.filter(api_keys::id.eq(id)).filter(api_keys::revoked_at.is_null()))
                .set(api_keys::revoked_at.eq(now))
                .execute(c)?
                == 1;
        let line = made_through(c, id, true)?;
        diesel::update(api_keys::table.filter(api_keys::id.eq_any(&line)).filter(api_keys::revoked_at.is_null()))
            .set(api_keys::revoked_at.eq(now))
            .execute(c)?;
        // The apps registered through any of them go with them.
        let mut all = line;
        all.push(id.to_owned());
        super::clients::delete_clients_made_by(c, &all, now)?;
        super::clients::end_secrets_made_by(c, &all, now)?;
        Ok(revoked)
    })
}

/// The keys made through `id`, down the line (only live ones when `live`).
fn made_through(conn: &mut DbConnection, id: &str, live: bool) -> Result<Vec<String>, StoreError> {
    let (mut line, mut makers) = (Vec::new(), vec![id.to_owned()]);
    while !makers.is_empty() {
        let mut q = api_keys::table.filter(api_keys::made_by_key.eq_any(&makers)).select(api_keys::id).into_boxed();
        if live {
            q = q.filter(api_keys::revoked_at.is_null());
        }
        makers = q.load(conn)?;
        line.extend(makers.iter().cloned());
    }
    Ok(line)
}

/// Revokes every live key a member made in an organization (and the keys
/// made through them), when the member leaves it: re-joining must not
/// revive them (attacker round 4, finding 5). Returns how many of the
/// member's own keys ended.
pub fn revoke_keys_of_member(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let ids: Vec<String> = api_keys::table
        .filter(api_keys::organization_id.eq(organization_id))
        .filter(api_keys::created_by.eq(user_id))
        .filter(api_keys::revoked_at.is_null())
        .select(api_keys::id)
        .load(conn)?;
    for id in &ids {
        revoke_key(conn, id, now)?;
    }
    Ok(ids.len())
}

/// Every key made through `id`, down the line, and every app registered
/// through any of them, ends by `until` at the latest (`id` now expires
/// then).
fn bound_made_keys(conn: &mut DbConnection, id: &str, until: NaiveDateTime) -> Result<(), StoreError> {
    let mut line = made_through(conn, id, false)?;
    expire_by(conn, &line, until)?;
    line.push(id.to_owned());
    super::clients::bound_clients_made_by(conn, &line, until)
}

/// The keys `ids` expire by `until` at the latest.
fn expire_by(conn: &mut DbConnection, ids: &[String], until: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(
        api_keys::table
            .filter(api_keys::id.eq_any(ids))
            .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(until))),
    )
    .set(api_keys::expires_at.eq(until))
    .execute(conn)?;
    Ok(())
}

/// The keys the management apps `apps` made, and what was made through
/// them, end by `until` at the latest (the apps now end then).
pub fn bound_keys_made_by_apps(
    conn: &mut DbConnection,
    apps: &[String],
    until: NaiveDateTime,
) -> Result<(), StoreError> {
    if apps.is_empty() {
        return Ok(());
    }
    let made: Vec<String> =
        api_keys::table.filter(api_keys::made_by_app.eq_any(apps)).select(api_keys::id).load(conn)?;
    bound_keys(conn, &made, until)
}

/// The keys the tokens of the client secrets `secrets` made, and what was
/// made through them, end by `until` at the latest (the secrets now end
/// then).
pub fn bound_keys_made_under(
    conn: &mut DbConnection,
    secrets: &[String],
    until: NaiveDateTime,
) -> Result<(), StoreError> {
    if secrets.is_empty() {
        return Ok(());
    }
    let made: Vec<String> =
        api_keys::table.filter(api_keys::made_by_secret.eq_any(secrets)).select(api_keys::id).load(conn)?;
    bound_keys(conn, &made, until)
}

/// The keys `keys`, what was made through them, and the apps registered
/// through any of them, end by `until` at the latest.
fn bound_keys(conn: &mut DbConnection, keys: &[String], until: NaiveDateTime) -> Result<(), StoreError> {
    expire_by(conn, keys, until)?;
    for key in keys {
        bound_made_keys(conn, key, until)?;
    }
    Ok(())
}

/// Revokes the live keys the tokens of the client secrets `secrets` made,
/// with what was made through them (the secrets are gone).
pub fn revoke_keys_made_under(
    conn: &mut DbConnection,
    secrets: &[String],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    if secrets.is_empty() {
        return Ok(());
    }
    let made: Vec<String> = api_keys::table
        .filter(api_keys::made_by_secret.eq_any(secrets))
        .filter(api_keys::revoked_at.is_null())
        .select(api_keys::id)
        .load(conn)?;
    for key in &made {
        revoke_key(conn, key, now)?;
    }
    Ok(())
}

/// Why a key made through another key was not written.
#[derive(Debug, PartialEq, Eq)]
pub enum MakerEnded {
    Revoked,
    Expired,
    /// The member it would act for left the organization meanwhile.
    CreatorLeft,
}

/// Inserts a new key in one transaction that first checks, with the rows
/// locked, that its creator is still a member of the organization (a key
/// written while they are being removed would otherwise escape the
/// removal's revocation and revive when they re-join: attacker round 11,
/// finding 5) and, for a key made through the key `maker`, that the maker
/// and its own makers are live (`live_key_until`): then the child expires
/// no later than they do (a roll may have shortened them since the request
/// read them).
pub fn insert_new_key(
    conn: &mut DbConnection,
    row: &ApiKeyRow,
    maker: Option<&str>,
    now: NaiveDateTime,
) -> Result<Result<ApiKeyRow, MakerEnded>, StoreError> {
    super::write_transaction(conn, |c| {
        if let Some(creator) = &row.created_by
            && !super::orgs::membership_held(c, &row.organization_id, creator)?
        {
            return Ok(Err(MakerEnded::CreatorLeft));
        }
        let mut row = row.clone();
        if let Some(maker) = maker {
            let maker_until = match live_key_until(c, maker, now)? {
                Ok(until) => until,
                Err(ended) => return Ok(Err(ended)),
            };
            row.made_by_key = Some(maker.to_owned());
            if let Some(until) = maker_until {
                row.expires_at = Some(row.expires_at.map_or(until, |t| t.min(until)));
            }
        }
        if let Some(app) = row.made_by_app.clone() {
            // Made with a management app's token: while that app lives.
            match super::clients::live_app_until(c, &app, now)? {
                Ok(Some(until)) => row.expires_at = Some(row.expires_at.map_or(until, |t| t.min(until))),
                Ok(None) => {}
                Err(ended) => return Ok(Err(ended)),
            }
        }
        if let Some(secret) = row.made_by_secret.clone() {
            // And while the secret that token was issued under lives.
            match super::clients::live_secret_until(c, &secret, now)? {
                Ok(Some(until)) => row.expires_at = Some(row.expires_at.map_or(until, |t| t.min(until))),
                Ok(None) => {}
                Err(ended) => return Ok(Err(ended)),
            }
        }
        diesel::insert_into(api_keys::table).values(&row).execute(c)?;
        Ok(Ok(row))
    })
}

/// Within a write transaction: whether key `id` and every key it was made
/// through are live at `now`, and until when the shortest-lived of them
/// lives. Their rows stay locked until the transaction ends (PostgreSQL,
/// taken from the first maker down, as a revocation or roll walks the
/// line; SQLite's immediate transaction holds the write lock already), so
/// that a revocation or roll of ANY of them either committed before and is
/// seen here, or waits and then sees what this transaction made (attacker
/// round 11, finding 2: locking the direct maker alone let a revocation of
/// its own maker miss a grandchild being made).
pub fn live_key_until(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<Result<Option<NaiveDateTime>, MakerEnded>, StoreError> {
    // The line, from `id` up to the first maker (bounded: a line is short,
    // and a cycle cannot be written, but a bound costs nothing).
    let mut line = vec![id.to_owned()];
    while line.len() < 64 {
        let up: Option<Option<String>> = api_keys::table
            .filter(api_keys::id.eq(line.last().map_or("", String::as_str)))
            .select(api_keys::made_by_key)
            .first(conn)
            .optional()?;
        match up.flatten() {
            Some(maker) if !line.contains(&maker) => line.push(maker),
            _ => break,
        }
    }
    let mut until: Option<NaiveDateTime> = None;
    for key in line.iter().rev() {
        let of_key = api_keys::table.filter(api_keys::id.eq(key)).select((api_keys::revoked_at, api_keys::expires_at));
        let found: Option<(Option<NaiveDateTime>, Option<NaiveDateTime>)> = match conn {
            DbConnection::Postgresql(pg) => of_key.for_update().first(pg).optional()?,
            DbConnection::Sqlite(sqlite) => of_key.first(sqlite).optional()?,
        };
        match found {
            None | Some((Some(_), _)) => return Ok(Err(MakerEnded::Revoked)),
            Some((None, Some(end))) if end <= now => return Ok(Err(MakerEnded::Expired)),
            Some((None, end)) => {
                until = match (until, end) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }
    Ok(Ok(until))
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
) -> Result<Result<ApiKeyRow, MakerEnded>, StoreError> {
    super::write_transaction(conn, |c| {
        // The successor as any new key: its creator a member, its maker's
        // line live (and bounding it), under their locks; checked before
        // anything is written, so a refusal leaves the old key as it was.
        let made = match insert_new_key(c, new, new.made_by_key.as_deref(), new.created_at)? {
            Ok(made) => made,
            Err(ended) => return Ok(Err(ended)),
        };
        diesel::update(
            api_keys::table
                .filter(api_keys::id.eq(old_id))
                .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(old_until))),
        )
        .set(api_keys::expires_at.eq(old_until))
        .execute(c)?;
        // Made through the old key, the successor too ends with it.
        bound_made_keys(c, old_id, old_until)?;
        Ok(Ok(made))
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
