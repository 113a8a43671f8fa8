//! Two instances on one database behave as one server: what one revokes or
//! changes, the other sees, through its running change poller.

use serde_json::json;

use crate::api_apps::{machine_token, owner_key, register};
use crate::oauth_code::{signed_in, tokens_as};
use crate::oauth_support::post_form;
use crate::refresh_race::{active, refresh, revoked};
use crate::support::{TestApp, call};

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
async fn a_second_instance_sees_revocations_and_app_changes_made_on_the_first() {
    let first = TestApp::spawn_with(|c| c.change_poll_interval_ms = 50).await;
    let second = first.second_instance().await;
    let (_, key) = owner_key(&first).await;

    // An API key revoked on the first is refused there at once, and by the
    // second (which verified it from memory) as soon as the change reaches it.
    let (s, b) = call(&first, "POST", "/v1/api-keys", &key, Some(json!({"name": "k", "scopes": ["read"]}))).await;
    assert_eq!(s, 201, "{b}");
    let (id, k) = (b["data"]["id"].as_str().unwrap(), b["data"]["key"].as_str().unwrap());
    assert_eq!(call(&first, "GET", "/v1/auth/validate", k, None).await.0, 200);
    assert_eq!(call(&second, "GET", "/v1/auth/validate", k, None).await.0, 200);
    assert_eq!(call(&first, "DELETE", &format!("/v1/api-keys/{id}"), &key, None).await.0, 200);
    let (s, b) = call(&first, "GET", "/v1/auth/validate", k, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("REVOKED_API_KEY")), "{b}");
    eventually("a key revoked", async || {
        let (s, b) = call(&second, "GET", "/v1/auth/validate", k, None).await;
        (s, b["error"]["code"].as_str()) == (401, Some("REVOKED_API_KEY"))
    })
    .await;

    // A refresh token revoked on the first: its family is dead there at once
    // (the refresh token on the second too: it is read from the database),
    // and its access token, which the second checked from memory, as soon
    // as the change reaches it.
    let reg = first.oauth_client().await.create().await;
    let (token, access) = tokens_as(&first, &signed_in(&first).await, &reg, "read offline_access").await;
    assert!(active(&first, &reg, &access).await);
    assert!(active(&second, &reg, &access).await);
    assert_eq!(post_form(&first, "/oauth/revoke", &reg, &[("token", token.as_str())]).await.0, 200);
    assert!(!active(&first, &reg, &access).await);
    assert_eq!(refresh(&second, &reg, &token).await, (400, revoked()));
    eventually("an access token revoked with its family", async || !active(&second, &reg, &access).await).await;

    // An app changed, then deleted, on the first: the second's cache follows.
    let api =
        register(&first, &key, json!({"name": "API", "grant_types": ["client_credentials"], "resource_server": true}))
            .await;
    let bot = register(
        &first,
        &key,
        json!({"name": "Bot", "grant_types": ["client_credentials"], "scopes": ["read", "write"]}),
    )
    .await;
    assert_eq!(machine_token(&second, &bot, "write").await.0, 200, "cached on the second now");
    let path = format!("/v1/apps/{}", bot.client.client_id);
    assert_eq!(call(&first, "PATCH", &path, &key, Some(json!({"scopes": ["read"]}))).await.0, 200);
    eventually("a scope removed", async || machine_token(&second, &bot, "write").await.0 == 400).await;
    let (s, t) = machine_token(&second, &bot, "read").await;
    assert_eq!(s, 200, "{t}");
    let issued = t["access_token"].as_str().unwrap().to_owned();
    let (_, _, seen) = post_form(&second, "/oauth/introspect", &api, &[("token", issued.as_str())]).await;
    assert_eq!(seen["active"], true);

    assert_eq!(call(&first, "DELETE", &path, &key, None).await.0, 200);
    eventually("an app deleted", async || machine_token(&second, &bot, "read").await.0 == 401).await;
    let (_, _, seen) = post_form(&second, "/oauth/introspect", &api, &[("token", issued.as_str())]).await;
    assert_eq!(seen, json!({"active": false}), "its token died with it");
}
