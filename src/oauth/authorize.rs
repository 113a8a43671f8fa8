//! The authorization endpoint's logic (RFC 6749 §4.1.1–4.1.2, RFC 7636,
//! RFC 9207). The request is validated the same way when it arrives and
//! when the consent form comes back, so nothing is kept between the two.

mod decision;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::clients::{Client, GrantType};
use super::error::{ErrorCode, OAuthError};
use super::oidc::{self, reauth::TICKET_PARAM};
use super::pkce::{self, Method};
use super::redirect;
use super::scopes::{self, OPENID, ScopeSet};
use super::service::OAuth;
use crate::store::grants::{self, AuthorizationCodeRow};
use crate::tokens::opaque;

/// The parameters an authorization request may carry (and the consent
/// form sends back as hidden fields). Others are ignored. `ui_locales`,
/// `claims_locales`, `display` and `acr_values` are accepted, whatever their
/// value, and have no effect (one language, one responsive page for every
/// display of `oidc::discovery::DISPLAY_VALUES`, one kind of sign-in).
/// The longest `nonce` accepted.
pub const MAX_NONCE_LEN: usize = 1024;

pub const PARAMS: [&str; 18] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "ui_locales",
    "claims_locales",
    "display",
    "acr_values",
    TICKET_PARAM,
];

pub use decision::{Authentication, Decision, Prompt, PromptContext, SignInFacts, authentication, decide};

#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Arc<Client>,
    /// Where to send the answer.
    pub redirect_uri: String,
    /// Whether the request named it (else the single registered one).
    pub redirect_uri_given: bool,
    pub state: Option<String>,
    pub scope: ScopeSet,
    pub code_challenge: Option<(String, Method)>,
    pub nonce: Option<String>,
    pub prompt: Prompt,
    /// OIDC Core §3.1.2.1: the oldest sign-in, in seconds, this request accepts.
    pub max_age: Option<i64>,
    /// The `sub` named by a valid `id_token_hint`.
    pub hinted_subject: Option<String>,
    /// When the browser was sent to sign in again for this request, if it
    /// carries a valid re-authentication ticket (see `oidc::reauth`).
    pub reauth_since: Option<DateTime<Utc>>,
    /// The parameters, to carry through the login and consent pages.
    pub params: Vec<(String, String)>,
}

/// The signed-in browser session a request is answered for.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user_id: String,
    /// `sessions.id`: the ID token's `sid`.
    pub session_id: String,
    /// When the user signed in: the ID token's `auth_time`.
    pub authenticated_at: DateTime<Utc>,
}

/// The error description when PKCE is required and absent.
pub const CODE_CHALLENGE_REQUIRED: &str = "code_challenge required: this client must use PKCE (S256)";

/// Why a request cannot proceed: shown as a page when the client or the
/// redirect URI cannot be trusted, else sent back to the client.
#[derive(Debug, Clone)]
pub enum Rejection {
    Page(String),
    /// The client could not be looked up (database down or busy): a page
    /// that says to try again, since nothing says where to redirect.
    TryAgain(String),
    Redirect {
        redirect_uri: String,
        error: OAuthError,
        state: Option<String>,
    },
}

/// Validates an authorization request. `params` is the query (or form) as
/// sent, duplicates included.
pub async fn validate(oauth: &OAuth, params: Vec<(String, String)>) -> Result<AuthorizationRequest, Rejection> {
    let mut map: HashMap<&str, &str> = HashMap::new();
    let mut duplicate = None;
    for (k, v) in &params {
        if map.insert(k.as_str(), v.as_str()).is_some() {
            duplicate = Some(k.clone());
        }
    }
    let get = |k: &str| map.get(k).copied().filter(|v| !v.is_empty());

    // §4.1.2.1: without a trustworthy client and redirect URI, never redirect.
    let client_id = get("client_id").ok_or_else(|| Rejection::Page("The request has no client_id.".into()))?;
    if duplicate.as_deref().is_some_and(|d| d == "client_id" || d == "redirect_uri") {
        return Err(Rejection::Page(format!("The parameter {} is repeated.", duplicate.unwrap_or_default())));
    }
    let client = match oauth.clients.get(client_id).await {
        // An app whose maker's creator is disabled is as if unknown.
        Ok(Some(c)) if !c.maker_disabled() => c,
        Ok(_) => return Err(Rejection::Page("The application asking for access is not registered here.".into())),
        Err(e) if e.is_transient() => return Err(Rejection::TryAgain(e.to_string())),
        Err(e) => {
            let e = OAuthError::from(e);
            return Err(Rejection::Page(e.description));
        }
    };
    let (redirect_uri, redirect_uri_given) = match get("redirect_uri") {
        Some(uri) if redirect::matches_registered(&client.redirect_uris, uri, client.is_public()) => {
            (uri.to_owned(), true)
        }
        Some(_) => return Err(Rejection::Page("The redirect URI is not registered for this application.".into())),
        None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
        None => return Err(Rejection::Page("The request has no redirect_uri.".into())),
    };
    let state = get("state").map(str::to_owned);
    let reject =
        |error: OAuthError| Rejection::Redirect { redirect_uri: redirect_uri.clone(), error, state: state.clone() };

    if let Some(d) = duplicate {
        return Err(reject(OAuthError::invalid_request(format!("the parameter {d} is repeated"))));
    }
    match get("response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(reject(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type {other:?} is not supported; use code"),
            )));
        }
        None => return Err(reject(OAuthError::invalid_request("response_type is required"))),
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(reject(OAuthError::unauthorized_client("This client may not use the authorization code flow.")));
    }
    let scope = oauth.scopes.grant(get("scope"), &client.scopes).map_err(reject)?;
    let code_challenge =
        pkce::parse_challenge(get("code_challenge"), get("code_challenge_method"), oauth.settings.allow_plain_pkce)
            .map_err(reject)?;
    // OAuth 2.1 §4.1.1, RFC 9700 §2.1.1: PKCE for every client unless a
    // confidential one was exempted (public ones never are). The missing
    // challenge is invalid_request, RFC 7636 §4.4.1.
    if (client.require_pkce || client.is_public()) && code_challenge.is_none() {
        return Err(reject(OAuthError::invalid_request(CODE_CHALLENGE_REQUIRED)));
    }
    let prompt = Prompt::parse(map.get("prompt").copied().unwrap_or("")).map_err(reject)?;
    let nonce = get("nonce").map(str::to_owned);
    // Stored with the code and copied into the ID token: bounded, though
    // OIDC sets no limit (relying parties send a random value or its hash).
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(reject(OAuthError::invalid_request(format!("nonce must be at most {MAX_NONCE_LEN} bytes"))));
    }
    if scope.contains(OPENID) {
        oidc_checks(&map, redirect_uri_given, client.is_public() && code_challenge.is_none(), nonce.is_some())
            .map_err(reject)?;
    } else {
        request_objects_refused(&map).map_err(reject)?;
    }
    let max_age = match get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|s| *s >= 0 && v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| reject(OAuthError::invalid_request("max_age must be a number of seconds")))?,
        ),
    };
    let hinted_subject = match get("id_token_hint") {
        Some(hint) => Some(oidc::hint::hinted_subject(oauth, &client, hint).map_err(reject)?),
        None => None,
    };
    drop(map);
    let kept: Vec<(String, String)> = params.into_iter().filter(|(k, _)| PARAMS.contains(&k.as_str())).collect();
    let reauth_since = oauth.reauth.verify(&kept, oauth.now());
    Ok(AuthorizationRequest {
        client,
        redirect_uri,
        redirect_uri_given,
        state,
        scope,
        code_challenge,
        nonce,
        prompt,
        max_age,
        hinted_subject,
        reauth_since,
        params: kept,
    })
}

/// OIDC Core §6: request objects are not supported (discovery says so).
/// `response_mode` (OAuth 2.0 Multiple Response Type Encoding §2.1): only
/// the default for `code`, the query, is offered.
fn request_objects_refused(params: &HashMap<&str, &str>) -> Result<(), OAuthError> {
    if params.contains_key("request") {
        return Err(OAuthError::new(ErrorCode::RequestNotSupported, "The request parameter is not supported."));
    }
    if params.contains_key("request_uri") {
        return Err(OAuthError::new(ErrorCode::RequestUriNotSupported, "The request_uri parameter is not supported."));
    }
    match params.get("response_mode").copied() {
        None | Some("" | "query") => Ok(()),
        Some(other) => Err(OAuthError::invalid_request(format!("response_mode {other:?} is not supported; use query"))),
    }
}

/// What OpenID Connect adds to the checks of an authentication request
/// (OIDC Core §3.1.2.2), before anything is shown.
fn oidc_checks(
    params: &HashMap<&str, &str>,
    redirect_uri_given: bool,
    public_without_pkce: bool,
    has_nonce: bool,
) -> Result<(), OAuthError> {
    request_objects_refused(params)?;
    // §3.1.2.1: REQUIRED here, though OAuth lets a client with one
    // registered URI leave it out.
    if !redirect_uri_given {
        return Err(OAuthError::invalid_request("redirect_uri is required in an OpenID Connect request"));
    }
    // The nonce is what binds the ID token to the browser when nothing else
    // does: a public client without PKCE must send one (none may, today:
    // public clients always use PKCE).
    if public_without_pkce && !has_nonce {
        return Err(OAuthError::invalid_request("nonce is required for a public client without PKCE"));
    }
    Ok(())
}

/// The scopes this user approved for this client before, if any.
pub async fn remembered_consent(
    oauth: &OAuth,
    user_id: &str,
    request: &AuthorizationRequest,
) -> Result<Option<ScopeSet>, OAuthError> {
    let (u, c) = (user_id.to_owned(), request.client.client_id.clone());
    let stored = oauth.store.run(move |conn| grants::find_consent(conn, &u, &c)).await?;
    // A stored value that no longer parses covers nothing: ask again.
    Ok(stored.map(|scope| scopes::parse(&scope).unwrap_or_default()))
}

/// What to do with a valid request, for a user signed in or not (see
/// `decision`). The one I/O is reading the remembered consent.
/// `account_chosen`: the user answered the select-account page.
pub async fn next_step(
    oauth: &OAuth,
    request: &AuthorizationRequest,
    signed_in: Option<&SignedIn>,
    account_chosen: bool,
) -> Result<Decision, OAuthError> {
    let authentication = authentication(SignInFacts {
        prompt: request.prompt,
        max_age: request.max_age,
        reauth_since: request.reauth_since,
        authenticated_at: signed_in.map(|s| s.authenticated_at),
        hint_matches: match (&request.hinted_subject, signed_in) {
            (Some(sub), Some(s)) => Some(*sub == oidc::subject(oauth, &request.client, &s.user_id)),
            _ => None,
        },
        now: oauth.now(),
    });
    let remembered = match (signed_in, authentication) {
        (Some(s), Authentication::Valid | Authentication::Fresh) => {
            remembered_consent(oauth, &s.user_id, request).await?
        }
        _ => None,
    };
    Ok(decide(PromptContext {
        client_type: request.client.client_type,
        requested: &request.scope,
        remembered: remembered.as_ref(),
        prompt: request.prompt,
        authentication,
        account_chosen,
    }))
}

/// Where to send the browser to sign in: the login page, coming back to
/// this request with a fresh re-authentication ticket (`oidc::reauth`), so
/// the sign-in is recognised as made for it.
pub fn login_path(oauth: &OAuth, request: &AuthorizationRequest) -> String {
    let mut params: Vec<(String, String)> = request.params.iter().filter(|(k, _)| k != TICKET_PARAM).cloned().collect();
    let ticket = oauth.reauth.issue(&params, oauth.now());
    params.push((TICKET_PARAM.to_owned(), ticket));
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
    let back = format!("/oauth/authorize?{query}");
    let back: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    format!("/login?return_to={back}&reauth=1")
}

/// Records consent (widening any earlier one) and issues a code; returns
/// the redirect that carries it.
pub async fn approve(
    oauth: &OAuth,
    signed_in: &SignedIn,
    request: &AuthorizationRequest,
) -> Result<String, OAuthError> {
    let now = oauth.now().naive_utc();
    let code = opaque::random_secret();
    let user_id = signed_in.user_id.as_str();
    let row = AuthorizationCodeRow {
        code_digest: opaque::digest(&code),
        client_id: request.client.client_id.clone(),
        user_id: user_id.to_owned(),
        redirect_uri: if request.redirect_uri_given { request.redirect_uri.clone() } else { String::new() },
        scope: scopes::join(&request.scope),
        code_challenge: request.code_challenge.as_ref().map(|(c, _)| c.clone()),
        code_challenge_method: request.code_challenge.as_ref().map(|(_, m)| m.as_str().to_owned()),
        nonce: request.nonce.clone(),
        created_at: now,
        expires_at: now + oauth.settings.authorization_code_ttl,
        consumed_at: None,
        issued_jti: None,
        issued_family_id: None,
        session_id: Some(signed_in.session_id.clone()),
        auth_time: Some(signed_in.authenticated_at.naive_utc()),
    };
    let (u, c, scope) = (user_id.to_owned(), request.client.client_id.clone(), request.scope.clone());
    oauth
        .store
        .run(move |conn| {
            // Consent is remembered as the union with what was granted before.
            let widen = |earlier: Option<String>| {
                let earlier = earlier.map(|s| scopes::parse(&s).unwrap_or_default()).unwrap_or_default();
                scopes::join(&earlier.union(&scope).cloned().collect::<ScopeSet>())
            };
            grants::approve(conn, &u, &c, widen, now, &row)
        })
        .await?;
    Ok(response_url(&request.redirect_uri, &[("code", &code)], request.state.as_deref(), &oauth.settings.issuer))
}

/// `approve` for the person's answer on the consent page: the app's
/// organization hears of the grant (`consent.granted`; audit events belong
/// to an organization, and the consent concerns the app's alone). A request
/// approved silently, by a consent remembered, records nothing new.
pub async fn approve_on_consent_page(
    oauth: &OAuth,
    signed_in: &SignedIn,
    request: &AuthorizationRequest,
    origin: &crate::audit::Origin,
) -> Result<String, OAuthError> {
    let url = approve(oauth, signed_in, request).await?;
    let client = &request.client;
    let details = serde_json::json!({ "user_id": signed_in.user_id, "scope": scopes::join(&request.scope) });
    crate::audit::record(
        &oauth.store,
        oauth.now(),
        &client.organization_id,
        "consent.granted",
        origin,
        Some(&client.client_id),
        details,
    )
    .await;
    Ok(url)
}

/// The redirect for an error: `error`, `error_description`, `state`, `iss`.
pub fn error_url(redirect_uri: &str, error: &OAuthError, state: Option<&str>, issuer: &str) -> String {
    response_url(
        redirect_uri,
        &[("error", error.code.as_str()), ("error_description", &error.description)],
        state,
        issuer,
    )
}

/// Adds the response parameters to the redirect URI's query, keeping the
/// query it was registered with (§3.1.2), plus `state` and `iss` (RFC 9207).
pub fn response_url(redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>, issuer: &str) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
                if let Some(s) = state {
                    q.append_pair("state", s);
                }
                q.append_pair("iss", issuer);
            }
            url.to_string()
        }
        // Registered URIs are validated as absolute URIs; this is unreachable.
        Err(_) => redirect_uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_parameters_join_the_registered_query() {
        let u = response_url("https://app.example/cb?tenant=7", &[("code", "abc")], Some("s t"), "https://issuer");
        assert_eq!(u, "https://app.example/cb?tenant=7&code=abc&state=s+t&iss=https%3A%2F%2Fissuer");
        let e = error_url("https://app.example/cb", &OAuthError::new(ErrorCode::AccessDenied, "no"), None, "i");
        assert_eq!(e, "https://app.example/cb?error=access_denied&error_description=no&iss=i");
    }

    fn params(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn openid_requests_need_a_redirect_uri_and_a_public_client_without_pkce_a_nonce() {
        assert_eq!(oidc_checks(&params(&[]), true, false, false), Ok(()));
        let e = oidc_checks(&params(&[]), false, false, true).unwrap_err();
        assert_eq!(e.description, "redirect_uri is required in an OpenID Connect request");
        let e = oidc_checks(&params(&[]), true, true, false).unwrap_err();
        assert_eq!(e.description, "nonce is required for a public client without PKCE");
        assert_eq!(oidc_checks(&params(&[]), true, true, true), Ok(()));
        let e = oidc_checks(&params(&[("request", "x")]), true, false, false).unwrap_err();
        assert_eq!(e.code, ErrorCode::RequestNotSupported);
        let e = request_objects_refused(&params(&[("request_uri", "https://x")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::RequestUriNotSupported);
    }
}
