//! The audit log: append-only rows, read a page at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEventRow {
    pub id: String,
    pub organization_id: String,
    pub action: String,
    pub actor: String,
    pub target: Option<String>,
    pub details: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_event(conn: &mut DbConnection, row: &AuditEventRow) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table).values(row).execute(conn)?;
    Ok(())
}

/// Newest first; `after` is the (time, id) of the last event already seen.
pub fn list_events(
    conn: &mut DbConnection,
    organization_id: &str,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<AuditEventRow>, StoreError> {
    let mut q = audit_events::table
        .filter(audit_events::organization_id.eq(organization_id))
        .select(AuditEventRow::as_select())
        .order((audit_events::created_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        q = q.filter(audit_events::created_at.lt(at).or(audit_events::created_at.eq(at).and(audit_events::id.lt(id))));
    }
    Ok(q.load(conn)?)
}

pub fn find_event(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
) -> Result<Option<AuditEventRow>, StoreError> {
    Ok(audit_events::table
        .filter(audit_events::organization_id.eq(organization_id))
        .filter(audit_events::id.eq(id))
        .select(AuditEventRow::as_select())
        .first(conn)
        .optional()?)
}
