//! The invitation link: sign in (or sign up) with the invited email, then
//! accept, once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{render, see_other};
use crate::accounts::AccountsError;
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::session::{SignedIn, verify_form_token};

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    csrf_token: String,
    email: String,
    organization: String,
    role: String,
    invited_email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf_token: String,
}

fn gone() -> PageError {
    PageError::BadRequest("This invitation is no longer valid: it was used, revoked or has expired.".into())
}

pub async fn show(
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    token: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let invitation = state.accounts.invitation(&token).await?.ok_or_else(gone)?;
    // Accepted by this person already (signing up from the link joins at
    // once, then signs in and comes back here): on to the organization.
    if invitation.accepted_by.as_deref() == Some(session.user.id.as_str()) {
        return Ok(see_other(&format!("/dashboard/orgs/{}", invitation.organization_id)).finish());
    }
    if invitation.accepted_at.is_some() || invitation.revoked_at.is_some() || invitation.expires_at <= state.clock.now()
    {
        return Err(gone());
    }
    let page = InvitationPage {
        csrf_token: session.csrf_token,
        email: session.user.email,
        organization: invitation.organization_name,
        role: invitation.role.as_str().into(),
        invited_email: invitation.email,
        error: None,
    };
    render(StatusCode::OK, &page, None)
}

pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    token: web::Path<String>,
    form: web::Form<AcceptForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&session), &form.csrf_token)?;
    // The domain records `member.joined` with the membership.
    match state.accounts.accept_invitation(&token, &session.user, &crate::http::client_ip(&req, &state)).await {
        Ok(_) => Ok(see_other("/dashboard").finish()),
        Err(AccountsError::Validation(message)) => Err(PageError::BadRequest(message)),
        Err(e) => Err(e.into()),
    }
}
