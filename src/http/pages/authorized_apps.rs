//! `/account/apps`: the third-party apps the signed-in person authorized,
//! and the withdrawal of an authorization: the same domain function as
//! `DELETE /v1/authorized-apps/{id}` (`OAuth::withdraw_consent`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{ScopeLine, homepage_host, render, scope_lines, see_other, shown_logo, user_origin, when};
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::session::{SignedIn, urlencode, verify_form_token};
use crate::oauth::authorized_apps::AuthorizedApp;

/// Apps a page shows; "Show more" brings the next ones.
const PER_PAGE: i64 = 50;

struct AppView {
    client_id: String,
    name: String,
    /// Shown in place of a logo.
    initial: String,
    organization: String,
    homepage_url: Option<String>,
    homepage_host: Option<String>,
    logo_url: Option<String>,
    scopes: Vec<ScopeLine>,
    granted_at: String,
    last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "authorized_apps.html")]
struct AppsPage {
    csrf_token: String,
    email: String,
    apps: Vec<AppView>,
    /// The query of the next page, when there is one.
    more: Option<String>,
    /// The name of the app whose access was just revoked.
    revoked: Option<String>,
}

#[derive(Deserialize)]
pub struct AppsQuery {
    after: Option<String>,
    revoked: Option<String>,
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
}

fn view(state: &AppState, a: AuthorizedApp) -> AppView {
    AppView {
        scopes: scope_lines(state, &a.scopes),
        homepage_host: homepage_host(a.homepage_url.as_deref()),
        logo_url: shown_logo(a.logo_url.as_deref()),
        client_id: a.client_id,
        initial: a.name.chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default(),
        name: a.name,
        organization: a.organization_name,
        homepage_url: a.homepage_url,
        granted_at: when(a.granted_at),
        last_used: a.last_used_at.map(when),
    }
}

pub async fn list(
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    query: web::Query<AppsQuery>,
) -> Result<HttpResponse, PageError> {
    let mut apps = state
        .oauth
        .authorized_apps(&session.user.id, query.after.as_deref(), PER_PAGE + 1)
        .await?
        .ok_or(PageError::NotFound)?;
    let more = (apps.len() as i64 > PER_PAGE).then(|| {
        apps.truncate(PER_PAGE as usize);
        apps.last().map(|a| format!("?after={}", urlencode(&a.client_id))).unwrap_or_default()
    });
    // The app named by its client_id (never by text from the URL).
    let revoked = match query.revoked.as_deref().filter(|id| !id.is_empty() && id.len() <= 200) {
        Some(id) => state.oauth.clients.get(id).await?.map(|c| c.name.clone()),
        None => None,
    };
    let page = AppsPage {
        csrf_token: session.csrf_token,
        email: session.user.email,
        apps: apps.into_iter().map(|a| view(&state, a)).collect(),
        more,
        revoked,
    };
    render(StatusCode::OK, &page, None)
}

/// Revoke access: the consent ends, and every token the app holds for the
/// person with it; the app's organization hears of it (`consent.revoked`).
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    client_id: web::Path<String>,
    form: web::Form<RevokeForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&session), &form.csrf_token)?;
    let user_id = &session.user.id;
    let origin = user_origin(&req, &state, user_id);
    state.oauth.withdraw_consent(user_id, &client_id, state.clock.now(), &origin).await?.ok_or(PageError::NotFound)?;
    Ok(see_other(&format!("/account/apps?revoked={}", urlencode(&client_id))).finish())
}
