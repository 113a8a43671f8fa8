//! Invariant 6: every access token a user gets — through the code flow, from
//! a refresh, or as a dashboard session — is an RFC 9068 JWT that a resource
//! server verifies with the published JWKS alone, and lives as long as its
//! client says.

use chrono::Duration;
use jsonwebtoken::errors::ErrorKind;
use oauth2::PkceCodeVerifier;
use serde_json::{Value, json};

use crate::api_session::post;
use crate::oauth_code::code_as;
use crate::oauth_support::{REDIRECT, Registered, post_form, redeem, verify_for_audience, verify_with_jwks};
use crate::refresh_race::{active, refresh, tokens};
use crate::refresh_rules::expired;
use crate::support::{PASSWORD, TestApp};
use portcullis::clock::Clock;

/// What the token says of itself, besides what `verify_with_jwks` checked
/// (RFC 9068 §2.2): who, for which client and scope, issued now, for `ttl`.
fn assert_claims(app: &TestApp, claims: &Value, sub: &str, client_id: &str, scope: &str, ttl: i64) {
    let now = app.clock.now().timestamp();
    assert_eq!(claims["iss"], json!(app.base), "{claims}");
    assert_eq!(claims["sub"], json!(sub), "{claims}");
    assert_eq!(claims["client_id"], json!(client_id), "{claims}");
    assert_eq!(claims["scope"], json!(scope), "{claims}");
    assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(now), Some(now + ttl)), "{claims}");
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap_or_default()).is_ok(), "{claims}");
}

/// The code exchanged at /oauth/token: the raw answer, to read `expires_in`.
async fn exchange(app: &TestApp, reg: &Registered, code: &str, verifier: &PkceCodeVerifier) -> Value {
    let (status, body) = redeem(app, reg, code, verifier.secret(), Some(REDIRECT)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[actix_web::test]
async fn code_flow_and_refreshed_access_tokens_verify_with_the_jwks_alone() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let (code, verifier) = code_as(&app, &browser, &reg, "read offline_access").await;
    let body = exchange(&app, &reg, &code, &verifier).await;
    let (refresh_token, access) = tokens(&body);
    let claims = verify_with_jwks(&app, &access).await;
    assert_claims(&app, &claims, &user.id, &reg.client.client_id, "offline_access read", 3600);
    assert_eq!(claims["aud"], json!(app.base));
    // Never the management API's audience: a third-party app's token does not act on /v1.
    let refused = verify_for_audience(&app, &access, &app.url("/v1")).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::InvalidAudience);

    app.clock.advance(Duration::seconds(30));
    let (status, body) = refresh(&app, &reg, &refresh_token).await;
    assert_eq!((status, &body["expires_in"]), (200, &json!(3600)), "{body}");
    let (_, refreshed) = tokens(&body);
    let again = verify_with_jwks(&app, &refreshed).await;
    assert_claims(&app, &again, &user.id, &reg.client.client_id, "offline_access read", 3600);
    assert_ne!(again["jti"], claims["jti"], "a new token, not the old one again");
}

#[actix_web::test]
async fn dashboard_access_tokens_verify_with_the_jwks_alone_for_the_management_audience() {
    let app = TestApp::spawn().await;
    let (user, org) = app.user().create().await;
    let (status, _, login) =
        post(&app, "/v1/auth/login", None, json!({"email": user.email, "password": PASSWORD})).await;
    assert_eq!((status, &login["data"]["expires_in"]), (200, &json!(900)), "{login}");
    let access = login["data"]["access_token"].as_str().unwrap();
    let management = app.url("/v1");
    let claims = verify_for_audience(&app, access, &management).await.unwrap();
    assert_claims(&app, &claims, &user.id, "portcullis-dashboard", "admin delete read webhook write", 900);
    assert_eq!((&claims["aud"], &claims["org_id"]), (&json!(management), &json!(org.id)));
    // Never the organization's APIs' audience.
    let refused = verify_for_audience(&app, access, &app.base).await.unwrap_err();
    assert_eq!(refused.kind(), &ErrorKind::InvalidAudience);

    app.clock.advance(Duration::seconds(60));
    let refresh_token = login["data"]["refresh_token"].as_str().unwrap();
    let (status, _, body) = post(&app, "/v1/auth/refresh", None, json!({"refresh_token": refresh_token})).await;
    assert_eq!((status, &body["data"]["expires_in"]), (200, &json!(900)), "{body}");
    let refreshed = verify_for_audience(&app, body["data"]["access_token"].as_str().unwrap(), &management).await;
    let refreshed = refreshed.unwrap();
    assert_claims(&app, &refreshed, &user.id, "portcullis-dashboard", "admin delete read webhook write", 900);
    assert_eq!(refreshed["org_id"], json!(org.id));
}

#[actix_web::test]
async fn a_clients_own_lifetimes_set_exp_expires_in_and_the_refresh_tokens_end() {
    let app = TestApp::spawn().await;
    let mut builder = app.oauth_client().await;
    builder.new_mut().access_token_ttl_secs = Some(120);
    builder.new_mut().refresh_token_ttl_secs = Some(600);
    let reg = builder.create().await;
    let browser = crate::oauth_code::signed_in(&app).await;

    // Code flow: `expires_in` and the token's own `exp - iat` agree.
    let (code, verifier) = code_as(&app, &browser, &reg, "read offline_access").await;
    let body = exchange(&app, &reg, &code, &verifier).await;
    assert_eq!(body["expires_in"], 120, "{body}");
    let (refresh_token, access) = tokens(&body);
    let claims = verify_with_jwks(&app, &access).await;
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120, "{claims}");
    // Client credentials too.
    let (status, _, cc) = post_form(&app, "/oauth/token", &reg, &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, &cc["expires_in"]), (200, &json!(120)), "{cc}");
    let cc_claims = verify_with_jwks(&app, cc["access_token"].as_str().unwrap()).await;
    assert_eq!(cc_claims["exp"].as_i64().unwrap() - cc_claims["iat"].as_i64().unwrap(), 120);
    // The server holds the token to its `exp`.
    app.clock.advance(Duration::seconds(119));
    assert!(active(&app, &reg, &access).await, "alive at 119 s");
    app.clock.advance(Duration::seconds(2));
    assert!(!active(&app, &reg, &access).await, "expired at 121 s");

    // The refresh token lives 600 s unused, not the server's default.
    app.clock.advance(Duration::seconds(599 - 121));
    let (status, body) = refresh(&app, &reg, &refresh_token).await;
    assert_eq!((status, &body["expires_in"]), (200, &json!(120)), "used at 599 s: {body}");
    let (next, access) = tokens(&body);
    let claims = verify_with_jwks(&app, &access).await;
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120, "{claims}");
    app.clock.advance(Duration::seconds(600));
    assert_eq!(refresh(&app, &reg, &next).await, (400, expired()), "unused for 600 s");
}
