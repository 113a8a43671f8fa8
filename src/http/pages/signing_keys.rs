//! `/dashboard/orgs/{org}/signing-keys`: the server's signing keys, read
//! only, for an organization's ADMINs and OWNERs.
//!
//! There is deliberately no rotate button. The keys sign the tokens of
//! every organization of this server, so rotating (or retiring) one is an
//! operator's act (`portcullis signing-key rotate`), never a tenant's: an
//! administrator of one organization must not be able to change what every
//! other organization's clients verify against.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::org::{InOrg, Shell};
use super::render;
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::tokens::signing::{KeyListing, list_keys};

pub struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    /// active, next or retired.
    pub state: &'static str,
    pub created: String,
    pub age: String,
    /// When it starts signing (next) or stops being published (retired).
    pub until: String,
    pub signs_access_tokens: bool,
}

#[derive(Template)]
#[template(path = "signing_keys.html")]
struct SigningKeysPage {
    shell: Shell,
    keys: Vec<KeyRow>,
}

/// "3 days", "5 hours", "12 minutes", "just now": how long ago, roughly.
fn age(since: chrono::Duration) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match (since.num_days(), since.num_hours(), since.num_minutes()) {
        (d, _, _) if d > 0 => plural(d, "day"),
        (_, h, _) if h > 0 => plural(h, "hour"),
        (_, _, m) if m > 0 => plural(m, "minute"),
        _ => "just now".into(),
    }
}

fn row(k: KeyListing, now: chrono::DateTime<chrono::Utc>) -> KeyRow {
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    KeyRow {
        state: match k.state.as_str() {
            "current" => "active",
            "next" => "next",
            _ => "retired",
        },
        created: when(k.created_at),
        age: age(now - k.created_at),
        until: k.until.map(when).unwrap_or_default(),
        signs_access_tokens: k.signs_access_tokens,
        kid: k.kid,
        algorithm: k.algorithm,
    }
}

pub async fn list(state: web::Data<AppState>, in_org: InOrg) -> Result<HttpResponse, PageError> {
    if !in_org.principal.is_administrator() {
        return Err(PageError::Forbidden("The signing keys are shown to the organization's ADMINs and OWNERs.".into()));
    }
    let (config, store) = (state.config.clone(), state.store.clone());
    let listed = web::block(move || list_keys(&config, &store))
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let now = state.clock.now();
    let keys = listed.into_iter().map(|k| row(k, now)).collect();
    render(StatusCode::OK, &SigningKeysPage { shell: in_org.shell("signing-keys"), keys }, None)
}
