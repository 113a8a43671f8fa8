//! A person's own account (`/account`): who they are and where they belong,
//! changing the password (which ends every other session), signing out
//! everywhere, and deleting the account.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{render, see_other, user_origin, when};
use crate::accounts::deletion::AccountDeletion;
use crate::accounts::passwords::check_new_password;
use crate::accounts::{AccountsError, CurrentSession, Membership, Organization, WRONG_CURRENT_PASSWORD};
use crate::http::errors::PageError;
use crate::http::session::{SignedIn, expired_session_cookie, verify_form_token};
use crate::http::{AppState, client_ip};

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    csrf_token: String,
    email: String,
    /// The message next to the current password, or the new one.
    current_error: Option<String>,
    new_error: Option<String>,
    done: bool,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

pub async fn password_page(SignedIn(session): SignedIn, query: web::Query<Done>) -> Result<HttpResponse, PageError> {
    let page = PasswordPage {
        csrf_token: session.csrf_token,
        email: session.user.email,
        current_error: None,
        new_error: None,
        done: query.done.is_some(),
    };
    render(StatusCode::OK, &page, None)
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&session), &form.csrf_token)?;
    let invalid = |current_error: Option<String>, new_error: Option<String>| {
        let page = PasswordPage {
            csrf_token: session.csrf_token.clone(),
            email: session.user.email.clone(),
            current_error,
            new_error,
            done: false,
        };
        render(StatusCode::BAD_REQUEST, &page, None)
    };
    // The new password's rules first (the same check `change_password`
    // makes), so each message goes next to its field.
    if let Err(message) = check_new_password(&form.new_password) {
        return invalid(None, Some(message));
    }
    match state
        .accounts
        .change_password(&session, &form.current_password, &form.new_password, &client_ip(&req, &state))
        .await
    {
        Ok(()) => Ok(see_other("/account/password?done=1").finish()),
        Err(AccountsError::Validation(message)) => invalid(Some(message), None),
        Err(e) => Err(e.into()),
    }
}

struct OrganizationLine {
    href: String,
    name: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    csrf_token: String,
    email: String,
    member_since: String,
    organizations: Vec<OrganizationLine>,
    /// The delete form's message (next to the password field), and a
    /// refusal that no password changes (the last OWNER of an organization).
    delete_error: Option<String>,
    delete_refused: Option<String>,
    /// The organizations of which the person is the last OWNER, with other
    /// members or data: told before they try.
    keeping: Vec<String>,
}

impl AccountPage {
    fn new(session: &CurrentSession, memberships: Vec<Membership>, keeping: Vec<Organization>) -> Self {
        Self {
            csrf_token: session.csrf_token.clone(),
            email: session.user.email.clone(),
            member_since: when(session.user.created_at),
            organizations: memberships
                .into_iter()
                .map(|m| OrganizationLine {
                    href: format!("/dashboard/orgs/{}", m.organization.id),
                    name: m.organization.name,
                    role: m.role.as_str(),
                })
                .collect(),
            delete_error: None,
            delete_refused: None,
            keeping: keeping.into_iter().map(|o| o.name).collect(),
        }
    }
}

impl AccountPage {
    async fn load(state: &AppState, session: &CurrentSession) -> Result<Self, PageError> {
        let memberships = state.accounts.memberships(&session.user.id).await?;
        let keeping = state.accounts.organizations_keeping_account(&session.user.id).await?;
        Ok(Self::new(session, memberships, keeping))
    }
}

pub async fn account_page(state: web::Data<AppState>, SignedIn(session): SignedIn) -> Result<HttpResponse, PageError> {
    render(StatusCode::OK, &AccountPage::load(&state, &session).await?, None)
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

/// Ends every session of the person, this one too, and every token of
/// theirs (dashboard `/v1` tokens and app tokens alike): the one way the
/// operator's `user sign-out` does it too.
pub async fn sign_out_everywhere(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&session), &form.csrf_token)?;
    state.accounts.end_every_session(&session.user.id).await?;
    Ok(see_other("/login?notice=signed-out-everywhere").cookie(expired_session_cookie(&state.config)).finish())
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    current_password: String,
}

pub async fn delete_account(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(session): SignedIn,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&session), &form.csrf_token)?;
    let refused = |error: Option<String>, refused: Option<String>| async {
        let page =
            AccountPage { delete_error: error, delete_refused: refused, ..AccountPage::load(&state, &session).await? };
        render(StatusCode::BAD_REQUEST, &page, None)
    };
    if form.current_password.is_empty() {
        return refused(Some("Enter your current password to delete your account.".into()), None).await;
    }
    let origin = user_origin(&req, &state, &session.user.id);
    match state.accounts.delete_account(&session, &form.current_password, &origin).await {
        Ok(AccountDeletion::Deleted { .. }) => {
            Ok(see_other("/login?notice=account-deleted").cookie(expired_session_cookie(&state.config)).finish())
        }
        Ok(AccountDeletion::LastOwner(org)) => {
            let message = format!(
                "You are the last OWNER of “{}”, which has other members or data (API keys, OAuth apps). \
                 Make another member OWNER there, or remove its members, keys and apps, then delete your account.",
                org.name
            );
            refused(None, Some(message)).await
        }
        Err(AccountsError::Validation(message)) if message == WRONG_CURRENT_PASSWORD => {
            refused(Some(message), None).await
        }
        Err(e) => Err(e.into()),
    }
}
