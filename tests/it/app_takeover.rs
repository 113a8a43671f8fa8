//! A management app acts for a member; whoever holds its secret or its
//! tokens acts with that member's power. So the power must never move to
//! someone else while the secret stays where it was (attacker round 4, H-1:
//! an OWNER renamed an app whose secret a removed ADMIN kept, and the
//! ex-ADMIN acted as the OWNER; a removal now ends the app's management,
//! so the same is tested with an ADMIN made VIEWER), and rotating a secret without grace, or
//! turning management on, must not leave or wake old tokens (M-2).

use chrono::Duration;
use portcullis::accounts::Role;
use serde_json::{Value, json};

use crate::oauth_support::{Registered, post_form};
use crate::support::{TestApp, call};

async fn machine_token(app: &TestApp, client_id: &str, secret: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let (s, b) = machine_token(app, client_id, secret).await;
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().unwrap().to_owned()
}

/// 200 when the token acts on /v1 with some power; 401 when it is refused;
/// 403 when it is accepted but holds nothing (its member is gone).
async fn acts(app: &TestApp, token: &str) -> u16 {
    let (s, v) = call(app, "GET", "/v1/auth/validate", token, None).await;
    let powerless = v["data"]["credential"]["scopes"].as_array().is_some_and(|s| s.is_empty());
    if s == 200 && powerless { 403 } else { s }
}

/// The scopes a token acts with on /v1.
async fn viewer_scopes(app: &TestApp, token: &str) -> Vec<String> {
    let (s, v) = call(app, "GET", "/v1/auth/validate", token, None).await;
    assert_eq!(s, 200, "{v}");
    serde_json::from_value(v["data"]["credential"]["scopes"].clone()).unwrap()
}

async fn rotate(app: &TestApp, key: &str, client_id: &str, grace: i64) -> (u16, Value) {
    let path = format!("/v1/apps/{client_id}/rotate-secret");
    call(app, "POST", &path, key, Some(json!({"grace_period": grace}))).await
}

/// An OWNER and an ADMIN of one organization, each with a key of every
/// broad scope, and the ADMIN's management app.
struct Org {
    owner_key: String,
    admin_id: String,
    app_id: String,
    secret: String,
}

async fn org_with_an_admins_app(app: &TestApp) -> Org {
    let (owner, org) = app.user().create().await;
    let (admin, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let all = ["read", "write", "delete", "admin"];
    let (_, owner_key) = app.secret_key(&org.id, &owner.id, &all).await;
    let (_, admin_key) = app.secret_key(&org.id, &admin.id, &all).await;
    let body = json!({"name": "ops bot", "grant_types": ["client_credentials"], "scopes": all, "management": true});
    let (s, b) = call(app, "POST", "/v1/apps", &admin_key, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    Org {
        owner_key,
        admin_id: admin.id,
        app_id: b["data"]["client_id"].as_str().unwrap().to_owned(),
        secret: b["data"]["client_secret"].as_str().unwrap().to_owned(),
    }
}

#[actix_web::test]
async fn a_management_app_changes_hands_only_with_a_new_secret_and_its_old_tokens_die() {
    let app = TestApp::spawn().await;
    let o = org_with_an_admins_app(&app).await;
    let kept = token(&app, &o.app_id, &o.secret).await;
    assert_eq!(acts(&app, &kept).await, 200);

    // The ADMIN is made a VIEWER, keeping the secret and a token. (Had
    // they left, the app would have lost management and its tokens with
    // them: `key_lineage::a_removed_members_keys_and_management_apps_…`.)
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/members/{}", o.admin_id), &o.owner_key, Some(json!({"role": "VIEWER"})))
            .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(viewer_scopes(&app, &kept).await, ["read"], "it acts with a VIEWER's power now");

    // The OWNER may not simply edit it: it would act for the OWNER with the
    // old secret.
    let path = format!("/v1/apps/{}", o.app_id);
    let (s, b) = call(&app, "PATCH", &path, &o.owner_key, Some(json!({"name": "renamed"}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("Rotate its secret"), "{b}");
    let (s, b) = rotate(&app, &o.owner_key, &o.app_id, 3600).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "no grace for a takeover: {b}");
    assert_eq!(viewer_scopes(&app, &kept).await, ["read"], "the refusals changed nothing");

    // Rotated without grace: it acts for the OWNER, through the new secret only.
    app.clock.advance(Duration::milliseconds(1));
    let (s, b) = rotate(&app, &o.owner_key, &o.app_id, 0).await;
    assert_eq!(s, 200, "{b}");
    let fresh_secret = b["data"]["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(machine_token(&app, &o.app_id, &o.secret).await.0, 401, "the old secret is dead");
    assert_eq!(acts(&app, &kept).await, 401, "the ex-ADMIN's token never gets the OWNER's power");
    let reg = Registered {
        client: (*app.state.oauth.clients.get(&o.app_id).await.unwrap().unwrap()).clone(),
        secret: Some(fresh_secret.clone()),
    };
    let (_, _, seen) = post_form(&app, "/oauth/introspect", &reg, &[("token", kept.as_str())]).await;
    assert_eq!(seen, json!({"active": false}));
    // A token of the new secret, even at once, acts for the OWNER.
    let owners = token(&app, &o.app_id, &fresh_secret).await;
    let (s, v) = call(&app, "GET", "/v1/auth/validate", &owners, None).await;
    assert_eq!((s, v["data"]["role"].as_str()), (200, Some("OWNER")), "{v}");
    // Now the OWNER's own app: editing it is the OWNER's to do.
    let (s, b) = call(&app, "PATCH", &path, &o.owner_key, Some(json!({"name": "renamed"}))).await;
    assert_eq!(s, 200, "{b}");
}

#[actix_web::test]
async fn rotating_a_secret_without_grace_ends_the_tokens_the_old_one_got_and_with_grace_keeps_them() {
    let app = TestApp::spawn().await;
    let o = org_with_an_admins_app(&app).await;
    let admin_key = o.owner_key.clone();
    let before = token(&app, &o.app_id, &o.secret).await;
    app.clock.advance(Duration::seconds(5));
    // The OWNER takes it over (grace 0), then rotates again with grace.
    let (s, b) = rotate(&app, &admin_key, &o.app_id, 0).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(acts(&app, &before).await, 401);
    let second = b["data"]["client_secret"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::seconds(1));
    let kept = token(&app, &o.app_id, &second).await;
    let (s, b) = rotate(&app, &admin_key, &o.app_id, 3600).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(acts(&app, &kept).await, 200, "with a grace period, what the old secret got lives on");
    assert_eq!(machine_token(&app, &o.app_id, &second).await.0, 200, "and so does the old secret, for the grace");

    // Management off and on again does not wake a token from before.
    let path = format!("/v1/apps/{}", o.app_id);
    assert_eq!(call(&app, "PATCH", &path, &admin_key, Some(json!({"management": false}))).await.0, 200);
    assert_eq!(acts(&app, &kept).await, 401);
    app.clock.advance(Duration::seconds(1));
    let (s, b) = call(&app, "PATCH", &path, &admin_key, Some(json!({"management": true}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(acts(&app, &kept).await, 401, "turned on again, management wakes no old token");
    // …nor an old secret: turning management on issues one, shown once.
    let third = b["data"]["client_secret"].as_str().expect("a new secret").to_owned();
    assert_eq!(machine_token(&app, &o.app_id, &second).await.0, 401);
    let new = token(&app, &o.app_id, &third).await;
    assert_eq!(acts(&app, &new).await, 200);
}

/// Attacker round 4, t13: an OWNER takes over a DEVELOPER's ordinary
/// machine app (allowed: it has no power on /v1), then makes it a
/// management app. The DEVELOPER's secret must not get the OWNER's power.
#[actix_web::test]
async fn a_machine_app_made_a_management_app_gets_a_secret_its_old_holder_does_not_have() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let (_, owner_key) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (_, dev_key) = app.secret_key(&org.id, &dev.id, &["read", "write"]).await;
    let body = json!({"name": "sync", "grant_types": ["client_credentials"], "scopes": ["read", "write"]});
    let (s, b) = call(&app, "POST", "/v1/apps", &dev_key, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let (id, devs_secret) =
        (b["data"]["client_id"].as_str().unwrap().to_owned(), b["data"]["client_secret"].as_str().unwrap().to_owned());
    let path = format!("/v1/apps/{id}");
    let (s, b) = call(&app, "PATCH", &path, &owner_key, Some(json!({"name": "sync (ops)"}))).await;
    assert_eq!((s, b["data"]["created_by"].clone()), (200, json!(owner.id)), "{b}");
    let (s, b) = call(&app, "PATCH", &path, &owner_key, Some(json!({"management": true}))).await;
    assert_eq!(s, 200, "{b}");
    let owners_secret = b["data"]["client_secret"].as_str().expect("a new secret").to_owned();
    assert_eq!(machine_token(&app, &id, &devs_secret).await.0, 401, "the DEVELOPER's secret is dead");
    let t = token(&app, &id, &owners_secret).await;
    let (s, v) = call(&app, "GET", "/v1/auth/validate", &t, None).await;
    assert_eq!((s, v["data"]["role"].as_str()), (200, Some("OWNER")), "{v}");
}
