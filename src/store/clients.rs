//! OAuth clients, their secrets (digests only), and the change log that
//! tells every instance to drop a cached client.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::changes::record_invalidation;
use super::models::OrganizationRow;
use super::schema::{api_keys, client_secrets, consents, oauth_clients, organizations, refresh_tokens, users};
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_clients)]
pub struct ClientRow {
    pub id: String,
    pub client_id: String,
    pub organization_id: String,
    pub name: String,
    pub client_type: String,
    pub redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    pub access_token_ttl_secs: Option<i32>,
    pub refresh_token_ttl_secs: Option<i32>,
    pub always_issue_refresh_token: bool,
    pub resource_server: bool,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub management: bool,
    pub require_pkce: bool,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    pub subject_type: String,
    pub sector_identifier: Option<String>,
    pub id_token_signed_response_alg: String,
    /// The client's own access tokens issued at or before this second are
    /// dead (see the migration `machine_token_cutoff`).
    pub tokens_valid_after: Option<NaiveDateTime>,
    /// The API key through which it was registered: it ends with that key.
    pub made_by_key: Option<String>,
    /// From then on the app is unknown (its maker key's expiry).
    pub ends_at: Option<NaiveDateTime>,
    /// The management app whose token registered it: it ends with that app.
    pub made_by_app: Option<String>,
    /// The secret that token was issued under: it ends with that secret.
    pub made_by_secret: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_secrets)]
pub struct ClientSecretRow {
    pub id: String,
    pub client_pk: String,
    pub secret_digest: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    /// The API key it was issued through: it ends with that key.
    pub made_by_key: Option<String>,
}

pub fn insert_client(
    conn: &mut DbConnection,
    client: &ClientRow,
    secret: Option<&ClientSecretRow>,
) -> Result<Result<(), super::api_keys::MakerEnded>, StoreError> {
    super::write_transaction(conn, |c| {
        let mut client = client.clone();
        if let Some(maker) = client.made_by_key.clone() {
            // Written only while the key is live, under its row lock, so its
            // revocation cannot miss the app; the app ends when it does.
            match super::api_keys::live_key_until(c, &maker, client.created_at)? {
                Ok(until) => client.ends_at = until,
                Err(ended) => return Ok(Err(ended)),
            }
        }
        if let Some(app) = client.made_by_app.clone() {
            // The same for a management app's token: while that app lives.
            match live_app_until(c, &app, client.created_at)? {
                Ok(until) => client.ends_at = earliest(client.ends_at, until),
                Err(ended) => return Ok(Err(ended)),
            }
        }
        if let Some(secret) = client.made_by_secret.clone() {
            // And while the secret that token was issued under lives.
            match live_secret_until(c, &secret, client.created_at)? {
                Ok(until) => client.ends_at = earliest(client.ends_at, until),
                Err(ended) => return Ok(Err(ended)),
            }
        }
        diesel::insert_into(oauth_clients::table).values(&client).execute(c)?;
        if let Some(s) = secret {
            diesel::insert_into(client_secrets::table).values(s).execute(c)?;
        }
        Ok(Ok(()))
    })
}

/// True when the creator of the app `client_id` is disabled (a management
/// app's token then acts for no one, nor does what it registered).
pub fn app_creator_disabled(conn: &mut DbConnection, client_id: &str) -> Result<bool, StoreError> {
    let found: i64 = oauth_clients::table
        .inner_join(users::table.on(users::id.nullable().eq(oauth_clients::created_by)))
        .filter(oauth_clients::client_id.eq(client_id))
        .filter(users::disabled_at.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// Deletes the apps registered through any of `keys` (revoked).
pub fn delete_clients_made_by(
    conn: &mut DbConnection,
    keys: &[String],
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let of_keys = oauth_clients::table
        .filter(oauth_clients::made_by_key.eq_any(keys))
        .select((oauth_clients::id, oauth_clients::client_id));
    // Locked as found: an app a person is taking over at this moment is
    // waited for and, untied by then, no longer found (PostgreSQL reads
    // the row again after the wait); else the takeover answered 200 for
    // an app deleted here (attacker round 12 re-run, lineage 8).
    let made = match conn {
        DbConnection::Postgresql(pg) => of_keys.for_update().load(pg)?,
        DbConnection::Sqlite(sqlite) => of_keys.load(sqlite)?,
    };
    delete_each(conn, made, now)
}

/// The earlier of two ends, either of which may be none (never).
pub fn earliest(a: Option<NaiveDateTime>, b: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Within a write transaction: whether `client_id` is a live management
/// app at `now` (what its token makes may be written), and until when it
/// lives (its `ends_at`). Its row stays locked until the transaction ends
/// (PostgreSQL; SQLite's immediate transaction holds the write lock), so a
/// deletion or demotion of the app either committed before and is seen
/// here, or waits and then ends what this transaction made.
pub fn live_app_until(
    conn: &mut DbConnection,
    client_id: &str,
    now: NaiveDateTime,
) -> Result<Result<Option<NaiveDateTime>, super::api_keys::MakerEnded>, StoreError> {
    let of_app = oauth_clients::table
        .filter(oauth_clients::client_id.eq(client_id))
        .select((oauth_clients::management, oauth_clients::ends_at));
    let found: Option<(bool, Option<NaiveDateTime>)> = match conn {
        DbConnection::Postgresql(pg) => of_app.for_update().first(pg).optional()?,
        DbConnection::Sqlite(sqlite) => of_app.first(sqlite).optional()?,
    };
    Ok(match found {
        Some((true, ends_at)) if ends_at.is_none_or(|end| end > now) => Ok(ends_at),
        _ => Err(super::api_keys::MakerEnded::Revoked),
    })
}

/// Within a write transaction: whether the client secret `id` is live at
/// `now` (what a token issued under it makes may be written), and until
/// when (its `expires_at`). Its row stays locked until the transaction
/// ends, as `live_app_until`'s, so a rotation or a key's revocation that
/// ends the secret either committed before and is seen here, or waits and
/// then ends what this transaction made.
pub fn live_secret_until(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<Result<Option<NaiveDateTime>, super::api_keys::MakerEnded>, StoreError> {
    let of_secret = client_secrets::table.filter(client_secrets::id.eq(id)).select(client_secrets::expires_at);
    let found: Option<Option<NaiveDateTime>> = match conn {
        DbConnection::Postgresql(pg) => of_secret.for_update().first(pg).optional()?,
        DbConnection::Sqlite(sqlite) => of_secret.first(sqlite).optional()?,
    };
    Ok(match found {
        Some(expires_at) if expires_at.is_none_or(|end| end > now) => Ok(expires_at),
        Some(_) => Err(super::api_keys::MakerEnded::Expired),
        None => Err(super::api_keys::MakerEnded::Revoked),
    })
}

/// The key a secret was issued through, and when it expires.
pub type SecretLineage = (Option<String>, Option<NaiveDateTime>);

/// `live_secret_until`, with the key the secret was issued through.
pub fn secret_lineage(
    conn: &mut DbConnection,
    id: &str,
    now: NaiveDateTime,
) -> Result<Result<SecretLineage, super::api_keys::MakerEnded>, StoreError> {
    let until = match live_secret_until(conn, id, now)? {
        Ok(until) => until,
        Err(ended) => return Ok(Err(ended)),
    };
    let key =
        client_secrets::table.filter(client_secrets::id.eq(id)).select(client_secrets::made_by_key).first(conn)?;
    Ok(Ok((key, until)))
}

/// Deletes the client secrets `secrets` and ends what the tokens issued
/// under them made: their keys are revoked, with what was made through
/// them, and their apps deleted (attacker round 12, findings 1, 3). The
/// tokens themselves are the caller's to end.
fn delete_secrets(conn: &mut DbConnection, secrets: &[String], now: NaiveDateTime) -> Result<(), StoreError> {
    if secrets.is_empty() {
        return Ok(());
    }
    diesel::delete(client_secrets::table.filter(client_secrets::id.eq_any(secrets))).execute(conn)?;
    super::api_keys::revoke_keys_made_under(conn, secrets, now)?;
    let apps = oauth_clients::table
        .filter(oauth_clients::made_by_secret.eq_any(secrets))
        .select((oauth_clients::id, oauth_clients::client_id))
        .load(conn)?;
    delete_each(conn, apps, now)?;
    Ok(())
}

/// The client secrets `secrets` expire at `until`, and what the tokens
/// issued under them made ends by then at the latest.
fn bound_secrets(conn: &mut DbConnection, secrets: &[String], until: NaiveDateTime) -> Result<(), StoreError> {
    if secrets.is_empty() {
        return Ok(());
    }
    diesel::update(client_secrets::table.filter(client_secrets::id.eq_any(secrets)))
        .set(client_secrets::expires_at.eq(until))
        .execute(conn)?;
    super::api_keys::bound_keys_made_under(conn, secrets, until)?;
    let apps: Vec<String> = oauth_clients::table
        .filter(oauth_clients::made_by_secret.eq_any(secrets))
        .select(oauth_clients::id)
        .load(conn)?;
    bound_apps(conn, &apps, until)
}

/// The apps `pks` end by `until` at the latest (unknown from then on,
/// deleted by the housekeeping).
fn bound_apps(conn: &mut DbConnection, pks: &[String], until: NaiveDateTime) -> Result<(), StoreError> {
    if pks.is_empty() {
        return Ok(());
    }
    diesel::update(
        oauth_clients::table
            .filter(oauth_clients::id.eq_any(pks))
            .filter(oauth_clients::ends_at.is_null().or(oauth_clients::ends_at.gt(until))),
    )
    .set(oauth_clients::ends_at.eq(until))
    .execute(conn)?;
    Ok(())
}

/// Ends what the management app `client_id` made with its tokens, as it
/// stops being one (deleted or demoted): its keys are revoked, with what
/// was made through them, and its apps deleted.
fn end_made_by_app(conn: &mut DbConnection, client_id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    let keys: Vec<String> = api_keys::table
        .filter(api_keys::made_by_app.eq(client_id))
        .filter(api_keys::revoked_at.is_null())
        .select(api_keys::id)
        .load(conn)?;
    for key in &keys {
        super::api_keys::revoke_key(conn, key, now)?;
    }
    let apps = oauth_clients::table
        .filter(oauth_clients::made_by_app.eq(client_id))
        .select((oauth_clients::id, oauth_clients::client_id))
        .load(conn)?;
    delete_each(conn, apps, now)?;
    Ok(())
}

/// Deletes the apps whose end has passed (their maker key's, machine's or
/// secret's: unknown already).
pub fn delete_ended_clients(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, StoreError> {
    let ended = oauth_clients::table
        .filter(oauth_clients::ends_at.le(now))
        .select((oauth_clients::id, oauth_clients::client_id))
        .load(conn)?;
    delete_each(conn, ended, now)
}

/// Deletes each (pk, client_id) as `delete_client` deletes one.
fn delete_each(
    conn: &mut DbConnection,
    clients: Vec<(String, String)>,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    for (pk, client_id) in &clients {
        delete_client(conn, pk, client_id, ("client", client_id), now)?;
    }
    Ok(clients.len())
}

/// Deletes the secrets issued through any of `keys` (revoked), and ends
/// the tokens of the apps that held them (what those secrets got).
pub fn end_secrets_made_by(conn: &mut DbConnection, keys: &[String], now: NaiveDateTime) -> Result<(), StoreError> {
    let secrets: Vec<(String, String)> = client_secrets::table
        .filter(client_secrets::made_by_key.eq_any(keys))
        .select((client_secrets::id, client_secrets::client_pk))
        .load(conn)?;
    if secrets.is_empty() {
        return Ok(());
    }
    let (ids, apps): (Vec<String>, Vec<String>) = secrets.into_iter().unzip();
    // Gone with what their tokens made; the tokens they got end too.
    delete_secrets(conn, &ids, now)?;
    diesel::update(oauth_clients::table.filter(oauth_clients::id.eq_any(&apps)))
        .set((oauth_clients::tokens_valid_after.eq(now), oauth_clients::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

/// The apps registered through any of `keys` end by `until` at the latest.
pub fn bound_clients_made_by(conn: &mut DbConnection, keys: &[String], until: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(
        oauth_clients::table
            .filter(oauth_clients::made_by_key.eq_any(keys))
            .filter(oauth_clients::ends_at.is_null().or(oauth_clients::ends_at.gt(until))),
    )
    .set(oauth_clients::ends_at.eq(until))
    .execute(conn)?;
    // And the secrets issued through them, and what their tokens made.
    let secrets = client_secrets::table
        .filter(client_secrets::made_by_key.eq_any(keys))
        .filter(client_secrets::expires_at.is_null().or(client_secrets::expires_at.gt(until)));
    let bounded: Vec<String> = secrets.select(client_secrets::id).load(conn)?;
    bound_secrets(conn, &bounded, until)?;
    // And what those of them that are management apps made: keys, and
    // apps (attacker round 12, finding 5: left to the housekeeping, they
    // got tokens until it deleted their maker).
    let apps: Vec<String> = oauth_clients::table
        .filter(oauth_clients::made_by_key.eq_any(keys))
        .select(oauth_clients::client_id)
        .load(conn)?;
    super::api_keys::bound_keys_made_by_apps(conn, &apps, until)?;
    if !apps.is_empty() {
        let made: Vec<String> = oauth_clients::table
            .filter(oauth_clients::made_by_app.eq_any(&apps))
            .select(oauth_clients::id)
            .load(conn)?;
        bound_apps(conn, &made, until)?;
    }
    Ok(())
}

/// A client with its organization and its secrets.
pub fn find_client(
    conn: &mut DbConnection,
    client_id: &str,
) -> Result<Option<(ClientRow, OrganizationRow, Vec<ClientSecretRow>)>, StoreError> {
    let found = oauth_clients::table
        .inner_join(organizations::table)
        .filter(oauth_clients::client_id.eq(client_id))
        .select((ClientRow::as_select(), OrganizationRow::as_select()))
        .first(conn)
        .optional()?;
    let Some((client, org)) = found else { return Ok(None) };
    let secrets = client_secrets::table
        .filter(client_secrets::client_pk.eq(&client.id))
        .select(ClientSecretRow::as_select())
        .load(conn)?;
    Ok(Some((client, org, secrets)))
}

pub fn list_clients(
    conn: &mut DbConnection,
    organization_id: Option<&str>,
) -> Result<Vec<(ClientRow, OrganizationRow)>, StoreError> {
    let mut q = oauth_clients::table
        .inner_join(organizations::table)
        .select((ClientRow::as_select(), OrganizationRow::as_select()))
        .order((organizations::name.asc(), oauth_clients::created_at.asc()))
        .into_boxed();
    if let Some(org) = organization_id {
        q = q.filter(oauth_clients::organization_id.eq(org));
    }
    Ok(q.load(conn)?)
}

/// A page of an organization's clients, newest first, after the client
/// with id `after`; `None` when that cursor is not a client of theirs.
pub fn list_clients_page(
    conn: &mut DbConnection,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Option<Vec<(ClientRow, OrganizationRow)>>, StoreError> {
    let cursor = match after {
        Some(id) => {
            let found = oauth_clients::table
                .filter(oauth_clients::organization_id.eq(organization_id))
                .filter(oauth_clients::client_id.eq(id))
                .select((oauth_clients::created_at, oauth_clients::client_id))
                .first::<(NaiveDateTime, String)>(conn)
                .optional()?;
            match found {
                Some(c) => Some(c),
                None => return Ok(None),
            }
        }
        None => None,
    };
    let mut q = oauth_clients::table
        .inner_join(organizations::table)
        .filter(oauth_clients::organization_id.eq(organization_id))
        .select((ClientRow::as_select(), OrganizationRow::as_select()))
        .order((oauth_clients::created_at.desc(), oauth_clients::client_id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = cursor {
        q = q.filter(
            oauth_clients::created_at.lt(at).or(oauth_clients::created_at.eq(at).and(oauth_clients::client_id.lt(id))),
        );
    }
    Ok(Some(q.load(conn)?))
}

#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = oauth_clients, treat_none_as_null = true)]
pub struct ClientUpdate {
    pub name: String,
    pub redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    pub require_pkce: bool,
    pub updated_at: NaiveDateTime,
    pub management: bool,
    pub resource_server: bool,
    pub created_by: Option<String>,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    // No subject_type or sector_identifier: fixed at registration, so an
    // update never writes them.
    pub id_token_signed_response_alg: String,
    /// `None` leaves it as it is.
    pub tokens_valid_after: Option<NaiveDateTime>,
}

/// What a change announces in the change log, so every instance drops
/// its cached copy: (topic, key, when).
pub type Announcement<'a> = (&'a str, &'a str);

/// Changes a client and announces it, in one transaction.
/// `management_ended`: the change turns management off (at that time), so
/// what the app's tokens made ends with it.
pub fn update_client(
    conn: &mut DbConnection,
    pk: &str,
    update: &ClientUpdate,
    (topic, key): Announcement<'_>,
    management_ended: Option<NaiveDateTime>,
) -> Result<(), StoreError> {
    super::write_transaction(conn, |c| {
        diesel::update(oauth_clients::table.find(pk)).set(update).execute(c)?;
        if let Some(now) = management_ended {
            let client_id: String = oauth_clients::table.find(pk).select(oauth_clients::client_id).first(c)?;
            end_made_by_app(c, &client_id, now)?;
        }
        record_invalidation(c, topic, key)
    })
}

/// Deletes a client and what it holds: secrets (by cascade), refresh
/// tokens and consents (keyed by client_id); announces it; one transaction.
pub fn delete_client(
    conn: &mut DbConnection,
    pk: &str,
    client_id: &str,
    (topic, key): Announcement<'_>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    super::write_transaction(conn, |c| {
        // The row first, locked, so a key or app its token is making now
        // either committed before (and ends here) or finds it gone.
        let of_app = oauth_clients::table.find(pk).select(oauth_clients::id);
        if let DbConnection::Postgresql(pg) = c {
            of_app.for_update().first::<String>(pg).optional()?;
        }
        end_made_by_app(c, client_id, now)?;
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::client_id.eq(client_id))).execute(c)?;
        diesel::delete(consents::table.filter(consents::client_id.eq(client_id))).execute(c)?;
        diesel::delete(client_secrets::table.filter(client_secrets::client_pk.eq(pk))).execute(c)?;
        diesel::delete(oauth_clients::table.find(pk)).execute(c)?;
        record_invalidation(c, topic, key)
    })
}

/// Ends the management power of the apps a member made in an organization,
/// when the member leaves it, and the tokens those apps hold: re-joining
/// must not revive them (attacker round 4, finding 5). The apps stay, as
/// ordinary apps; an ADMIN may turn management on again, which issues a
/// new secret. Returns how many apps lost it.
pub fn end_management_of_member(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let apps: Vec<String> = oauth_clients::table
        .filter(oauth_clients::organization_id.eq(organization_id))
        .filter(oauth_clients::created_by.eq(user_id))
        .filter(oauth_clients::management.eq(true))
        .select(oauth_clients::client_id)
        .load(conn)?;
    diesel::update(oauth_clients::table.filter(oauth_clients::client_id.eq_any(&apps)))
        .set((
            oauth_clients::management.eq(false),
            oauth_clients::tokens_valid_after.eq(now),
            oauth_clients::updated_at.eq(now),
        ))
        .execute(conn)?;
    // What their tokens made ends with their management.
    for app in &apps {
        end_made_by_app(conn, app, now)?;
    }
    Ok(apps.len())
}

/// Ends the tokens every app a user made holds (in any organization): a
/// user disabled acts for no one, and what their apps got meanwhile must
/// not wake when they are enabled.
pub fn cut_tokens_of_apps_by(conn: &mut DbConnection, user_id: &str, now: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::update(oauth_clients::table.filter(oauth_clients::created_by.eq(user_id)))
        .set((oauth_clients::tokens_valid_after.eq(now), oauth_clients::updated_at.eq(now)))
        .execute(conn)?)
}

/// The app no longer ends with the key or machine that registered it (a
/// person took it over with a new secret).
pub fn adopt_client(conn: &mut DbConnection, pk: &str) -> Result<(), StoreError> {
    diesel::update(oauth_clients::table.find(pk))
        .set((
            oauth_clients::made_by_key.eq(None::<String>),
            oauth_clients::made_by_app.eq(None::<String>),
            oauth_clients::ends_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Adds a new secret; the current ones stay valid until `old_valid_until`
/// (deleted at once when that is `None`), and long-expired ones go.
pub fn rotate_secret(
    conn: &mut DbConnection,
    new: &ClientSecretRow,
    old_valid_until: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    super::write_transaction(conn, |c| {
        let of_client = client_secrets::client_pk.eq(&new.client_pk);
        diesel::delete(client_secrets::table.filter(of_client).filter(client_secrets::expires_at.le(now)))
            .execute(c)?;
        match old_valid_until {
            Some(until) => {
                let bounded: Vec<String> = client_secrets::table
                    .filter(of_client)
                    .filter(client_secrets::expires_at.is_null().or(client_secrets::expires_at.gt(until)))
                    .select(client_secrets::id)
                    .load(c)?;
                // What their tokens made ends with the grace.
                bound_secrets(c, &bounded, until)?;
            }
            None => {
                let old: Vec<String> = client_secrets::table.filter(of_client).select(client_secrets::id).load(c)?;
                // No grace: what the old secrets obtained ends with them,
                // and what their tokens made (attacker round 12, finding 3:
                // the remedy for a leaked secret left the leaker's keys).
                delete_secrets(c, &old, now)?;
                diesel::update(oauth_clients::table.find(&new.client_pk))
                    .set(oauth_clients::tokens_valid_after.eq(now))
                    .execute(c)?;
            }
        }
        diesel::insert_into(client_secrets::table).values(new).execute(c)?;
        diesel::update(oauth_clients::table.find(&new.client_pk)).set(oauth_clients::updated_at.eq(now)).execute(c)?;
        Ok(())
    })
}
