//! Sessions end with their cause (DESIGN invariant 10): a password change,
//! a removal or a role change ends the user's /v1 dashboard sessions and
//! every token issued to the user before it, and a new sign-in works at once.

use chrono::Duration;
use oauth2::{AuthorizationCode, PkceCodeVerifier, TokenResponse};
use portcullis::accounts::members::Asker;
use portcullis::accounts::{Role, User};
use portcullis::apikeys::{Environment, KeyKind, NewApiKey};
use serde_json::{Value, json};

use crate::oauth_code::http;
use crate::oauth_support::{Registered, post_form, redeem};
use crate::support::{PASSWORD, TestApp, call, form_token, location};

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn post_json(app: &TestApp, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(app.url(path)).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// The `error` object of a /v1 envelope without its per-request id.
fn api_error(mut body: Value) -> Value {
    assert_eq!(body["success"], json!(false), "{body}");
    let mut error = body["error"].take();
    error.as_object_mut().expect("an error object").remove("request_id");
    error
}

/// A /v1 dashboard session: (access token, refresh token).
pub(crate) async fn dashboard_login(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let (s, b) = post_json(app, "/v1/auth/login", None, json!({"email": email, "password": password})).await;
    assert_eq!(s, 200, "{b}");
    (b["data"]["access_token"].as_str().unwrap().to_owned(), b["data"]["refresh_token"].as_str().unwrap().to_owned())
}

async fn dashboard_refresh(app: &TestApp, refresh: &str) -> (u16, Value) {
    post_json(app, "/v1/auth/refresh", None, json!({"refresh_token": refresh})).await
}

fn refresh_revoked() -> Value {
    json!({"code": "INVALID_CREDENTIALS", "message": "The refresh token was revoked.", "details": {}})
}

async fn active(app: &TestApp, introspector: &Registered, token: &str) -> bool {
    let (s, _, b) = post_form(app, "/oauth/introspect", introspector, &[("token", token)]).await;
    assert_eq!(s, 200, "{b}");
    b["active"] == json!(true)
}

/// A third-party app's access token for `email`, without a refresh token:
/// it belongs to no family, so only the user-wide revocation can end it.
async fn app_access_token(app: &TestApp, reg: &Registered, email: &str) -> String {
    let (code, verifier) = pending_code(app, reg, email, "read").await;
    let token = app
        .oauth2_client(reg)
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http())
        .await
        .unwrap();
    assert!(token.refresh_token().is_none());
    token.access_token().secret().clone()
}

#[actix_web::test]
async fn a_password_change_ends_the_users_tokens_and_a_new_sign_in_works_at_once() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let third_party = app.oauth_client().await.create().await;
    let org = third_party.client.organization_id.clone();
    let introspector = app.oauth_client().await.in_org(&org).resource_server().create().await;
    let (access, refresh) = dashboard_login(&app, &user.email, PASSWORD).await;
    let app_token = app_access_token(&app, &third_party, &user.email).await;
    assert_eq!(call(&app, "GET", "/v1/auth/me", &access, None).await.0, 200);
    assert!(active(&app, &third_party, &app_token).await);

    // Later, the password changes through the page.
    app.clock.advance(Duration::seconds(30));
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let csrf = form_token(&browser, &app.url("/account/password")).await;
    let res = browser
        .post(app.url("/account/password"))
        .form(&[("csrf_token", csrf.as_str()), ("current_password", PASSWORD), ("new_password", NEW_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account/password?done=1".to_owned()));

    let (s, b) = dashboard_refresh(&app, &refresh).await;
    assert_eq!((s, api_error(b)), (401, refresh_revoked()), "the old refresh token is dead");
    let (s, b) = call(&app, "GET", "/v1/auth/me", &access, None).await;
    assert_eq!(
        (s, api_error(b)),
        (401, json!({"code": "REVOKED_API_KEY", "message": "The access token has been revoked.", "details": {}}))
    );
    assert!(!active(&app, &introspector, &app_token).await, "inactive for resource servers too");
    assert!(!active(&app, &third_party, &app_token).await, "so is every other token issued to the user before");

    // In the very same second, a new sign-in with the new password works.
    let (access, refresh) = dashboard_login(&app, &user.email, NEW_PASSWORD).await;
    let (s, me) = call(&app, "GET", "/v1/auth/me", &access, None).await;
    assert_eq!((s, me["data"]["id"].as_str()), (200, Some(user.id.as_str())));
    assert_eq!(dashboard_refresh(&app, &refresh).await.0, 200);
}

async fn admin_key(app: &TestApp, user: &User, organization_id: &str) -> String {
    let new = NewApiKey {
        organization_id: organization_id.to_owned(),
        created_by: Some(user.id.clone()),
        name: "admin".into(),
        kind: KeyKind::Secret,
        environment: Environment::Live,
        scopes: vec!["read".into(), "admin".into()],
        expires_at: None,
        rate_limit_per_minute: None,
        made_by_key: None,
        made_by_app: None,
        made_by_secret: None,
    };
    app.state.api_keys.create(new).await.unwrap().1
}

#[actix_web::test]
async fn removing_or_demoting_a_member_ends_their_sessions_and_no_one_elses() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (demoted, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let (removed, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let (bystander, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let key = admin_key(&app, &owner, &org.id).await;
    let (demoted_access, demoted_refresh) = dashboard_login(&app, &demoted.email, PASSWORD).await;
    let (_, removed_refresh) = dashboard_login(&app, &removed.email, PASSWORD).await;
    let (_, bystander_refresh) = dashboard_login(&app, &bystander.email, PASSWORD).await;

    app.clock.advance(Duration::seconds(30));
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/members/{}", demoted.id), &key, Some(json!({"role": "VIEWER"}))).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(&app, "DELETE", &format!("/v1/members/{}", removed.id), &key, None).await;
    assert_eq!(s, 200, "{b}");

    let (s, b) = dashboard_refresh(&app, &demoted_refresh).await;
    assert_eq!((s, api_error(b)), (401, refresh_revoked()), "the demoted member's session ends");
    let (s, b) = call(&app, "GET", "/v1/auth/me", &demoted_access, None).await;
    assert_eq!(
        (s, api_error(b)),
        (401, json!({"code": "REVOKED_API_KEY", "message": "The access token has been revoked.", "details": {}}))
    );
    let (s, b) = dashboard_refresh(&app, &removed_refresh).await;
    assert_eq!((s, api_error(b)), (401, refresh_revoked()), "the removed member's session ends");
    let (s, b) = dashboard_refresh(&app, &bystander_refresh).await;
    assert_eq!(s, 200, "another member's session goes on: {b}");

    // The demoted member signs in again, under the new role, at once.
    let (access, _) = dashboard_login(&app, &demoted.email, PASSWORD).await;
    let (s, me) = call(&app, "GET", "/v1/auth/me", &access, None).await;
    assert_eq!((s, me["data"]["acting_for"]["role"].as_str()), (200, Some("VIEWER")));
}

#[actix_web::test]
async fn logout_denies_every_access_token_of_the_session_not_only_the_one_used() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let (first_access, refresh) = dashboard_login(&app, &user.email, PASSWORD).await;
    let (s, b) = dashboard_refresh(&app, &refresh).await;
    assert_eq!(s, 200, "{b}");
    let (access, refresh) = (
        b["data"]["access_token"].as_str().unwrap().to_owned(),
        b["data"]["refresh_token"].as_str().unwrap().to_owned(),
    );

    let (s, _) = post_json(&app, "/v1/auth/logout", Some(&access), json!({"refresh_token": refresh})).await;
    assert_eq!(s, 200);
    // The access token issued at sign-in belongs to the same family (RFC 7009 §2.1).
    let (s, b) = call(&app, "GET", "/v1/auth/me", &first_access, None).await;
    assert_eq!(
        (s, api_error(b)),
        (401, json!({"code": "REVOKED_API_KEY", "message": "The access token has been revoked.", "details": {}}))
    );
}

/// A code for `email`'s approval of `scope`, not yet redeemed.
async fn pending_code(app: &TestApp, reg: &Registered, email: &str, scope: &str) -> (String, String) {
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, email, PASSWORD).await.status(), 303);
    let (code, verifier) = crate::oauth_code::code_as(app, &browser, reg, scope).await;
    (code, verifier.secret().clone())
}

#[actix_web::test]
async fn a_code_not_yet_redeemed_dies_with_the_users_tokens() {
    // Second attack round: a code taken just before a removal (or password
    // change) still gave a 90-day refresh family.
    let app = TestApp::spawn().await;
    let (_, org) = app.user().create().await;
    let (member, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let reg = app.oauth_client().await.create().await;
    let (code, verifier) = pending_code(&app, &reg, &member.email, "read offline_access").await;
    app.state.accounts.remove_member(&org.id, &member.id, Asker::Operator).await.unwrap();
    let (s, b) = redeem(&app, &reg, &code, &verifier, Some(&reg.client.redirect_uris[0])).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")), "{b}");
}

#[actix_web::test]
async fn the_current_password_at_the_password_page_is_throttled_like_a_sign_in() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let attempt = |current: &'static str| {
        let browser = browser.clone();
        let url = app.url("/account/password");
        async move {
            let csrf = form_token(&browser, &url).await;
            let form = [("csrf_token", csrf.as_str()), ("current_password", current), ("new_password", NEW_PASSWORD)];
            browser.post(url).form(&form).send().await.unwrap().status().as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("a wrong guess here").await, 400);
    }
    assert_eq!(attempt("a wrong guess here").await, 429, "the sixth guess is throttled");
    assert_eq!(attempt(PASSWORD).await, 429, "even the right one, until the window passes");
    app.clock.advance(Duration::seconds(901));
    assert_eq!(attempt(PASSWORD).await, 303);
}

#[actix_web::test]
async fn a_refresh_family_loses_the_scopes_its_app_lost() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let reg = app.oauth_client().await.create().await;
    let (code, verifier) = pending_code(&app, &reg, &user.email, "read write offline_access").await;
    let token = app
        .oauth2_client(&reg)
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http())
        .await
        .unwrap();
    let narrower = portcullis::oauth::clients::ClientChanges {
        scopes: Some(vec!["read".into(), "offline_access".into()]),
        ..Default::default()
    };
    app.state.oauth.clients.update(&reg.client.client_id, narrower).await.unwrap();
    let refresh = token.refresh_token().unwrap().secret().clone();
    let (s, _, b) =
        post_form(&app, "/oauth/token", &reg, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)]).await;
    assert_eq!((s, b["scope"].as_str()), (200, Some("offline_access read")), "{b}");
}

/// Attacker round 4, M-3: revocations were kept to the whole second, so a
/// token made earlier in the same second as a demotion lived on (no refresh
/// family to deny it by). Now a token made a moment before dies, and one
/// made a moment after, in the same second, lives.
#[actix_web::test]
async fn a_token_made_a_moment_before_a_demotion_dies_and_one_made_after_it_lives() {
    use crate::oauth_code::code_as;
    use crate::oauth_support::{REDIRECT, post_form, redeem};
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (member, _) = app.user().org(&org.name).role(portcullis::accounts::Role::Admin).create().await;
    let (_, owner_key) = app.secret_key(&org.id, &owner.id, &["read", "write", "admin"]).await;
    let reg = app.oauth_client().await.create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &member.email, crate::support::PASSWORD).await.status(), 303);
    let access = async || {
        let (code, verifier) = code_as(&app, &browser, &reg, "read").await;
        let (s, b) = redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT)).await;
        assert_eq!(s, 200, "{b}");
        assert!(b["refresh_token"].is_null(), "no family to deny it by");
        b["access_token"].as_str().unwrap().to_owned()
    };
    let active =
        async |token: &str| post_form(&app, "/oauth/introspect", &reg, &[("token", token)]).await.2["active"] == true;
    let before = access().await;
    assert!(active(&before).await);
    app.clock.advance(chrono::Duration::milliseconds(5));
    let path = format!("/v1/members/{}", member.id);
    let (s, b) =
        crate::support::call(&app, "PATCH", &path, &owner_key, Some(serde_json::json!({"role": "VIEWER"}))).await;
    assert_eq!(s, 200, "{b}");
    assert!(!active(&before).await, "made 5 ms before the demotion, in the same second: dead");
    app.clock.advance(chrono::Duration::milliseconds(5));
    let after = access().await;
    assert!(active(&after).await, "made 5 ms after, in the same second: alive");
}
