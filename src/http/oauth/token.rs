//! POST /oauth/token, /oauth/introspect, /oauth/revoke.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{FormBody, client_credentials, error_response, form_params, no_store_json, param};
use crate::http::AppState;
use crate::metrics::Issued;
use crate::oauth::clients::{Client, GrantType, SecretDigest};
use crate::oauth::grants::{authorization_code, client_credentials as cc, refresh_token};
use crate::oauth::introspect;
use crate::oauth::{ErrorCode, OAuthError};

/// Parses the form and authenticates the client: what all three endpoints
/// start with. The `bool` says whether the Basic header was used.
async fn authenticated(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<(Vec<(String, String)>, (std::sync::Arc<Client>, Option<SecretDigest>), bool), (OAuthError, bool)> {
    let used_basic = req.headers().get("authorization").is_some();
    let params = form_params(req, body).map_err(|e| (e, used_basic))?;
    let credentials = client_credentials(req, &params).map_err(|e| (e, used_basic))?;
    let client =
        state.oauth.clients.authenticate_with_secret(&credentials).await.map_err(|e| (e, credentials.used_basic()))?;
    Ok((params, client, credentials.used_basic()))
}

pub async fn token(req: HttpRequest, state: web::Data<AppState>, FormBody(body): FormBody) -> HttpResponse {
    let (params, (client, secret), basic) = match authenticated(&req, &state, &body).await {
        Ok(ok) => ok,
        Err((e, basic)) => {
            state.metrics.token_errors.count(e.code);
            return error_response(&e, basic);
        }
    };
    let oauth = &state.oauth;
    let grant = param(&params, "grant_type").and_then(|g| g.parse::<GrantType>().ok());
    let result = match param(&params, "grant_type") {
        Some("authorization_code") => {
            authorization_code::grant(
                oauth,
                &client,
                param(&params, "code"),
                param(&params, "redirect_uri"),
                param(&params, "code_verifier"),
            )
            .await
        }
        Some("client_credentials") => cc::grant(oauth, &client, secret.as_ref(), param(&params, "scope")),
        Some("refresh_token") => {
            refresh_token::grant(oauth, &client, param(&params, "refresh_token"), param(&params, "scope")).await
        }
        Some(other) => {
            Err(OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant_type {other:?} is not supported")))
        }
        None => Err(OAuthError::invalid_request("grant_type is required")),
    };
    match result {
        Ok(tokens) => {
            // A grant succeeded: grant_type named it.
            if let Some(grant) = grant {
                state.metrics.tokens_issued.count(Issued(grant, client.client_type));
            }
            no_store_json(StatusCode::OK, &tokens)
        }
        Err(e) => {
            state.metrics.token_errors.count(e.code);
            error_response(&e, basic)
        }
    }
}

pub async fn introspect(req: HttpRequest, state: web::Data<AppState>, FormBody(body): FormBody) -> HttpResponse {
    let (params, (client, _), basic) = match authenticated(&req, &state, &body).await {
        Ok(ok) => ok,
        Err((e, basic)) => return error_response(&e, basic),
    };
    let Some(token) = param(&params, "token").filter(|t| !t.is_empty()) else {
        return error_response(&OAuthError::invalid_request("token is required"), basic);
    };
    // An API key: only resource servers may ask (keys belong to no client),
    // and only of their own organization's keys.
    if crate::apikeys::format::parse(state.api_keys.words(), token).is_some() {
        let body = if client.resource_server {
            let refuse_test = state.config.api.refuse_test_keys;
            match state.api_keys.introspect(token, &client.organization_id, refuse_test).await {
                Ok(body) => body,
                Err(e) => return error_response(&OAuthError::from(e), basic),
            }
        } else {
            json!({ "active": false })
        };
        return no_store_json(StatusCode::OK, &body);
    }
    match introspect::introspect(&state.oauth, &client, token).await {
        Ok(body) => no_store_json(StatusCode::OK, &body),
        Err(e) => error_response(&e, basic),
    }
}

pub async fn revoke(req: HttpRequest, state: web::Data<AppState>, FormBody(body): FormBody) -> HttpResponse {
    let (params, (client, _), basic) = match authenticated(&req, &state, &body).await {
        Ok(ok) => ok,
        Err((e, basic)) => return error_response(&e, basic),
    };
    let Some(token) = param(&params, "token").filter(|t| !t.is_empty()) else {
        return error_response(&OAuthError::invalid_request("token is required"), basic);
    };
    match introspect::revoke(&state.oauth, &client, token).await {
        Ok(()) => no_store_json(StatusCode::OK, &json!({})),
        Err(e) => error_response(&e, basic),
    }
}
