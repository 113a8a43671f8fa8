//! A refused change changes nothing: after each refused PATCH, DELETE,
//! rotation or roll, the object reads as before and still works.

use portcullis::accounts::Role;
use serde_json::{Value, json};

use crate::api_apps::{machine_token, register};
use crate::api_members::key_for;
use crate::support::{TestApp, call};

/// Sends each refused request, with its expected status, then checks that
/// `read` gives what it gave before.
async fn refused_leave_intact(
    app: &TestApp,
    read: impl AsyncFn() -> Value,
    requests: &[(&str, &str, &str, Option<Value>, u16)],
) {
    let before = read().await;
    for (method, path, credential, body, status) in requests {
        let (s, b) = call(app, method, path, credential, body.clone()).await;
        assert_eq!(s, *status, "{method} {path}: {b}");
        assert_eq!(read().await, before, "{method} {path} was refused but changed something");
    }
}

#[actix_web::test]
async fn refused_changes_leave_apps_keys_and_members_as_they_were() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let owner_key = key_for(&app, &owner, &["read", "write", "delete", "admin"]).await;
    let dev_key = key_for(&app, &dev, &["read", "write", "delete", "admin"]).await;

    // The OWNER's app.
    let bot = register(
        &app,
        &owner_key,
        json!({"name": "Billing", "grant_types": ["client_credentials"], "scopes": ["read"]}),
    )
    .await;
    let path = format!("/v1/apps/{}", bot.client.client_id);
    let read_app = async || call(&app, "GET", &path, &owner_key, None).await.1["data"].clone();
    let rotate = format!("{path}/rotate-secret");
    refused_leave_intact(
        &app,
        read_app,
        &[
            ("DELETE", path.as_str(), dev_key.as_str(), None, 403),
            ("PATCH", path.as_str(), dev_key.as_str(), Some(json!({"name": "mine now"})), 403),
            ("POST", rotate.as_str(), dev_key.as_str(), None, 403),
            (
                "PATCH",
                path.as_str(),
                owner_key.as_str(),
                Some(json!({"name": "x", "redirect_uris": ["http://evil.example/cb"]})),
                400,
            ),
            (
                "PATCH",
                path.as_str(),
                owner_key.as_str(),
                Some(json!({"name": "x", "scopes": ["read", "payroll"]})),
                400,
            ),
        ],
    )
    .await;
    assert_eq!(machine_token(&app, &bot, "read").await.0, 200, "the app's secret still works");

    // The OWNER's key.
    let (s, b) =
        call(&app, "POST", "/v1/api-keys", &owner_key, Some(json!({"name": "prod", "scopes": ["read", "write"]})))
            .await;
    assert_eq!(s, 201, "{b}");
    let (id, key) = (b["data"]["id"].as_str().unwrap().to_owned(), b["data"]["key"].as_str().unwrap().to_owned());
    let path = format!("/v1/api-keys/{id}");
    let read_key = async || {
        let d = call(&app, "GET", &path, &owner_key, None).await.1["data"].clone();
        json!([d["name"], d["scopes"], d["expires_at"], d["revoked_at"], d["rate_limit_per_minute"]])
    };
    let roll = format!("{path}/roll");
    refused_leave_intact(
        &app,
        read_key,
        &[
            ("DELETE", path.as_str(), dev_key.as_str(), None, 403),
            ("PATCH", path.as_str(), dev_key.as_str(), Some(json!({"name": "mine now"})), 403),
            ("POST", roll.as_str(), dev_key.as_str(), Some(json!({"expires_in": 0})), 403),
            (
                "PATCH",
                path.as_str(),
                owner_key.as_str(),
                Some(json!({"name": "x", "scopes": ["read", "write", "payroll"]})),
                400,
            ),
            ("POST", roll.as_str(), owner_key.as_str(), Some(json!({"expires_in": -1})), 400),
        ],
    )
    .await;
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 200, "the OWNER's key still works");

    // The members, and the last OWNER.
    let read_members = async || {
        let list = call(&app, "GET", "/v1/members", &owner_key, None).await.1;
        list["data"].as_array().unwrap().iter().map(|m| json!([m["id"], m["role"]])).collect::<Value>()
    };
    let (owner_path, dev_path) = (format!("/v1/members/{}", owner.id), format!("/v1/members/{}", dev.id));
    refused_leave_intact(
        &app,
        read_members,
        &[
            ("PATCH", owner_path.as_str(), owner_key.as_str(), Some(json!({"role": "ADMIN"})), 400),
            ("DELETE", owner_path.as_str(), owner_key.as_str(), None, 400),
            ("PATCH", owner_path.as_str(), dev_key.as_str(), Some(json!({"role": "VIEWER"})), 403),
            ("DELETE", owner_path.as_str(), dev_key.as_str(), None, 403),
            ("PATCH", dev_path.as_str(), dev_key.as_str(), Some(json!({"role": "OWNER"})), 403),
            ("PATCH", dev_path.as_str(), owner_key.as_str(), Some(json!({"role": "ROOT"})), 400),
        ],
    )
    .await;
    assert_eq!(call(&app, "GET", "/v1/members", &owner_key, None).await.0, 200, "the OWNER keeps its power");
}
