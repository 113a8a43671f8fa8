//! Changing one's password, which ends every other session.

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
#[template(path = "password.html")]
struct PasswordPage {
    csrf_token: String,
    email: String,
    error: Option<String>,
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
        error: None,
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
    match state.accounts.change_password(&session, &form.current_password, &form.new_password).await {
        Ok(()) => Ok(see_other("/account/password?done=1").finish()),
        Err(AccountsError::Validation(message)) => {
            let page = PasswordPage {
                csrf_token: session.csrf_token.clone(),
                email: session.user.email.clone(),
                error: Some(message),
                done: false,
            };
            render(StatusCode::BAD_REQUEST, &page, None)
        }
        Err(e) => Err(e.into()),
    }
}
