//! Organizations and memberships.

use diesel::prelude::*;

use super::models::{MembershipRow, OrganizationRow};
use super::schema::{memberships, organizations};
use super::{DbConnection, StoreError};

pub fn insert_organization(conn: &mut DbConnection, row: &OrganizationRow) -> Result<(), StoreError> {
    diesel::insert_into(organizations::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_organizations_by_name(conn: &mut DbConnection, name: &str) -> Result<Vec<OrganizationRow>, StoreError> {
    Ok(organizations::table.filter(organizations::name.eq(name)).select(OrganizationRow::as_select()).load(conn)?)
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
