//! /v1/apps: OAuth clients managed through the API.

use portcullis::accounts::Role;
use serde_json::{Value, json};

use crate::oauth_support::{Registered, post_form};
use crate::support::{TestApp, call};

/// An OWNER of a new organization and their key with every broad scope.
pub(crate) async fn owner_key(app: &TestApp) -> (String, String) {
    let (user, org) = app.user().create().await;
    let (_, key) = app
        .state
        .api_keys
        .create(portcullis::apikeys::NewApiKey {
            organization_id: org.id.clone(),
            created_by: Some(user.id),
            name: "ops".into(),
            kind: portcullis::apikeys::KeyKind::Secret,
            environment: portcullis::apikeys::Environment::Live,
            scopes: ["read", "write", "delete", "admin"].map(String::from).to_vec(),
            expires_at: None,
            rate_limit_per_minute: None,
            made_by_key: None,
            made_by_app: None,
            made_by_secret: None,
        })
        .await
        .unwrap();
    (org.name, key)
}

/// An app registered through /v1 with `key`, as the OAuth helpers know it.
pub(crate) async fn register(app: &TestApp, key: &str, body: Value) -> Registered {
    let (s, b) = call(app, "POST", "/v1/apps", key, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let client = app.state.oauth.clients.get(b["data"]["client_id"].as_str().unwrap()).await.unwrap().unwrap();
    Registered { client: (*client).clone(), secret: b["data"]["client_secret"].as_str().map(str::to_owned) }
}

/// A client-credentials request: status and body.
pub(crate) async fn machine_token(app: &TestApp, reg: &Registered, scope: &str) -> (u16, Value) {
    let (s, _, b) =
        post_form(app, "/oauth/token", reg, &[("grant_type", "client_credentials"), ("scope", scope)]).await;
    (s, b)
}

#[actix_web::test]
async fn apps_lifecycle_secret_shown_once_and_rotation() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    let (s, b) = call(
        &app,
        "POST",
        "/v1/apps",
        &key,
        Some(json!({
            "name": "Billing", "grant_types": ["client_credentials"], "scopes": ["read"],
            "homepage_url": "https://billing.example"
        })),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let id = b["data"]["client_id"].as_str().unwrap().to_owned();
    let secret = b["data"]["client_secret"].as_str().unwrap().to_owned();
    let (s, one) = call(&app, "GET", &format!("/v1/apps/{id}"), &key, None).await;
    assert_eq!(s, 200);
    assert!(one["data"].get("client_secret").is_none());
    let (_, list) = call(&app, "GET", "/v1/apps", &key, None).await;
    assert_eq!(list["data"][0]["id"], json!(id));
    assert!(!list.to_string().contains(&secret));

    // The secret works at the token endpoint.
    let token = |secret: String| {
        let (url, id) = (app.url("/oauth/token"), id.clone());
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(token(secret.clone()).await, 200);

    // PATCH: the change is visible at once (the cache is dropped).
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(json!({"name": "Billing v2", "homepage_url": null})))
            .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["data"]["name"].as_str(), &b["data"]["homepage_url"]), (Some("Billing v2"), &Value::Null));
    let (s, b) = call(
        &app,
        "PATCH",
        &format!("/v1/apps/{id}"),
        &key,
        Some(json!({"redirect_uris": ["http://evil.example/cb"]})),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")));

    // Rotation: the old secret stops now unless a grace period is asked for.
    let (s, b) = call(&app, "POST", &format!("/v1/apps/{id}/rotate-secret"), &key, None).await;
    assert_eq!(s, 200);
    let new = b["data"]["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(token(secret).await, 401);
    assert_eq!(token(new.clone()).await, 200);

    // Delete: the app, its secrets and its tokens are gone.
    let (s, _) = call(&app, "DELETE", &format!("/v1/apps/{id}"), &key, None).await;
    assert_eq!(s, 200);
    assert_eq!(token(new).await, 401);
    assert_eq!(call(&app, "GET", &format!("/v1/apps/{id}"), &key, None).await.0, 404);

    let (_, log) = call(&app, "GET", "/v1/audit-events", &key, None).await;
    let actions: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["app.deleted", "app.secret_rotated", "app.updated", "app.created"]);
}

#[actix_web::test]
async fn apps_of_other_organizations_are_not_found_and_developers_touch_only_theirs() {
    let app = TestApp::spawn().await;
    let (_, key_a) = owner_key(&app).await;
    let (org_b, key_b) = owner_key(&app).await;
    let (_, b) =
        call(&app, "POST", "/v1/apps", &key_b, Some(json!({"name": "B", "grant_types": ["client_credentials"]}))).await;
    let id_b = b["data"]["client_id"].as_str().unwrap().to_owned();
    for (method, path) in [
        ("GET", format!("/v1/apps/{id_b}")),
        ("DELETE", format!("/v1/apps/{id_b}")),
        ("POST", format!("/v1/apps/{id_b}/rotate-secret")),
    ] {
        let (s, b) = call(&app, method, &path, &key_a, None).await;
        assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{method} {path}");
    }
    // A developer of B cannot delete the owner's app.
    let (dev, _) = app.user().org(&org_b).role(Role::Developer).create().await;
    let org_id = app.state.accounts.memberships(&dev.id).await.unwrap()[0].organization.id.clone();
    let (_, dev_key) = app
        .state
        .api_keys
        .create(portcullis::apikeys::NewApiKey {
            organization_id: org_id,
            created_by: Some(dev.id),
            name: "dev".into(),
            kind: portcullis::apikeys::KeyKind::Secret,
            environment: portcullis::apikeys::Environment::Live,
            scopes: ["read", "write", "delete"].map(String::from).to_vec(),
            expires_at: None,
            rate_limit_per_minute: None,
            made_by_key: None,
            made_by_app: None,
            made_by_secret: None,
        })
        .await
        .unwrap();
    assert_eq!(call(&app, "DELETE", &format!("/v1/apps/{id_b}"), &dev_key, None).await.0, 403);
    assert_eq!(call(&app, "GET", &format!("/v1/apps/{id_b}"), &dev_key, None).await.0, 200);
}

#[actix_web::test]
async fn an_app_of_an_organization_that_does_not_exist_is_refused_by_the_foreign_key() {
    let app = TestApp::spawn().await;
    let mut reg = app.oauth_client().await;
    reg.new_mut().organization_id = "org_that_does_not_exist".into();
    let err = app.state.oauth.clients.create(reg.new_mut().clone()).await.unwrap_err();
    assert_eq!(err.to_string(), "no such organization");
}

#[actix_web::test]
async fn a_deleted_apps_token_is_inactive_at_introspection_and_refused_on_v1() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    let api =
        register(&app, &key, json!({"name": "API", "grant_types": ["client_credentials"], "resource_server": true}))
            .await;
    let bot = register(
        &app,
        &key,
        json!({"name": "Ops bot", "grant_types": ["client_credentials"], "scopes": ["read"], "management": true}),
    )
    .await;
    let (s, t) = machine_token(&app, &bot, "read").await;
    assert_eq!(s, 200, "{t}");
    let token = t["access_token"].as_str().unwrap();
    assert_eq!(call(&app, "GET", "/v1/auth/validate", token, None).await.0, 200);
    let (_, _, b) = post_form(&app, "/oauth/introspect", &api, &[("token", token)]).await;
    assert_eq!(b["active"], true, "{b}");

    let (s, b) = call(&app, "DELETE", &format!("/v1/apps/{}", bot.client.client_id), &key, None).await;
    assert_eq!(s, 200, "{b}");
    // The token was issued before the delete and has not expired: it dies with its app.
    let (_, _, b) = post_form(&app, "/oauth/introspect", &api, &[("token", token)]).await;
    assert_eq!(b, json!({"active": false}));
    let (s, b) = call(&app, "GET", "/v1/auth/validate", token, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("INVALID_API_KEY")), "{b}");
}

#[actix_web::test]
async fn removing_a_scope_or_a_grant_takes_effect_at_the_token_endpoint() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    let bot = register(
        &app,
        &key,
        json!({"name": "Bot", "grant_types": ["client_credentials"], "scopes": ["read", "write"]}),
    )
    .await;
    let path = format!("/v1/apps/{}", bot.client.client_id);
    // Used once, so the token endpoint has it in memory.
    assert_eq!(machine_token(&app, &bot, "write").await.0, 200);

    let (s, b) = call(&app, "PATCH", &path, &key, Some(json!({"scopes": ["read"]}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        machine_token(&app, &bot, "write").await,
        (400, json!({"error": "invalid_scope", "error_description": "scope \"write\" is not allowed for this client"}))
    );
    assert_eq!(machine_token(&app, &bot, "read").await.0, 200);

    let body = json!({"grant_types": ["authorization_code"], "redirect_uris": [crate::oauth_support::REDIRECT]});
    let (s, b) = call(&app, "PATCH", &path, &key, Some(body)).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = machine_token(&app, &bot, "read").await;
    assert_eq!((s, b["error"].as_str()), (400, Some("unauthorized_client")), "{b}");
}
