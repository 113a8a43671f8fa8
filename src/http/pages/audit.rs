//! `/dashboard/orgs/{org}/audit`: the organization's audit log, newest
//! first, filtered by kind, actor and days, for those `/v1/audit-events`
//! serves (`admin` or `audit:read`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::org::{InOrg, Shell};
use super::render;
use crate::http::AppState;
use crate::http::errors::PageError;

/// Events shown on one page.
const PAGE_SIZE: i64 = 25;

pub struct EventRow {
    pub id: String,
    pub datetime: String,
    pub day: String,
    /// `HH:MM:SS UTC`.
    pub time: String,
    pub action: String,
    pub actor: String,
    pub target: String,
    /// The details as (name, value) pairs.
    pub details: Vec<(String, String)>,
    pub ip: String,
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    shell: Shell,
    events: Vec<EventRow>,
    kinds: Vec<String>,
    /// (actor as recorded, how it is named).
    actors: Vec<(String, String)>,
    q: AuditQuery,
    /// The filter field that could not be read, and why.
    error_field: &'static str,
    error: Option<String>,
    older: Option<String>,
    filtered: bool,
}

#[derive(Deserialize, Default, Clone)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: Option<String>,
}

impl AuditPage {
    fn kind_selected(&self, kind: &str) -> bool {
        self.q.action == kind
    }
    fn actor_selected(&self, actor: &str) -> bool {
        self.q.actor == actor
    }
}

/// A detail's value as text: strings bare, everything else as JSON.
fn readable(details: Value) -> Vec<(String, String)> {
    let text = |v: Value| match v {
        Value::String(s) => s,
        Value::Null => "—".into(),
        other => other.to_string(),
    };
    match details {
        Value::Object(map) => map.into_iter().map(|(k, v)| (k.replace('_', " "), text(v))).collect(),
        Value::Null => Vec::new(),
        other => vec![("details".into(), text(other))],
    }
}

/// The link to the next (older) page, keeping the filters.
fn older_href(shell: &Shell, q: &AuditQuery, last: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [("action", &q.action), ("actor", &q.actor), ("from", &q.from), ("to", &q.to)] {
        if !value.is_empty() {
            query.append_pair(name, value);
        }
    }
    query.append_pair("after", last);
    shell.href(&format!("audit?{}", query.finish()))
}

pub async fn list(
    state: web::Data<AppState>,
    in_org: InOrg,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    let p = &in_org.principal;
    if !p.allows("admin", Some("audit:read")) {
        return Err(PageError::Forbidden("The audit log is for the organization's ADMINs and OWNERs.".into()));
    }
    let q = q.into_inner();
    let org = &p.organization_id;
    let (kinds, actor_ids) = crate::audit::kinds_and_actors(&state.store, org).await?;
    let filter = crate::audit::parse_filter(Some(&q.action), Some(&q.actor), Some(&q.from), Some(&q.to));
    let (status, events, error_field, error) = match filter {
        Ok(filter) => {
            let events =
                crate::audit::list_filtered(&state.store, org, &filter, q.after.as_deref(), PAGE_SIZE + 1).await?;
            // An unknown cursor (an event of another organization) is no page.
            (StatusCode::OK, events.ok_or(PageError::NotFound)?, "", None)
        }
        Err(bad) => (StatusCode::BAD_REQUEST, Vec::new(), bad.field, Some(bad.message)),
    };
    let mut names_of = actor_ids.clone();
    names_of.extend(events.iter().map(|e| e.actor.clone()));
    let names = crate::audit::actor_names(&state.store, org, names_of).await?;
    let name = |actor: &str| names.get(actor).cloned().unwrap_or_else(|| actor.to_owned());
    let shell = in_org.shell("audit");
    let older = (events.len() as i64 > PAGE_SIZE)
        .then(|| events.get(PAGE_SIZE as usize - 1).map(|e| older_href(&shell, &q, &e.id)))
        .flatten();
    let rows = events
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|e| EventRow {
            datetime: e.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            day: e.created_at.format("%Y-%m-%d").to_string(),
            time: e.created_at.format("%H:%M:%S UTC").to_string(),
            actor: name(&e.actor),
            target: e.target.unwrap_or_default(),
            details: readable(e.details),
            ip: e.ip.unwrap_or_default(),
            request_id: e.request_id.unwrap_or_default(),
            id: e.id,
            action: e.action,
        })
        .collect();
    let actors = actor_ids.iter().map(|a| (a.clone(), name(a))).collect();
    let filtered = !(q.action.is_empty() && q.actor.is_empty() && q.from.is_empty() && q.to.is_empty());
    let page = AuditPage { shell, events: rows, kinds, actors, q, error_field, error, older, filtered };
    render(status, &page, None)
}
