//! Audit events: who did what to which object, when, from where, under
//! which request id. Written beside the change they describe; reading
//! them is `GET /v1/audit-events`.

use std::collections::HashMap;

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
    let row = event(origin, organization_id, action, target, details, now);
    if let Err(e) = store.run(move |conn| rows::insert_event(conn, &row)).await {
        tracing::error!(cause = %e, action, "could not write an audit event");
    }
}

/// An event's row, for a caller that writes it in the transaction of the
/// change it describes (`store::audit::insert_event`), so that both commit
/// or neither does. Made where the request's id is known (not in a
/// blocking closure).
pub fn event(
    origin: &Origin,
    organization_id: &str,
    action: &str,
    target: Option<&str>,
    details: Value,
    now: DateTime<Utc>,
) -> AuditEventRow {
    AuditEventRow {
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
    }
}

pub use crate::store::audit::EventFilter;

pub async fn list(
    store: &Store,
    organization_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Option<Vec<AuditEvent>>, StoreError> {
    list_filtered(store, organization_id, &EventFilter::default(), after, limit).await
}

/// A page of the events `filter` keeps, newest first; `None` when the
/// cursor (an event id) is unknown.
pub async fn list_filtered(
    store: &Store,
    organization_id: &str,
    filter: &EventFilter,
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
    let filter = filter.clone();
    let events = store.run(move |conn| rows::list_events(conn, &org, &filter, cursor, limit)).await?;
    Ok(Some(events.into_iter().map(AuditEvent::from).collect()))
}

/// A filter field that could not be read: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFilter {
    pub field: &'static str,
    pub message: String,
}

/// The filter of a listing as a page or `/v1` sends it: `from` and `to`
/// are dates (`YYYY-MM-DD`, UTC), both days included; empty means unset.
pub fn parse_filter(
    action: Option<&str>,
    actor: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<EventFilter, BadFilter> {
    let given = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let day = |field: &'static str, v: Option<&str>| -> Result<Option<chrono::NaiveDate>, BadFilter> {
        given(v)
            .map(|v| {
                chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                    .map_err(|_| BadFilter { field, message: format!("{field} must be a date (YYYY-MM-DD).") })
            })
            .transpose()
    };
    let (from, to) = (day("from", from)?, day("to", to)?);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(BadFilter { field: "to", message: "to must not be before from.".into() });
    }
    Ok(EventFilter {
        action: given(action),
        actor: given(actor),
        since: from.and_then(|d| d.and_hms_opt(0, 0, 0)),
        before: to.and_then(|d| d.succ_opt()).and_then(|d| d.and_hms_opt(0, 0, 0)),
    })
}

/// The event kinds and actors present in an organization's log, for a
/// page's filters.
pub async fn kinds_and_actors(store: &Store, organization_id: &str) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let org = organization_id.to_owned();
    store.run(move |conn| rows::kinds_and_actors(conn, &org)).await
}

/// How a page names each actor: a user (`user:{id}`) and an API key
/// (`api_key:{id}`, by its creator) by email; anything else (an app, the
/// CLI, a key whose creator is gone) as recorded.
pub async fn actor_names(
    store: &Store,
    organization_id: &str,
    actors: Vec<String>,
) -> Result<HashMap<String, String>, StoreError> {
    let org = organization_id.to_owned();
    store
        .run(move |conn| {
            let mut names = HashMap::new();
            for actor in actors {
                if names.contains_key(&actor) {
                    continue;
                }
                let name = if let Some(user) = actor.strip_prefix("user:") {
                    crate::store::users::find_user(conn, user)?.map(|u| u.email)
                } else if let Some(key) = actor.strip_prefix("api_key:") {
                    let creator = crate::store::api_keys::find_key(conn, &org, key)?.and_then(|k| k.created_by);
                    match creator {
                        Some(c) => {
                            crate::store::users::find_user(conn, &c)?.map(|u| format!("{} (API key {key})", u.email))
                        }
                        None => None,
                    }
                } else {
                    None
                };
                let name = name.unwrap_or_else(|| actor.clone());
                names.insert(actor, name);
            }
            Ok(names)
        })
        .await
}
