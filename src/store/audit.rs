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

/// What a listing keeps: all of it when every field is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// The event kind, e.g. `member.removed`.
    pub action: Option<String>,
    /// The actor as recorded, e.g. `user:{id}` or `api_key:{id}`.
    pub actor: Option<String>,
    /// Events at or after this time.
    pub since: Option<NaiveDateTime>,
    /// Events before this time.
    pub before: Option<NaiveDateTime>,
}

/// Newest first; `after` is the (time, id) of the last event already seen.
pub fn list_events(
    conn: &mut DbConnection,
    organization_id: &str,
    filter: &EventFilter,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<AuditEventRow>, StoreError> {
    let mut q = audit_events::table
        .filter(audit_events::organization_id.eq(organization_id))
        .select(AuditEventRow::as_select())
        .order((audit_events::created_at.desc(), audit_events::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(action) = &filter.action {
        q = q.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(actor) = &filter.actor {
        q = q.filter(audit_events::actor.eq(actor.clone()));
    }
    if let Some(since) = filter.since {
        q = q.filter(audit_events::created_at.ge(since));
    }
    if let Some(before) = filter.before {
        q = q.filter(audit_events::created_at.lt(before));
    }
    if let Some((at, id)) = after {
        q = q.filter(audit_events::created_at.lt(at).or(audit_events::created_at.eq(at).and(audit_events::id.lt(id))));
    }
    Ok(q.load(conn)?)
}

/// The event kinds and the actors of an organization's log, each sorted.
pub fn kinds_and_actors(
    conn: &mut DbConnection,
    organization_id: &str,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let of_org = audit_events::organization_id.eq(organization_id);
    let kinds = audit_events::table
        .filter(of_org)
        .select(audit_events::action)
        .distinct()
        .order(audit_events::action)
        .load(conn)?;
    let of_org = audit_events::organization_id.eq(organization_id);
    let actors = audit_events::table
        .filter(of_org)
        .select(audit_events::actor)
        .distinct()
        .order(audit_events::actor)
        .load(conn)?;
    Ok((kinds, actors))
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
