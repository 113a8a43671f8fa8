//! /v1/auth/login, refresh, logout, me: dashboard sessions for API clients.

use portcullis::accounts::Role;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp};

pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().post(app.url(path)).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await.unwrap();
    let (s, h) = (res.status().as_u16(), res.headers().clone());
    (s, h, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, bearer: &str) -> (u16, Value) {
    let res = reqwest::Client::new().get(app.url(path)).bearer_auth(bearer).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn login_me_refresh_logout() {
    let app = TestApp::spawn().await;
    let (user, org) = app.user().role(Role::Developer).create().await;
    let (s, _, b) =
        post(&app, "/v1/auth/login", None, json!({"email": user.email.to_uppercase(), "password": PASSWORD})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["expires_in"], 900);
    let access = b["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh = b["data"]["refresh_token"].as_str().unwrap().to_owned();

    let (s, me) = get(&app, "/v1/auth/me", &access).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(me["data"]["email"], json!(user.email));
    assert_eq!(me["data"]["organizations"], json!([{"id": org.id, "name": org.name, "role": "DEVELOPER"}]));
    let (_, v) = get(&app, "/v1/auth/validate", &access).await;
    assert_eq!(v["data"]["credential"]["type"], "dashboard_session");
    assert_eq!(v["data"]["credential"]["scopes"], json!(["delete", "read", "webhook", "write"]), "capped by DEVELOPER");

    // Refresh rotates; the old refresh token is then spent.
    let (s, _, r) = post(&app, "/v1/auth/refresh", None, json!({"refresh_token": refresh})).await;
    assert_eq!(s, 200, "{r}");
    let access2 = r["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh2 = r["data"]["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh);
    // Past the grace for a lost race (RFC 9700 §4.14.2), a reuse is a replay.
    app.clock.advance(chrono::Duration::seconds(6));
    let (s, _, e) = post(&app, "/v1/auth/refresh", None, json!({"refresh_token": refresh})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (401, Some("INVALID_CREDENTIALS")));
    // …and that reuse revoked the whole family, access tokens included.
    let (s, _, _) = post(&app, "/v1/auth/refresh", None, json!({"refresh_token": refresh2})).await;
    assert_eq!(s, 401);
    assert_eq!(get(&app, "/v1/auth/me", &access2).await.0, 401);

    // Logout denies the access token at once and ends the refresh family.
    let (_, _, b) = post(&app, "/v1/auth/login", None, json!({"email": user.email, "password": PASSWORD})).await;
    let access3 = b["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh3 = b["data"]["refresh_token"].as_str().unwrap().to_owned();
    let (s, _, _) = post(&app, "/v1/auth/logout", Some(&access3), json!({"refresh_token": refresh3})).await;
    assert_eq!(s, 200);
    let (s, e) = get(&app, "/v1/auth/me", &access3).await;
    assert_eq!((s, e["error"]["code"].as_str()), (401, Some("REVOKED_API_KEY")));
    assert_eq!(post(&app, "/v1/auth/refresh", None, json!({"refresh_token": refresh3})).await.0, 401);
}

#[actix_web::test]
async fn login_failures_are_uniform_and_throttled() {
    let app = TestApp::spawn_with(|c| c.login_throttle.per_ip = 100).await;
    let (user, _) = app.user().create().await;
    for (email, password) in [(user.email.as_str(), "wrong password"), ("nobody@example.com", "wrong password")] {
        let (s, h, b) = post(&app, "/v1/auth/login", None, json!({"email": email, "password": password})).await;
        assert_eq!(s, 401);
        assert_eq!(b["error"]["code"], "INVALID_CREDENTIALS");
        assert_eq!(b["error"]["message"], "Invalid email or password.");
        assert_eq!(h["www-authenticate"], "Bearer realm=\"portcullis\"");
    }
    for _ in 0..4 {
        post(&app, "/v1/auth/login", None, json!({"email": user.email, "password": "wrong password"})).await;
    }
    let (s, h, b) = post(&app, "/v1/auth/login", None, json!({"email": user.email, "password": PASSWORD})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (429, Some("RATE_LIMITED")));
    assert!(h.contains_key("retry-after"));
    let (s, _, b) = post(&app, "/v1/auth/login", None, json!({"email": user.email})).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")));
}

#[actix_web::test]
async fn a_logout_whose_body_is_wrong_is_refused_and_ends_nothing() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let (_, _, b) = post(&app, "/v1/auth/login", None, json!({"email": user.email, "password": PASSWORD})).await;
    let access = b["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh = b["data"]["refresh_token"].as_str().unwrap().to_owned();
    // A misspelt field made the body "absent": the answer said logged out,
    // and the refresh token the caller meant to end lived on.
    let body = json!({"refresh_token": refresh, "revoke": true});
    let (s, _, e) = post(&app, "/v1/auth/logout", Some(&access), body).await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["message"], "Invalid JSON body: unknown field `revoke`, expected `refresh_token`");
    assert_eq!(get(&app, "/v1/auth/me", &access).await.0, 200);

    let (s, _, _) = post(&app, "/v1/auth/logout", Some(&access), json!({"refresh_token": refresh})).await;
    assert_eq!(s, 200);
    assert_eq!(post(&app, "/v1/auth/refresh", None, json!({"refresh_token": refresh})).await.0, 401);
}
