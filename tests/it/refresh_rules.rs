//! Refresh tokens: how long they live, whose they are, and what a narrowed
//! refresh grants.

use chrono::Duration;
use serde_json::json;

use crate::oauth_code::{signed_in, tokens_as};
use crate::oauth_support::post_form;
use crate::refresh_race::{active, first_tokens, refresh, tokens};
use crate::support::TestApp;

pub(crate) fn expired() -> serde_json::Value {
    json!({"error": "invalid_grant", "error_description": "The refresh token has expired."})
}

#[actix_web::test]
async fn a_refresh_token_ends_after_its_idle_lifetime_and_its_family_after_the_absolute_one() {
    let app = TestApp::spawn_with(|c| {
        c.oauth.refresh_token_ttl_secs = 100;
        c.oauth.refresh_token_absolute_ttl_secs = 250;
    })
    .await;
    let reg = app.oauth_client().await.create().await;

    // Idle: unused for 100 s, gone.
    let (idle, _) = first_tokens(&app, &reg).await;
    app.clock.advance(Duration::seconds(100));
    assert_eq!(refresh(&app, &reg, &idle).await, (400, expired()));

    // Used every 99 s, the family still ends 250 s after its first grant.
    let (mut token, _) = first_tokens(&app, &reg).await;
    for _ in 0..2 {
        app.clock.advance(Duration::seconds(99));
        let (s, b) = refresh(&app, &reg, &token).await;
        assert_eq!(s, 200, "{b}");
        token = tokens(&b).0;
    }
    app.clock.advance(Duration::seconds(50));
    assert!(active(&app, &reg, &token).await, "alive at 248 s");
    app.clock.advance(Duration::seconds(2));
    assert_eq!(refresh(&app, &reg, &token).await, (400, expired()));
}

#[actix_web::test]
async fn another_clients_refresh_token_is_invalid_grant_and_the_family_lives_on() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let thief = app.oauth_client().await.create().await;
    let (token, access) = first_tokens(&app, &reg).await;

    assert_eq!(
        refresh(&app, &thief, &token).await,
        (400, json!({"error": "invalid_grant", "error_description": "The refresh token is invalid."}))
    );
    // Revoking or introspecting it as another client is refused or learns nothing.
    let (s, _, b) = post_form(&app, "/oauth/revoke", &thief, &[("token", token.as_str())]).await;
    assert_eq!(
        (s, b),
        (400, json!({"error": "unauthorized_client", "error_description": "The token was not issued to this client."}))
    );
    let (s, _, b) = post_form(&app, "/oauth/introspect", &thief, &[("token", token.as_str())]).await;
    assert_eq!((s, b), (200, json!({"active": false})));

    // The owner's family is untouched: its access token lives, its refresh token refreshes.
    assert!(active(&app, &reg, &access).await);
    let (s, b) = refresh(&app, &reg, &token).await;
    assert_eq!(s, 200, "{b}");
    let (next, access) = tokens(&b);
    assert!(active(&app, &reg, &access).await);
    assert_eq!(refresh(&app, &thief, &next).await.0, 400);
    assert_eq!(refresh(&app, &reg, &next).await.0, 200);
}

#[actix_web::test]
async fn a_narrowed_refresh_narrows_the_access_token_and_the_refresh_token_keeps_its_scope() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (token, _) = tokens_as(&app, &signed_in(&app).await, &reg, "read write offline_access").await;
    let (s, _, b) = post_form(
        &app,
        "/oauth/token",
        &reg,
        &[("grant_type", "refresh_token"), ("refresh_token", token.as_str()), ("scope", "read offline_access")],
    )
    .await;
    assert_eq!((s, &b["scope"]), (200, &json!("offline_access read")), "{b}");
    let (next, access) = tokens(&b);
    let (_, _, seen) = post_form(&app, "/oauth/introspect", &reg, &[("token", access.as_str())]).await;
    assert_eq!(seen["scope"], "offline_access read", "the access token has the narrowed scope: {seen}");
    // RFC 6749 §6: the new refresh token's scope is identical to the one presented.
    let (_, _, seen) = post_form(&app, "/oauth/introspect", &reg, &[("token", next.as_str())]).await;
    assert_eq!(seen["scope"], "offline_access read write", "{seen}");
    let (s, b) = refresh(&app, &reg, &next).await;
    assert_eq!((s, &b["scope"]), (200, &json!("offline_access read write")), "{b}");
}
