//! The dashboard home: who you are, your organizations and roles.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{render, see_other};
use crate::accounts::Membership;
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::session::{MaybeSession, SignedIn};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    csrf_token: String,
    email: String,
    primary: Option<Membership>,
    memberships: Vec<Membership>,
}

pub async fn home(session: MaybeSession) -> HttpResponse {
    see_other(if session.session.is_some() { "/dashboard" } else { "/login" }).finish()
}

pub async fn dashboard(state: web::Data<AppState>, SignedIn(session): SignedIn) -> Result<HttpResponse, PageError> {
    let memberships = state.accounts.memberships(&session.user.id).await?;
    let page = DashboardPage {
        csrf_token: session.csrf_token,
        email: session.user.email,
        primary: memberships.first().cloned(),
        memberships,
    };
    render(StatusCode::OK, &page, None)
}
