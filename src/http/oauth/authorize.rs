//! GET /oauth/authorize (the request) and POST /oauth/authorize (the
//! consent form's answer).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

use crate::accounts::CurrentSession;
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::pages::{ScopeLine, homepage_host, render, scope_lines, see_other, shown_logo};
use crate::http::session::{MaybeSession, verify_form_token};
use crate::oauth::authorize::{self, AuthorizationRequest, Decision, Rejection, SignedIn};
use crate::oauth::{ErrorCode, OAuthError};

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    csrf_token: String,
    email: String,
    app_name: String,
    organization: String,
    homepage_host: Option<String>,
    homepage_url: Option<String>,
    logo_url: Option<String>,
    scopes: Vec<ScopeLine>,
    redirect_to: String,
    params: Vec<(String, String)>,
    /// Approved before, asked again because the app (a public client)
    /// cannot prove who it is (RFC 8252 §8.6).
    asked_again: bool,
}

fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn rejected(state: &AppState, rejection: Rejection) -> HttpResponse {
    match rejection {
        Rejection::Page(message) => PageError::BadRequest(message).error_response(),
        Rejection::TryAgain(cause) => PageError::Unavailable(cause).error_response(),
        Rejection::Redirect { redirect_uri, error, state: s } => {
            see_other(&authorize::error_url(&redirect_uri, &error, s.as_deref(), state.config.issuer())).finish()
        }
    }
}

fn redirect_error(state: &AppState, request: &AuthorizationRequest, error: OAuthError) -> HttpResponse {
    let url = authorize::error_url(&request.redirect_uri, &error, request.state.as_deref(), state.config.issuer());
    see_other(&url).finish()
}

fn consent_page(
    state: &AppState,
    request: &AuthorizationRequest,
    email: String,
    csrf_token: String,
    asked_before: bool,
) -> Result<HttpResponse, PageError> {
    let client = &request.client;
    let redirect = url::Url::parse(&request.redirect_uri).ok();
    let page = ConsentPage {
        csrf_token,
        email,
        app_name: client.name.clone(),
        organization: client.organization_name.clone(),
        homepage_host: homepage_host(client.homepage_url.as_deref()),
        homepage_url: client.homepage_url.clone(),
        logo_url: shown_logo(client.logo_url.as_deref()),
        scopes: scope_lines(state, &request.scope),
        // Where the user is sent, without the query: scheme, host, port, path.
        redirect_to: redirect
            .map(|u| u[..url::Position::AfterPath].to_owned())
            .unwrap_or_else(|| request.redirect_uri.clone()),
        params: request.params.clone(),
        asked_again: asked_before && request.client.is_public(),
    };
    render(StatusCode::OK, &page, None)
}

#[derive(Template)]
#[template(path = "select_account.html")]
struct SelectAccountPage {
    csrf_token: String,
    email: String,
    app_name: String,
    organization: String,
    params: Vec<(String, String)>,
    /// The login page, coming back to this request.
    other_account: String,
}

fn signed_in(session: &CurrentSession) -> SignedIn {
    SignedIn {
        user_id: session.user.id.clone(),
        session_id: session.session_id.clone(),
        authenticated_at: session.authenticated_at,
    }
}

/// Acts on the decision for a valid request: the one place that turns a
/// `Decision` into a page or a redirect, for the request and for the
/// answers of the pages it shows.
async fn proceed(
    state: &AppState,
    request: &AuthorizationRequest,
    session: Option<&CurrentSession>,
    account_chosen: bool,
) -> HttpResponse {
    let who = session.map(signed_in);
    let decision = match authorize::next_step(&state.oauth, request, who.as_ref(), account_chosen).await {
        Ok(d) => d,
        Err(e) => return redirect_error(state, request, e),
    };
    match (decision, session, who) {
        (Decision::Refuse(e), _, _) => redirect_error(state, request, e),
        (Decision::Issue, Some(_), Some(who)) => match authorize::approve(&state.oauth, &who, request).await {
            Ok(url) => see_other(&url).finish(),
            Err(e) => redirect_error(state, request, e),
        },
        (Decision::Consent { remembered }, Some(session), _) => {
            consent_page(state, request, session.user.email.clone(), session.csrf_token.clone(), remembered)
                .unwrap_or_else(|e| e.error_response())
        }
        (Decision::SelectAccount, Some(session), _) => {
            let page = SelectAccountPage {
                csrf_token: session.csrf_token.clone(),
                email: session.user.email.clone(),
                app_name: request.client.name.clone(),
                organization: request.client.organization_name.clone(),
                params: request.params.clone(),
                other_account: authorize::login_path(&state.oauth, request),
            };
            render(StatusCode::OK, &page, None).unwrap_or_else(|e| e.error_response())
        }
        // Login, or (never, by `decide`) a page for nobody: sign in first.
        (Decision::Login | Decision::Issue | Decision::Consent { .. } | Decision::SelectAccount, _, _) => {
            see_other(&authorize::login_path(&state.oauth, request)).finish()
        }
    }
}

pub async fn authorize(req: HttpRequest, state: web::Data<AppState>, session: MaybeSession) -> HttpResponse {
    let request = match authorize::validate(&state.oauth, query_pairs(&req)).await {
        Ok(r) => r,
        Err(rejection) => return rejected(&state, rejection),
    };
    proceed(&state, &request, session.session.as_ref(), false).await
}

/// The answer of the consent page (Approve or Deny) or of the
/// select-account page (Continue): CSRF-checked, the request validated
/// again from the hidden fields, and the sign-in checked again, since the
/// page may have been open a long time.
pub async fn decide(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    form: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let fields = form.into_inner();
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let Some(session) = session.session else {
        return PageError::BadRequest(
            "Your session ended before you answered. Start again from the application.".into(),
        )
        .error_response();
    };
    if let Err(e) = verify_form_token(&req, &state.config, Some(&session), &field("csrf_token")) {
        return e.error_response();
    }
    let params: Vec<(String, String)> =
        fields.iter().filter(|(k, _)| authorize::PARAMS.contains(&k.as_str())).cloned().collect();
    let request = match authorize::validate(&state.oauth, params).await {
        Ok(r) => r,
        Err(rejection) => return rejected(&state, rejection),
    };
    match field("decision").as_str() {
        "continue" => proceed(&state, &request, Some(&session), true).await,
        "approve" => {
            let who = signed_in(&session);
            // The consent page was shown after the sign-in checks; they must
            // still hold (prompt=login, max_age) when the answer comes.
            match authorize::next_step(&state.oauth, &request, Some(&who), true).await {
                Ok(Decision::Refuse(e)) => redirect_error(&state, &request, e),
                Ok(Decision::Login) => see_other(&authorize::login_path(&state.oauth, &request)).finish(),
                Ok(_) => match authorize::approve_on_consent_page(
                    &state.oauth,
                    &who,
                    &request,
                    &crate::http::pages::user_origin(&req, &state, &who.user_id),
                )
                .await
                {
                    Ok(url) => see_other(&url).finish(),
                    Err(e) => redirect_error(&state, &request, e),
                },
                Err(e) => redirect_error(&state, &request, e),
            }
        }
        "deny" => {
            redirect_error(&state, &request, OAuthError::new(ErrorCode::AccessDenied, "The user denied the request."))
        }
        _ => PageError::BadRequest("Choose Approve or Deny.".into()).error_response(),
    }
}
