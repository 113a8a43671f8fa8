//! Sign-up, sign-in and sign-out.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use serde::Deserialize;

use super::{render, see_other};
use crate::accounts::{AccountsError, Joining, SignUp};
use crate::http::errors::PageError;
use crate::http::session::{
    MaybeSession, expired_session_cookie, form_token, safe_return_to, session_cookie, urlencode, verify_form_token,
};
use crate::http::{AppState, client_ip};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf_token: String,
    email: String,
    return_to: Option<String>,
    /// What the page that sent the browser here says (`?notice=`): sign-up
    /// says the same whether the email was new.
    notice: Option<&'static str>,
    error: Option<String>,
    /// The app that sent the user here through /oauth/authorize.
    app: Option<AskingApp>,
    /// Sent here by /oauth/authorize, which checks the sign-in it wants
    /// (`prompt=login`, `max_age`…): the form is shown even when signed in.
    reauth: bool,
    /// Signed in already, and asked to sign in again.
    signed_in: bool,
}

impl LoginPage {
    /// "Create an account", keeping where the journey goes afterwards.
    fn signup_href(&self) -> String {
        match &self.return_to {
            Some(r) => format!("/signup?return_to={}", urlencode(r)),
            None => "/signup".into(),
        }
    }
}

/// The invitation token of a `return_to` that is an invitation link.
fn invitation_token(return_to: Option<&str>) -> Option<&str> {
    let token = return_to?.strip_prefix("/invitations/")?;
    (!token.is_empty() && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')).then_some(token)
}

/// The invitation a sign-up joins, as the page shows it.
struct Invited {
    organization: String,
    role: String,
}

/// The app an authorization request comes from, and its organization.
#[derive(Clone)]
struct AskingApp {
    name: String,
    organization: String,
}

/// What the login page shows for a `return_to` that is an authorization
/// request: the app asking, and its `login_hint` as the email to pre-fill.
/// Nothing for other pages, or an app that is not registered.
async fn authorization_context(state: &AppState, return_to: Option<&str>) -> (Option<AskingApp>, Option<String>) {
    let Some(query) = return_to.and_then(|r| r.strip_prefix("/oauth/authorize?")) else { return (None, None) };
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    };
    let hint = param("login_hint").filter(|h| h.len() <= 320);
    let app = match param("client_id") {
        Some(id) => state.oauth.clients.get(&id).await.ok().flatten(),
        None => None,
    };
    (app.map(|c| AskingApp { name: c.name.clone(), organization: c.organization_name.clone() }), hint)
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    csrf_token: String,
    email: String,
    organization: String,
    error: Option<String>,
    /// Where to go after signing in (an authorization request, an
    /// invitation), carried through sign-up to the sign-in page.
    return_to: Option<String>,
    /// Signing up from an invitation: no organization is made.
    invited: Option<Invited>,
    /// Signing up from an app's authorization request: an account only,
    /// no organization (the app's name, when it is known).
    for_app: Option<String>,
}

/// Whether a sign-up's `return_to` is an authorization request, and the
/// name of the app asking: such a person wants an account to use the app
/// with, not an organization of their own.
async fn app_of(state: &AppState, return_to: Option<&str>) -> Option<String> {
    if !return_to.is_some_and(|r| r.starts_with("/oauth/authorize?")) {
        return None;
    }
    let (app, _) = authorization_context(state, return_to).await;
    Some(app.map_or_else(|| "an app".to_owned(), |a| a.name))
}

/// The invitation behind a sign-up's `return_to`, while it is pending,
/// with the address it was sent to.
async fn invitation_of(state: &AppState, return_to: Option<&str>) -> Result<Option<(Invited, String)>, PageError> {
    let Some(token) = invitation_token(return_to) else { return Ok(None) };
    let Some(i) = state.accounts.invitation(token).await? else { return Ok(None) };
    let pending = i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > state.clock.now();
    Ok(pending.then(|| (Invited { organization: i.organization_name, role: i.role.as_str().into() }, i.email)))
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    csrf_token: String,
    email: String,
}

#[derive(Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
    notice: Option<String>,
    /// `1`: show the form even to a signed-in browser (re-authentication).
    reauth: Option<String>,
}

/// Where every accepted sign-up lands, new email or not.
const AFTER_SIGNUP: &str = "/login?notice=signed-up";

/// Form fields default to empty so that a missing one is reported on the
/// form ("Email is required.") like an empty one.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    return_to: Option<String>,
    #[serde(default)]
    reauth: Option<String>,
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfOnlyForm {
    #[serde(default)]
    csrf_token: String,
}

pub async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    query: web::Query<ReturnTo>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    let reauth = query.reauth.as_deref() == Some("1");
    if session.session.is_some() && !reauth {
        return Ok(see_other(return_to.as_deref().unwrap_or("/dashboard")).finish());
    }
    let token = form_token(&req, &state.config, session.session.as_ref());
    let notice = match query.notice.as_deref() {
        Some("signed-up") => Some("If this email was new, your account is ready: sign in."),
        Some("signed-out-everywhere") => Some("You are signed out everywhere. Sign in again to continue."),
        Some("account-deleted") => Some("Your account was deleted."),
        _ => None,
    };
    let (app, hint) = authorization_context(&state, return_to.as_deref()).await;
    let page = LoginPage {
        csrf_token: token.token.clone(),
        email: hint.unwrap_or_default(),
        return_to,
        notice,
        error: None,
        app,
        reauth,
        signed_in: session.session.is_some(),
    };
    render(StatusCode::OK, &page, Some(token))
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, session.session.as_ref(), &form.csrf_token)?;
    let return_to = safe_return_to(form.return_to.as_deref());
    let reauth = form.reauth.as_deref() == Some("1");
    let (app, _) = authorization_context(&state, return_to.as_deref()).await;
    let again = |status: StatusCode, error: String| {
        let token = form_token(&req, &state.config, session.session.as_ref());
        let page = LoginPage {
            csrf_token: token.token.clone(),
            email: form.email.clone(),
            return_to: return_to.clone(),
            notice: None,
            error: Some(error),
            app: app.clone(),
            reauth,
            signed_in: session.session.is_some(),
        };
        render(status, &page, Some(token))
    };
    if form.email.trim().is_empty() || form.password.is_empty() {
        return again(StatusCode::BAD_REQUEST, "Email and password are required.".into());
    }
    let ip = client_ip(&req, &state);
    let user = match state.accounts.authenticate(&form.email, &form.password, &ip).await {
        Ok(user) => user,
        Err(AccountsError::InvalidCredentials) => {
            return again(StatusCode::BAD_REQUEST, "Invalid email or password.".into());
        }
        // The form again, with the reason and when to come back.
        Err(e @ (AccountsError::Throttled { .. } | AccountsError::Busy { .. })) => {
            let e = PageError::from(e);
            return with_retry_after(again(e.status_code(), e.to_string())?, &e);
        }
        Err(e) => return Err(e.into()),
    };
    // A new session id at every sign-in: a planted cookie is worth nothing.
    let new = state.accounts.start_session(user, session.token.as_deref()).await?;
    Ok(see_other(return_to.as_deref().unwrap_or("/dashboard"))
        .cookie(session_cookie(&state.config, new.token))
        .finish())
}

pub async fn signup_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    query: web::Query<ReturnTo>,
) -> Result<HttpResponse, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    if session.session.is_some() {
        return Ok(see_other(return_to.as_deref().unwrap_or("/dashboard")).finish());
    }
    let token = form_token(&req, &state.config, None);
    let (invited, email) = match invitation_of(&state, return_to.as_deref()).await? {
        Some((invited, email)) => (Some(invited), email),
        None => (None, String::new()),
    };
    let for_app = if invited.is_none() { app_of(&state, return_to.as_deref()).await } else { None };
    let page = SignupPage {
        csrf_token: token.token.clone(),
        email,
        organization: String::new(),
        error: None,
        return_to,
        invited,
        for_app,
    };
    render(StatusCode::OK, &page, Some(token))
}

/// Sign-up answers alike whether the email was new or belongs to an
/// account: a 303 to the sign-in page, no cookie, after the same work (the
/// password is hashed either way). Signing the new account straight in
/// would set a session cookie only for new emails and so tell them apart.
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    form: web::Form<SignupForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, session.session.as_ref(), &form.csrf_token)?;
    let return_to = safe_return_to(form.return_to.as_deref());
    let invited = invitation_of(&state, return_to.as_deref()).await?.map(|(i, _)| i);
    let for_app = if invited.is_none() { app_of(&state, return_to.as_deref()).await } else { None };
    let joining = match (invited.is_some(), invitation_token(return_to.as_deref())) {
        (true, Some(token)) => Joining::Invitation(token),
        _ if for_app.is_some() => Joining::AccountOnly,
        _ => Joining::NewOrganization(&form.organization),
    };
    let again = |status: StatusCode, message: String| {
        let token = form_token(&req, &state.config, session.session.as_ref());
        let page = SignupPage {
            csrf_token: token.token.clone(),
            email: form.email.clone(),
            organization: form.organization.clone(),
            error: Some(message),
            return_to: return_to.clone(),
            invited: invited.as_ref().map(|i| Invited { organization: i.organization.clone(), role: i.role.clone() }),
            for_app: for_app.clone(),
        };
        render(status, &page, Some(token))
    };
    let ip = client_ip(&req, &state);
    // Sign-in comes next, then where the journey was going.
    let after = match &return_to {
        Some(r) => format!("{AFTER_SIGNUP}&return_to={}", urlencode(r)),
        None => AFTER_SIGNUP.to_owned(),
    };
    // Joining through an invitation is audited (`member.joined`) by the domain.
    match state.accounts.sign_up_joining(&form.email, &form.password, joining, &ip).await {
        Ok(SignUp::Created { .. } | SignUp::EmailInUse) => Ok(see_other(&after).finish()),
        Err(AccountsError::Validation(message)) => again(StatusCode::BAD_REQUEST, message),
        Err(AccountsError::Throttled { retry_after_secs }) => {
            let minutes = (retry_after_secs + 59) / 60;
            let message = format!("Too many sign-ups from this network. Try again in {minutes} minute(s).");
            let mut res = again(StatusCode::TOO_MANY_REQUESTS, message)?;
            res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, retry_after_secs.into());
            Ok(res)
        }
        Err(e @ AccountsError::Busy { .. }) => {
            let e = PageError::from(e);
            with_retry_after(again(e.status_code(), e.to_string())?, &e)
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds the `Retry-After` that `error` calls for to a page answering it.
fn with_retry_after(mut res: HttpResponse, error: &PageError) -> Result<HttpResponse, PageError> {
    if let Some(secs) = error.retry_after_secs() {
        res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, secs.into());
    }
    Ok(res)
}

/// GET /logout asks for confirmation: signing out is a state change, so it
/// takes a POST with a CSRF token (a link or image cannot sign anyone out).
pub async fn logout_page(session: MaybeSession) -> Result<HttpResponse, PageError> {
    match session.session {
        Some(s) => render(StatusCode::OK, &LogoutPage { csrf_token: s.csrf_token, email: s.user.email }, None),
        None => Ok(see_other("/login").finish()),
    }
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: MaybeSession,
    form: web::Form<CsrfOnlyForm>,
) -> Result<HttpResponse, PageError> {
    if let (Some(current), Some(token)) = (session.session.as_ref(), session.token.as_deref()) {
        verify_form_token(&req, &state.config, Some(current), &form.csrf_token)?;
        state.accounts.end_session(token).await?;
    }
    Ok(see_other("/login").cookie(expired_session_cookie(&state.config)).finish())
}
