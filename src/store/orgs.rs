//! Organizations and memberships.

use diesel::prelude::*;

use super::models::{MembershipRow, OrganizationRow, UserRow};
use super::schema::{api_keys, memberships, oauth_clients, organizations, users};
use super::{DbConnection, StoreError};

pub fn insert_organization(conn: &mut DbConnection, row: &OrganizationRow) -> Result<(), StoreError> {
    diesel::insert_into(organizations::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_organizations_by_name(conn: &mut DbConnection, name: &str) -> Result<Vec<OrganizationRow>, StoreError> {
    Ok(organizations::table.filter(organizations::name.eq(name)).select(OrganizationRow::as_select()).load(conn)?)
}

pub fn find_organization(conn: &mut DbConnection, id: &str) -> Result<Option<OrganizationRow>, StoreError> {
    Ok(organizations::table.find(id).select(OrganizationRow::as_select()).first(conn).optional()?)
}

/// Every organization with its number of members, oldest first.
pub fn list_organizations(conn: &mut DbConnection) -> Result<Vec<(OrganizationRow, i64)>, StoreError> {
    let orgs: Vec<OrganizationRow> = organizations::table
        .order((organizations::created_at.asc(), organizations::id.asc()))
        .select(OrganizationRow::as_select())
        .load(conn)?;
    let counts: Vec<(String, i64)> = memberships::table
        .group_by(memberships::organization_id)
        .select((memberships::organization_id, diesel::dsl::count_star()))
        .load(conn)?;
    let counts: std::collections::HashMap<String, i64> = counts.into_iter().collect();
    Ok(orgs
        .into_iter()
        .map(|o| {
            let n = counts.get(&o.id).copied().unwrap_or(0);
            (o, n)
        })
        .collect())
}

pub fn insert_membership(conn: &mut DbConnection, row: &MembershipRow) -> Result<(), StoreError> {
    diesel::insert_into(memberships::table).values(row).execute(conn)?;
    Ok(())
}

/// A user's memberships with their organizations, oldest first.
pub fn memberships_of_user(
    conn: &mut DbConnection,
    user_id: &str,
) -> Result<Vec<(MembershipRow, OrganizationRow)>, StoreError> {
    Ok(memberships::table
        .inner_join(organizations::table)
        .filter(memberships::user_id.eq(user_id))
        .order((memberships::created_at.asc(), organizations::name.asc()))
        .select((MembershipRow::as_select(), OrganizationRow::as_select()))
        .load(conn)?)
}

/// A page of an organization's members with their users, oldest first,
/// after the member with user id `after`; `None` when that is no member.
pub fn members_page(
    conn: &mut DbConnection,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Option<Vec<(MembershipRow, UserRow)>>, StoreError> {
    let cursor = match after {
        Some(id) => match find_membership(conn, organization_id, id)? {
            Some(m) => Some((m.created_at, m.user_id)),
            None => return Ok(None),
        },
        None => None,
    };
    let mut q = memberships::table
        .inner_join(users::table)
        .filter(memberships::organization_id.eq(organization_id))
        .select((MembershipRow::as_select(), UserRow::as_select()))
        .order((memberships::created_at.asc(), memberships::user_id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = cursor {
        q = q
            .filter(memberships::created_at.gt(at).or(memberships::created_at.eq(at).and(memberships::user_id.gt(id))));
    }
    Ok(Some(q.load(conn)?))
}

pub fn find_membership(
    conn: &mut DbConnection,
    organization_id: &str,
    user_id: &str,
) -> Result<Option<MembershipRow>, StoreError> {
    Ok(memberships::table.find((organization_id, user_id)).select(MembershipRow::as_select()).first(conn).optional()?)
}

/// Runs `f` in a transaction that holds the organization's owner rows
/// against concurrent changes: `FOR UPDATE` on PostgreSQL, an immediate
/// (write-locked) transaction on SQLite. Used so that two admins acting at
/// once can never remove the last OWNER between them.
pub fn with_owners_locked<T>(
    conn: &mut DbConnection,
    organization_id: &str,
    mut f: impl FnMut(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    super::write_transaction(conn, |c| {
        lock_owners(c, organization_id)?;
        f(c)
    })
}

/// Within a write transaction: holds the organization's owner rows against
/// concurrent changes until it ends (see `with_owners_locked`).
pub fn lock_owners(conn: &mut DbConnection, organization_id: &str) -> Result<(), StoreError> {
    use diesel::sql_types::Text;
    if let DbConnection::Postgresql(_) = conn {
        diesel::sql_query("SELECT 1 FROM memberships WHERE organization_id = $1 AND role = 'OWNER' FOR UPDATE")
            .bind::<Text, _>(organization_id)
            .execute(conn)?;
    }
    Ok(())
}

/// Within a write transaction: holds the organization's row until it ends
/// (PostgreSQL `FOR UPDATE`, which a new membership's foreign key check
/// waits for: no one joins meanwhile; SQLite's immediate transaction holds
/// the write lock already).
pub fn lock_organization(conn: &mut DbConnection, organization_id: &str) -> Result<(), StoreError> {
    if let DbConnection::Postgresql(pg) = conn {
        organizations::table.find(organization_id).select(organizations::id).for_update().load::<String>(pg)?;
    }
    Ok(())
}

/// Within a write transaction: whether the user is a member, with the
/// membership row locked against removal until the transaction ends
/// (PostgreSQL `FOR SHARE`; SQLite's immediate transaction holds the write
/// lock already).
pub fn membership_held(conn: &mut DbConnection, organization_id: &str, user_id: &str) -> Result<bool, StoreError> {
    let of_member = memberships::table
        .filter(memberships::organization_id.eq(organization_id))
        .filter(memberships::user_id.eq(user_id))
        .select(memberships::role);
    let role: Option<String> = match conn {
        DbConnection::Postgresql(pg) => of_member.for_share().first(pg).optional()?,
        DbConnection::Sqlite(sqlite) => of_member.first(sqlite).optional()?,
    };
    Ok(role.is_some())
}

pub fn count_owners(conn: &mut DbConnection, organization_id: &str) -> Result<i64, StoreError> {
    Ok(memberships::table
        .filter(memberships::organization_id.eq(organization_id))
        .filter(memberships::role.eq("OWNER"))
        .count()
        .get_result(conn)?)
}

pub fn count_members(conn: &mut DbConnection, organization_id: &str) -> Result<i64, StoreError> {
    Ok(memberships::table.filter(memberships::organization_id.eq(organization_id)).count().get_result(conn)?)
}

/// Whether an organization holds something of its own besides its members:
/// a live API key or an OAuth app (what deleting it would lose).
pub fn holds_data(conn: &mut DbConnection, organization_id: &str) -> Result<bool, StoreError> {
    let keys: i64 = api_keys::table
        .filter(api_keys::organization_id.eq(organization_id))
        .filter(api_keys::revoked_at.is_null())
        .count()
        .get_result(conn)?;
    let apps: i64 =
        oauth_clients::table.filter(oauth_clients::organization_id.eq(organization_id)).count().get_result(conn)?;
    Ok(keys + apps > 0)
}

/// Deletes an organization with everything in it (the schema's cascades);
/// true when there was one.
pub fn delete_organization(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(organizations::table.find(id)).execute(conn)? == 1)
}

pub fn set_role(conn: &mut DbConnection, organization_id: &str, user_id: &str, role: &str) -> Result<(), StoreError> {
    diesel::update(memberships::table.find((organization_id, user_id)))
        .set(memberships::role.eq(role))
        .execute(conn)?;
    Ok(())
}

pub fn delete_membership(conn: &mut DbConnection, organization_id: &str, user_id: &str) -> Result<(), StoreError> {
    diesel::delete(memberships::table.find((organization_id, user_id))).execute(conn)?;
    Ok(())
}

/// Renames an organization; false when there is none with that id.
pub fn rename_organization(conn: &mut DbConnection, id: &str, name: &str) -> Result<bool, StoreError> {
    Ok(diesel::update(organizations::table.find(id)).set(organizations::name.eq(name)).execute(conn)? == 1)
}
