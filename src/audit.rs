//! Audit events: who did what to which object, when, from where, under
//! which request id. Written beside the change they describe; reading
//! them is `GET /v1/audit-events`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::store::audit::{self as rows, AuditEventRow};
use crate::store::{Store, StoreError};

/// The context of the request that caused an event.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub actor: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: String,
    pub organization_id: String,
    pub action: String,
    pub actor: String,
    pub target: Option<String>,
    pub details: Value,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEventRow> for AuditEvent {
    fn from(r: AuditEventRow) -> Self {
        Self {
            details: serde_json::from_str(&r.details).unwrap_or(Value::Null),
            id: r.id,
            organization_id: r.organization_id,
            action: r.action,
            actor: r.actor,
            target: r.target,
            request_id: r.request_id,
            ip: r.ip,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// Appends an event. A failure is logged, never shown to the caller: the
/// change it describes has already happened.
pub async fn record(
    store: &Store,
    now: DateTime<Utc>,
    organization_id: &str,
    action: &str,
    origin: &Origin,
    target: Option<&str>,
    details: Value,
) {
    let row = AuditEventRow {
        // Time-ordered ids keep events of the same instant in insertion order.
        id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
        organization_id: organization_id.to_owned(),
        action: action.to_owned(),
        actor: origin.actor.clone(),
        target: target.map(str::to_owned),
        details: details.to_string(),
        request_id: origin.request_id.clone().or_else(crate::telemetry::current_request_id),
        ip: origin.ip.clone(),
        created_at: now.naive_utc(),
    };
    if let Err(e) = store.run(move |conn| rows::insert_event(conn, &row)).await {
        tracing::error!(cause = %e, action, "could not write an audit event");
    }
}

pub async fn list(
    store: &Store,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Option<Vec<AuditEvent>>, StoreError> {
    let org = organization_id.to_owned();
    let cursor = match after {
        Some(id) => {
            let (o, i) = (org.clone(), id.to_owned());
            match store.run(move |conn| rows::find_event(conn, &o, &i)).await? {
                Some(e) => Some((e.created_at, e.id)),
                None => return Ok(None),
            }
        }
        None => None,
    };
    let events = store.run(move |conn| rows::list_events(conn, &org, cursor, limit)).await?;
    Ok(Some(events.into_iter().map(AuditEvent::from).collect()))
}
