//! `/dashboard/orgs/{org}/keys`: an organization's API keys, for the
//! signed-in person, with the power of their `/v1` token there. Creating,
//! rolling and revoking go through `key_management`, as `/v1/api-keys`
//! does: the same checks, the same audit events.
//!
//! A new key's plaintext is shown once, in the answer to the POST that
//! made it (201, `Cache-Control: no-store` like every page), not behind a
//! redirect: post/redirect/get would have to carry the secret to the GET
//! in a URL, a cookie or server-side storage, and each would keep it
//! somewhere (history, logs, memory or a database every instance shares)
//! after it was shown. Reloading the answer asks the browser to post the
//! form again: its single-use token ([`crate::form_submissions`]) is spent
//! by then, so that POST makes no second key and says so (409).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::org::{InOrg, Shell};
use super::{Made, ONCE_FIELD, Posted, already_made, render, see_other};
use crate::apikeys::{ApiKey, KeyError, KeyField, KeyKind};
use crate::authority::{Denied, Principal};
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::session::verify_form_token;
use crate::key_management::{DEFAULT_OVERLAP_SECS, KeyRequest, Refused, Rolled, Why};

/// Keys a page lists.
const PAGE_SIZE: i64 = 20;

/// How long a rolled key may keep working, as the roll form offers it.
const OVERLAPS: [(i64, &str); 4] =
    [(0, "Stop it now"), (3600, "1 hour"), (DEFAULT_OVERLAP_SECS, "24 hours"), (7 * 86400, "7 days")];

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// One key as the list shows it: never its secret.
struct KeyRow {
    id: String,
    name: String,
    masked: String,
    environment: &'static str,
    kind: &'static str,
    scopes: Vec<String>,
    creator: String,
    last_used: Option<String>,
    expires: Option<String>,
    /// `active`, `expiring`, `expired` or `revoked` (also its CSS class),
    /// and since or until when.
    status: &'static str,
    status_at: Option<String>,
    may_roll: bool,
    may_revoke: bool,
}

/// A scope the form offers.
struct ScopeChoice {
    id: String,
    name: String,
    description: String,
    checked: bool,
}

#[derive(Default)]
struct FieldErrors {
    general: Option<String>,
    name: Option<String>,
    environment: Option<String>,
    kind: Option<String>,
    scopes: Option<String>,
    expires_on: Option<String>,
}

impl FieldErrors {
    /// Puts `worded` (a sentence for people) next to `field`.
    fn set(&mut self, field: Option<KeyField>, worded: String) {
        let slot = match field {
            Some(KeyField::Name) => &mut self.name,
            Some(KeyField::Environment) => &mut self.environment,
            Some(KeyField::Type) => &mut self.kind,
            Some(KeyField::Scopes) => &mut self.scopes,
            // The domain names the API's field (`expires_at`); the form has a date.
            Some(KeyField::ExpiresAt) => {
                self.expires_on = Some("Choose a date in the future.".into());
                return;
            }
            Some(KeyField::RateLimit | KeyField::Overlap) | None => &mut self.general,
        };
        *slot = Some(worded);
    }
}

/// The create form, as sent (kept on an error) or empty.
struct CreateForm {
    name: String,
    environment: String,
    kind: String,
    expires_on: String,
    scopes: Vec<ScopeChoice>,
    errors: FieldErrors,
    /// The form's single-use token (a new one each time it is shown).
    once: String,
}

/// The key shown once, on the answer that made it.
struct Created {
    name: String,
    plaintext: String,
    /// For a roll: what became of the old key.
    old: Option<String>,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    shell: Shell,
    keys: Vec<KeyRow>,
    /// Links to the next page of keys and back to the first.
    next: Option<String>,
    first: Option<String>,
    form: Option<CreateForm>,
    created: Option<Created>,
    notice: Option<String>,
}

/// A choice of the roll form.
struct Overlap {
    secs: i64,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "key_confirm.html")]
struct ConfirmPage {
    shell: Shell,
    key: KeyRow,
    rolling: bool,
    overlaps: Vec<Overlap>,
    error: Option<String>,
    /// The roll form's single-use token.
    once: String,
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    revoked: Option<String>,
}

/// The create form's fields: `scopes` comes once per ticked box.
fn create_form(state: &AppState, p: &Principal, pairs: &[(String, String)]) -> CreateForm {
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let ticked: Vec<&str> = pairs.iter().filter(|(k, _)| k == "scopes").map(|(_, v)| v.as_str()).collect();
    let scopes = state
        .api_keys
        .key_scopes()
        .into_iter()
        // Only what this member may give a key (the server checks again).
        .filter(|(name, _)| p.may_create_key(KeyKind::Secret, std::slice::from_ref(name)).is_ok())
        .map(|(name, description)| ScopeChoice {
            id: format!("scope-{}", name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
            checked: ticked.contains(&name.as_str()),
            name,
            description,
        })
        .collect();
    let or = |value: String, default: &str| if value.is_empty() { default.to_owned() } else { value };
    CreateForm {
        name: field("name"),
        environment: or(field("environment"), "live"),
        kind: or(field("type"), "secret"),
        expires_on: field("expires_on"),
        scopes,
        errors: FieldErrors::default(),
        once: super::once_token(state),
    }
}

/// What the list shows of a key to this person.
fn row(p: &Principal, key: &ApiKey, creator: String, now: DateTime<Utc>) -> KeyRow {
    let (status, status_at) = match (key.revoked_at, key.expires_at) {
        (Some(at), _) => ("revoked", Some(when(at))),
        (None, Some(at)) if at <= now => ("expired", Some(when(at))),
        (None, Some(at)) => ("expiring", Some(format!("at {}", when(at)))),
        (None, None) => ("active", None),
    };
    let live = key.revoked_at.is_none();
    let mine = p.may_manage(key.created_by.as_deref());
    KeyRow {
        id: key.id.clone(),
        name: key.name.clone(),
        masked: format!("{}…{}", key.prefix, key.last_four),
        environment: key.environment.as_str(),
        kind: key.kind.as_str(),
        scopes: key.scopes.iter().cloned().collect(),
        creator,
        last_used: key.last_used_at.map(when),
        expires: key.expires_at.map(when),
        status,
        status_at,
        may_roll: live && mine && p.allows("write", Some("keys:write")),
        may_revoke: live && mine && p.allows("delete", Some("keys:delete")),
    }
}

/// Who made a key, by email (a deleted account: "a former member").
async fn creator_email(state: &AppState, created_by: Option<&str>) -> Result<String, PageError> {
    Ok(match created_by {
        Some(id) => state.accounts.user(id).await?.map_or_else(|| "a former member".to_owned(), |u| u.email),
        None => "the command line".to_owned(),
    })
}

async fn rows(state: &AppState, p: &Principal, keys: &[ApiKey]) -> Result<Vec<KeyRow>, PageError> {
    let now = state.clock.now();
    let mut emails: Vec<(Option<String>, String)> = Vec::new();
    let mut rows = Vec::with_capacity(keys.len());
    for key in keys {
        let email = match emails.iter().find(|(id, _)| *id == key.created_by) {
            Some((_, email)) => email.clone(),
            None => {
                let email = creator_email(state, key.created_by.as_deref()).await?;
                emails.push((key.created_by.clone(), email.clone()));
                email
            }
        };
        rows.push(row(p, key, email, now));
    }
    Ok(rows)
}

/// The keys page: a page of keys (`after`: the last key of the previous
/// page) and, for those who may create keys, the form.
async fn keys_page(
    state: &AppState,
    in_org: &InOrg,
    after: Option<&str>,
    form: CreateForm,
    created: Option<Created>,
    notice: Option<String>,
) -> Result<KeysPage, PageError> {
    let p = &in_org.principal;
    if !p.allows("read", Some("keys:read")) {
        return Err(PageError::Forbidden("Your role in this organization does not show API keys.".into()));
    }
    let mut keys = state.api_keys.list(&p.organization_id, after.filter(|a| !a.is_empty()), PAGE_SIZE + 1).await?;
    let more = keys.len() as i64 > PAGE_SIZE;
    keys.truncate(PAGE_SIZE as usize);
    let shell = in_org.shell("keys");
    let next = more.then(|| keys.last().map(|k| shell.href(&format!("keys?after={}", k.id)))).flatten();
    let first = after.is_some().then(|| shell.href("keys"));
    Ok(KeysPage {
        keys: rows(state, p, &keys).await?,
        next,
        first,
        form: shell.allows("write", "keys:write").then_some(form),
        shell,
        created,
        notice,
    })
}

pub async fn list(
    state: web::Data<AppState>,
    in_org: InOrg,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, PageError> {
    let form = create_form(&state, &in_org.principal, &[]);
    // The notice names a key of this organization only (a made-up id says nothing).
    let notice = match query.revoked.as_deref() {
        Some(id) => state
            .api_keys
            .get(&in_org.principal.organization_id, id)
            .await
            .ok()
            .map(|k| format!("“{}” was revoked. Requests with it now fail.", k.name)),
        None => None,
    };
    let page = keys_page(&state, &in_org, query.after.as_deref(), form, None, notice).await?;
    render(StatusCode::OK, &page, None)
}

/// The form's expiry date: the key stops at the end of that day, UTC.
fn expiry(value: &str) -> Result<Option<DateTime<Utc>>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| "Enter the date as YYYY-MM-DD.".to_owned())?;
    Ok(day.and_hms_opt(23, 59, 59).map(|t| t.and_utc()))
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let pairs = form.into_inner();
    let token = pairs.iter().find(|(k, _)| k == "csrf_token").map(|(_, v)| v.as_str()).unwrap_or_default();
    verify_form_token(&req, &state.config, Some(&in_org.session), token)?;
    let p = &in_org.principal;
    let mut form = create_form(&state, p, &pairs);
    let expires_at = match expiry(&form.expires_on) {
        Ok(t) => t,
        Err(message) => {
            form.errors.expires_on = Some(message);
            let page = keys_page(&state, &in_org, None, form, None, None).await?;
            return render(StatusCode::BAD_REQUEST, &page, None);
        }
    };
    let request = KeyRequest {
        name: form.name.clone(),
        kind: Some(form.kind.clone()),
        environment: Some(form.environment.clone()),
        scopes: pairs.iter().filter(|(k, _)| k == "scopes").map(|(_, v)| v.clone()).collect(),
        expires_at,
        rate_limit_per_minute: None,
    };
    let user_id = &in_org.session.user.id;
    let once = pairs.iter().find(|(k, _)| k == ONCE_FIELD).map(|(_, v)| v.as_str());
    let claimed = match Posted::claim(&state, user_id, once).await? {
        Posted::First(claimed) => claimed,
        Posted::Again => return already_made(&in_org, Made::Key),
        Posted::Expired(message) => {
            form.errors.general = Some(message.into());
            let page = keys_page(&state, &in_org, None, form, None, None).await?;
            return render(StatusCode::BAD_REQUEST, &page, None);
        }
    };
    match state.key_management().create(p, &p.origin(&req), request).await {
        Ok((key, plaintext)) => {
            let created = Created { name: key.name, plaintext, old: None };
            let empty = create_form(&state, p, &[]);
            let page = keys_page(&state, &in_org, None, empty, Some(created), None).await?;
            render(StatusCode::CREATED, &page, None)
        }
        Err(refused) => {
            Posted::release(claimed, &state, user_id).await?;
            let status = on_form(refused, &mut form.errors)?;
            let page = keys_page(&state, &in_org, None, form, None, None).await?;
            render(status, &page, None)
        }
    }
}

/// A refusal the form shows next to its field, with the answer's status
/// (400 for bad input, 403 for what is beyond the person's power); what
/// no field is about (the role, another's key, an unknown key) is an
/// error page.
fn on_form(refused: Refused, errors: &mut FieldErrors) -> Result<StatusCode, PageError> {
    let field = refused.field;
    match refused.why {
        Why::Key(KeyError::Validation(problem)) => {
            errors.set(field, super::for_people(&problem));
            Ok(StatusCode::BAD_REQUEST)
        }
        Why::Denied(Denied::Invalid(m)) => {
            errors.set(field, super::sentence(&m));
            Ok(StatusCode::BAD_REQUEST)
        }
        Why::Denied(Denied::Scope { reason, .. }) if field.is_some() => {
            errors.set(field, super::sentence(&reason));
            Ok(StatusCode::FORBIDDEN)
        }
        why => Err(Refused { field, why }.into()),
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    overlap: Option<String>,
    #[serde(default)]
    form_once: String,
}

/// `roll` or `revoke`; anything else is no page.
fn rolling(action: &str) -> Result<bool, PageError> {
    match action {
        "roll" => Ok(true),
        "revoke" => Ok(false),
        _ => Err(PageError::NotFound),
    }
}

async fn confirm_page(
    state: &AppState,
    in_org: &InOrg,
    id: &str,
    rolling: bool,
    overlap: i64,
    error: Option<String>,
) -> Result<ConfirmPage, PageError> {
    let p = &in_org.principal;
    // Unknown here (another organization's included): 404; another
    // member's key for a DEVELOPER, or a VIEWER: 403, before any form.
    let key = state.key_management().managed(p, id).await?;
    let key = row(p, &key, creator_email(state, key.created_by.as_deref()).await?, state.clock.now());
    if !(if rolling { key.may_roll } else { key.may_revoke }) {
        let what = if key.status == "revoked" { "This key is revoked." } else { "Your role does not allow this." };
        return Err(PageError::Forbidden(what.into()));
    }
    let overlaps = OVERLAPS.iter().map(|&(secs, label)| Overlap { secs, label, selected: secs == overlap }).collect();
    Ok(ConfirmPage { shell: in_org.shell("keys"), key, rolling, overlaps, error, once: super::once_token(state) })
}

/// GET `…/keys/{id}/roll` and `…/keys/{id}/revoke`: what will happen, and
/// the button that does it.
pub async fn confirm(
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, PageError> {
    let (_, id, action) = path.into_inner();
    let page = confirm_page(&state, &in_org, &id, rolling(&action)?, DEFAULT_OVERLAP_SECS, None).await?;
    render(StatusCode::OK, &page, None)
}

/// POST `…/keys/{id}/roll` (the new key shown once, like a new key) and
/// `…/keys/{id}/revoke` (then back to the list).
pub async fn act(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String, String)>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, PageError> {
    let (_, id, action) = path.into_inner();
    let rolling = rolling(&action)?;
    verify_form_token(&req, &state.config, Some(&in_org.session), &form.csrf_token)?;
    let p = &in_org.principal;
    let keys = state.key_management();
    if !rolling {
        keys.revoke(p, &p.origin(&req), &id).await?;
        let back = in_org.shell("keys").href(&format!("keys?revoked={id}"));
        return Ok(see_other(&back).finish());
    }
    let overlap = match form.overlap.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(secs)) => Some(secs),
        Some(Err(_)) => {
            let error = Some("Choose how long the old key keeps working.".to_owned());
            let page = confirm_page(&state, &in_org, &id, true, DEFAULT_OVERLAP_SECS, error).await?;
            return render(StatusCode::BAD_REQUEST, &page, None);
        }
    };
    let user_id = &in_org.session.user.id;
    let claimed = match Posted::claim(&state, user_id, Some(&form.form_once)).await? {
        Posted::First(claimed) => claimed,
        Posted::Again => return already_made(&in_org, Made::Roll),
        Posted::Expired(message) => {
            let page = confirm_page(&state, &in_org, &id, true, DEFAULT_OVERLAP_SECS, Some(message.into())).await?;
            return render(StatusCode::BAD_REQUEST, &page, None);
        }
    };
    let rolled = keys.roll(p, &p.origin(&req), &id, overlap).await;
    if rolled.is_err() {
        Posted::release(claimed, &state, user_id).await?;
    }
    match rolled {
        Ok(Rolled { new, plaintext, old }) => {
            let old = match old.expires_at {
                Some(at) if at > state.clock.now() => {
                    format!("The old key {}…{} keeps working until {}.", old.prefix, old.last_four, when(at))
                }
                _ => format!("The old key {}…{} has stopped working.", old.prefix, old.last_four),
            };
            let created = Created { name: new.name, plaintext, old: Some(old) };
            let form = create_form(&state, p, &[]);
            let page = keys_page(&state, &in_org, None, form, Some(created), None).await?;
            render(StatusCode::CREATED, &page, None)
        }
        Err(Refused { field: Some(KeyField::Overlap), why: Why::Key(KeyError::Validation(problem)) }) => {
            let worded = super::for_people(&problem);
            let page = confirm_page(&state, &in_org, &id, true, DEFAULT_OVERLAP_SECS, Some(worded)).await?;
            render(StatusCode::BAD_REQUEST, &page, None)
        }
        Err(refused) => Err(refused.into()),
    }
}
