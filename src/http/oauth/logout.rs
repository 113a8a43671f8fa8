//! GET and POST /oauth/logout: the end_session_endpoint (OpenID Connect
//! RP-Initiated Logout 1.0). The rules are in `oauth::logout`; this parses,
//! ends the session through the same `Accounts::end_session` as /logout,
//! and renders.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{FormBody, form_params, unique_params};
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::pages::{render, see_other};
use crate::http::session::{MaybeSession, expired_session_cookie, verify_form_token};
use crate::oauth::logout::{Logout, LogoutError, LogoutRequest};

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct ConfirmPage {
    csrf_token: String,
    email: String,
    app_name: Option<String>,
    params: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage;

impl From<LogoutError> for PageError {
    fn from(e: LogoutError) -> Self {
        match e {
            LogoutError::Invalid(message) => PageError::BadRequest(message),
            LogoutError::Store(e) => e.into(),
        }
    }
}

pub async fn logout_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
) -> Result<HttpResponse, PageError> {
    let params = unique_params(req.query_string().as_bytes()).map_err(|e| PageError::BadRequest(e.description))?;
    let request = LogoutRequest::from_params(&params);
    answer(&state, session, &request).await
}

/// A relying party's form post (§2 allows POST), or the confirmation page's
/// answer, which alone carries a `csrf_token`.
pub async fn logout_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    body: FormBody,
) -> Result<HttpResponse, PageError> {
    let params = form_params(&req, &body.0).map_err(|e| PageError::BadRequest(e.description))?;
    let request = LogoutRequest::from_params(&params);
    let csrf = params.iter().find(|(k, _)| k == "csrf_token").map(|(_, v)| v.as_str());
    let Some(csrf) = csrf else {
        if session.session.is_some() {
            return answer(&state, session, &request).await;
        }
        // A cross-site form post carries no SameSite=Lax cookie: the same
        // request as a GET navigation does, so the session is seen.
        let query: String =
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(request.to_params()).finish();
        return Ok(see_other(&format!("/oauth/logout?{query}")).finish());
    };
    let logout = state.oauth.check_logout(&request).await?;
    match (session.session.as_ref(), session.token.as_deref()) {
        (Some(current), Some(token)) => {
            verify_form_token(&req, &state.config, Some(current), csrf)?;
            state.accounts.end_session(token).await?;
            signed_out(&state, &logout)
        }
        // Signed out meanwhile (another tab): nothing left to end.
        _ => signed_out(&state, &logout),
    }
}

async fn answer(state: &AppState, session: MaybeSession, request: &LogoutRequest) -> Result<HttpResponse, PageError> {
    let logout = state.oauth.check_logout(request).await?;
    let (Some(current), Some(token)) = (session.session, session.token) else {
        return signed_out(state, &logout);
    };
    if logout.hint_names(&state.oauth, &current.user.id, &current.session_id) {
        state.accounts.end_session(&token).await?;
        return signed_out(state, &logout);
    }
    let page = ConfirmPage {
        csrf_token: current.csrf_token,
        email: current.user.email,
        app_name: logout.client.as_ref().map(|c| c.name.clone()),
        params: request.to_params(),
    };
    render(StatusCode::OK, &page, None)
}

/// After sign-out: to the app's registered page, or ours. The session
/// cookie goes either way.
fn signed_out(state: &AppState, logout: &Logout) -> Result<HttpResponse, PageError> {
    let cookie = expired_session_cookie(&state.config);
    match &logout.redirect_to {
        Some(uri) => Ok(see_other(uri).cookie(cookie).finish()),
        None => {
            let mut res = render(StatusCode::OK, &SignedOutPage, None)?;
            res.add_cookie(&cookie).map_err(|e| PageError::Internal(e.to_string()))?;
            Ok(res)
        }
    }
}
