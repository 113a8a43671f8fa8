//! /v1/authorized-apps: a user sees the apps they consented to and withdraws
//! a consent; the app's tokens for that user die with it (refresh tokens,
//! access tokens with or without a refresh token behind them), on every
//! instance, and the next authorization request asks again. Only the user's
//! own dashboard session may do it.

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use portcullis::oauth::clients::GrantType;
use serde_json::{Value, json};

use crate::api_apps::machine_token;
use crate::oauth_code::{code_as, tokens_as};
use crate::oauth_support::{REDIRECT, Registered, redeem};
use crate::oidc_support::signed_in_user;
use crate::refresh_race::{active, refresh, revoked};
use crate::support::{PASSWORD, TestApp, audit_events_eventually, call};

/// A dashboard session of `email` (POST /v1/auth/login).
async fn session(app: &TestApp, email: &str) -> String {
    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["data"]["access_token"].as_str().unwrap().to_owned()
}

/// An app that may ask for `openid` (so /oauth/userinfo takes its tokens).
pub(crate) async fn third_party(app: &TestApp) -> Registered {
    app.oauth_client().await.scopes(&["openid", "read", "write", "offline_access"]).create().await
}

/// An access token without a refresh token (no `offline_access`).
pub(crate) async fn access_only(app: &TestApp, browser: &reqwest::Client, reg: &Registered, scope: &str) -> String {
    let (code, verifier) = code_as(app, browser, reg, scope).await;
    let (status, body) = redeem(app, reg, &code, verifier.secret(), Some(REDIRECT)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "no offline_access, no refresh token: {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn userinfo(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new().get(app.url("/oauth/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

/// The authorization URL of `reg` for `scope`.
fn auth_url(app: &TestApp, reg: &Registered, scope: &str) -> String {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = app
        .oauth2_client(reg)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(scope.into()))
        .set_pkce_challenge(challenge)
        .url();
    url.to_string()
}

fn path(reg: &Registered) -> String {
    format!("/v1/authorized-apps/{}", reg.client.client_id)
}

#[actix_web::test]
async fn withdrawing_a_consent_ends_every_token_of_the_app_and_the_next_request_asks_again() {
    let app = TestApp::spawn().await;
    let reg = third_party(&app).await;
    let (browser, _, email) = signed_in_user(&app).await;
    let (refresh_token, with_refresh) = tokens_as(&app, &browser, &reg, "openid read offline_access").await;
    let without_refresh = access_only(&app, &browser, &reg, "openid read").await;
    // Tokens of earlier seconds die by their `iat`; one of the very second
    // of the withdrawal by its `jti`.
    app.clock.advance(chrono::Duration::seconds(5));
    let same_second = access_only(&app, &browser, &reg, "openid read").await;
    // Another user of the same app keeps everything.
    let (other_browser, _, _) = signed_in_user(&app).await;
    let (other_refresh, other_access) = tokens_as(&app, &other_browser, &reg, "openid read offline_access").await;

    let dash = session(&app, &email).await;
    let (s, b) = call(&app, "GET", "/v1/authorized-apps", &dash, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["has_more"], false);
    let apps = b["data"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{b}");
    let listed = &apps[0];
    assert_eq!(listed["id"], json!(reg.client.client_id));
    assert_eq!(listed["object"], "authorized_app");
    assert_eq!(listed["client_id"], json!(reg.client.client_id));
    assert_eq!(listed["name"], "Example App");
    assert_eq!(listed["organization"]["id"], json!(reg.client.organization_id));
    assert!(listed["organization"]["name"].as_str().is_some_and(|n| !n.is_empty()), "{listed}");
    assert_eq!(listed["homepage_url"], "https://app.example/about");
    assert_eq!(listed["logo_url"], Value::Null);
    let mut scopes: Vec<&str> = listed["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    scopes.sort();
    assert_eq!(scopes, ["offline_access", "openid", "read"]);
    assert!(listed["granted_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{listed}");

    for token in [&with_refresh, &without_refresh, &same_second] {
        assert!(active(&app, &reg, token).await);
        assert_eq!(userinfo(&app, token).await, 200);
    }

    let (s, b) = call(&app, "DELETE", &path(&reg), &dash, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"], json!({"id": reg.client.client_id, "object": "authorized_app", "revoked": true}));

    // The refresh token's family ended; both access tokens are dead.
    assert_eq!(refresh(&app, &reg, &refresh_token).await, (400, revoked()));
    // The token without a refresh token first: a re-read for another token
    // of the same app and user would refresh what is kept for both.
    for token in [&without_refresh, &same_second, &with_refresh] {
        assert!(!active(&app, &reg, token).await, "introspection says inactive");
        assert_eq!(userinfo(&app, token).await, 401, "userinfo refuses it");
    }
    let (_, b) = call(&app, "GET", "/v1/authorized-apps", &dash, None).await;
    assert_eq!(b["data"], json!([]));

    // Nothing is remembered: the consent page shows again, and a new
    // approval gives tokens that work (even within the same second).
    let res = browser.get(auth_url(&app, &reg, "openid read")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the consent page, not a redirect");
    assert!(res.text().await.unwrap().contains("csrf_token"));
    let again = access_only(&app, &browser, &reg, "openid read").await;
    assert!(active(&app, &reg, &again).await);
    assert_eq!(userinfo(&app, &again).await, 200);

    // The other user's consent and tokens are untouched.
    assert!(active(&app, &reg, &other_access).await);
    assert_eq!(refresh(&app, &reg, &other_refresh).await.0, 200);

    // Told to the app's organization, the only one the consent concerns.
    let events = audit_events_eventually(&app, &reg.client.organization_id, "consent.revoked").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target.as_deref(), Some(reg.client.client_id.as_str()));
    assert!(events[0].actor.starts_with("user:"), "{:?}", events[0]);
}

#[actix_web::test]
async fn withdrawing_what_was_never_granted_is_not_found() {
    let app = TestApp::spawn().await;
    let reg = third_party(&app).await;
    let (user, _) = app.user().create().await;
    let dash = session(&app, &user.email).await;
    let want = |b: &Value| b["error"]["code"].as_str() == Some("NOT_FOUND");
    let (s, b) = call(&app, "DELETE", "/v1/authorized-apps/no-such-app", &dash, None).await;
    assert!(s == 404 && want(&b), "{s} {b}");
    // A real app this user never authorized (another user did).
    let (browser, _, _) = signed_in_user(&app).await;
    tokens_as(&app, &browser, &reg, "read offline_access").await;
    let (s, b) = call(&app, "DELETE", &path(&reg), &dash, None).await;
    assert!(s == 404 && want(&b), "{s} {b}");
    let (s, b) = call(&app, "GET", "/v1/authorized-apps?starting_after=no-such-app", &dash, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
}

#[actix_web::test]
async fn only_the_users_own_dashboard_session_reads_or_ends_their_authorizations() {
    let app = TestApp::spawn().await;
    let reg = third_party(&app).await;
    let (user, org) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let (_, app_token) = tokens_as(&app, &browser, &reg, "read offline_access").await;

    // An API key the user made for their organization, with every scope.
    let (_, key) = app.secret_key(&org.id, &user.id, &["read", "write", "delete", "admin"]).await;
    // A management app the user made: its token acts on /v1 for them.
    let machine = app
        .client_in(&org.id, &user.id)
        .management()
        .grants(&[GrantType::ClientCredentials])
        .scopes(&["read", "write", "delete", "admin"])
        .create()
        .await;
    let (s, t) = machine_token(&app, &machine, "read delete").await;
    assert_eq!(s, 200, "{t}");
    let machine_access = t["access_token"].as_str().unwrap().to_owned();

    for credential in [&key, &machine_access] {
        for (method, p) in [("GET", "/v1/authorized-apps".to_owned()), ("DELETE", path(&reg))] {
            let (s, b) = call(&app, method, &p, credential, None).await;
            assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "{method} {p}: {b}");
            assert!(b["error"]["message"].as_str().unwrap().contains("dashboard session"), "{b}");
        }
    }
    // The app's own token is no /v1 credential at all (docs/authority.md).
    let (s, b) = call(&app, "GET", "/v1/authorized-apps", &app_token, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("INVALID_API_KEY")), "{b}");
    let (s, b) = call(&app, "DELETE", &path(&reg), &app_token, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("INVALID_API_KEY")), "{b}");

    // Nothing was withdrawn.
    assert!(active(&app, &reg, &app_token).await);
    let (s, b) = call(&app, "GET", "/v1/authorized-apps", &session(&app, &user.email).await, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["client_id"], json!(reg.client.client_id), "{b}");
}

/// Asks until `check` holds; fails after 10 s (the poll runs every 50 ms).
async fn eventually(what: &str, check: impl AsyncFn() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the second instance never saw: {what}");
}

#[actix_web::test]
async fn a_second_instance_refuses_the_apps_tokens_after_a_withdrawal_on_the_first() {
    let first = TestApp::spawn_with(|c| c.change_poll_interval_ms = 50).await;
    let second = first.second_instance().await;
    let reg = third_party(&first).await;
    let (browser, _, email) = signed_in_user(&first).await;
    let (_, with_refresh) = tokens_as(&first, &browser, &reg, "openid read offline_access").await;
    let without_refresh = access_only(&first, &browser, &reg, "openid read").await;
    // The second checked them once, so it answers from memory from now on.
    for token in [&with_refresh, &without_refresh] {
        assert!(active(&second, &reg, token).await);
        assert_eq!(userinfo(&second, token).await, 200);
    }

    // Seconds later, so that their `iat` alone is what kills them.
    first.clock.advance(chrono::Duration::seconds(5));
    let dash = session(&first, &email).await;
    assert_eq!(call(&first, "DELETE", &path(&reg), &dash, None).await.0, 200);
    // The token without a refresh token first: a re-read for the other
    // (whose `jti` was denied) would refresh what is kept for both.
    for token in [&without_refresh, &with_refresh] {
        assert!(!active(&first, &reg, token).await, "dead on the first at once");
        eventually("a withdrawn consent", async || !active(&second, &reg, token).await).await;
        assert_eq!(userinfo(&second, token).await, 401);
    }
}
