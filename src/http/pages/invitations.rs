//! The invitation link: sign in (or sign up) with the invited email, then
//! accept, once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{render, see_other};
use crate::accounts::AccountsError;
use crate::accounts::invitations::Invitation;
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
    match state.accounts.accept_invitation(&token, &session.user).await {
        Ok(invitation) => {
            audit_joined(&state, &session.user.id, crate::http::client_ip(&req, &state), &invitation).await;
            Ok(see_other("/dashboard").finish())
        }
        Err(AccountsError::Validation(message)) => Err(PageError::BadRequest(message)),
        Err(e) => Err(e.into()),
    }
}

/// Records `member.joined` for a person who joined through an invitation
/// (accepting it signed in, or signing up from its link).
pub async fn audit_joined(state: &AppState, user_id: &str, ip: String, invitation: &Invitation) {
    let origin = crate::audit::Origin { actor: format!("user:{user_id}"), request_id: None, ip: Some(ip) };
    let details = serde_json::json!({ "role": invitation.role.as_str(), "invitation": invitation.id });
    let (now, org) = (state.clock.now(), &invitation.organization_id);
    crate::audit::record(&state.store, now, org, "member.joined", &origin, Some(user_id), details).await;
}
