//! The dashboard: `/dashboard/orgs/{org}` is an organization's overview;
//! `/dashboard` shows the person's first organization's.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::org::{InOrg, Shell};
use super::{render, see_other};
use crate::authority;
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::session::{MaybeSession, SignedIn};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct OverviewPage {
    shell: Shell,
}

#[derive(Template)]
#[template(path = "no_organization.html")]
struct NoOrganizationPage {
    csrf_token: String,
    email: String,
}

pub async fn home(session: MaybeSession) -> HttpResponse {
    see_other(if session.session.is_some() { "/dashboard" } else { "/login" }).finish()
}

/// The overview of the first of the person's organizations (the oldest
/// membership); its links lead under `/dashboard/orgs/{org}`.
pub async fn dashboard(state: web::Data<AppState>, SignedIn(session): SignedIn) -> Result<HttpResponse, PageError> {
    let memberships = state.accounts.memberships(&session.user.id).await?;
    let first = memberships.first().map(|m| m.organization.id.clone());
    let principal = match first {
        Some(org) => authority::for_page_session(&state.store, &session.user.id, &org).await?,
        None => None,
    };
    match principal {
        Some(principal) => {
            let in_org = InOrg { session, principal, organizations: memberships, verification_notice: None };
            render(StatusCode::OK, &OverviewPage { shell: in_org.shell("") }, None)
        }
        None => render(
            StatusCode::OK,
            &NoOrganizationPage { csrf_token: session.csrf_token, email: session.user.email },
            None,
        ),
    }
}

pub async fn overview(in_org: InOrg) -> Result<HttpResponse, PageError> {
    render(StatusCode::OK, &OverviewPage { shell: in_org.shell("") }, None)
}
