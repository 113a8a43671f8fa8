//! What a credential made ends with it (attacker round 4, findings 4–6):
//! keys made through a key end when that key is revoked, expires or is
//! rolled; what a member made ends when they leave, so re-joining revives
//! nothing; an invitation is judged by its sender's power in the very
//! transaction that accepts it.

use portcullis::accounts::members::Asker;
use std::sync::mpsc;

use portcullis::accounts::{AccountsError, Role};
use portcullis::apikeys::{Environment, KeyError, KeyKind, NewApiKey};
use portcullis::clock::Clock;
use serde_json::{Value, json};

use crate::support::{TestApp, call};

/// A key made through `maker` (POST /v1/api-keys with the key itself).
async fn made_through(app: &TestApp, maker: &str, name: &str) -> (String, String, Value) {
    let (s, b) =
        call(app, "POST", "/v1/api-keys", maker, Some(json!({"name": name, "scopes": ["read", "write"]}))).await;
    assert_eq!(s, 201, "{b}");
    let data = b["data"].clone();
    (data["id"].as_str().unwrap().to_owned(), data["key"].as_str().unwrap().to_owned(), data)
}

/// /v1/auth/validate's status and error code for a key.
async fn validated(app: &TestApp, key: &str) -> (u16, Option<String>) {
    let (s, b) = call(app, "GET", "/v1/auth/validate", key, None).await;
    (s, b["error"]["code"].as_str().map(str::to_owned))
}

const LIVE: (u16, Option<String>) = (200, None);

fn refused(code: &str) -> (u16, Option<String>) {
    (401, Some(code.to_owned()))
}

#[actix_web::test]
async fn keys_made_through_a_key_end_when_it_is_revoked_down_the_line() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (parent_id, parent) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;
    let (child_id, child, data) = made_through(&app, &parent, "child").await;
    assert_eq!(data["made_by_key"], json!(parent_id));
    let (_, grandchild, data) = made_through(&app, &child, "grandchild").await;
    assert_eq!(data["made_by_key"], json!(child_id));
    // A key made by a person's session is bound to nothing.
    let (s, b) = call(&app, "GET", &format!("/v1/api-keys/{parent_id}"), &admin, None).await;
    assert_eq!((s, &b["data"]["made_by_key"]), (200, &Value::Null));
    for key in [&parent, &child, &grandchild] {
        assert_eq!(validated(&app, key).await, LIVE);
    }

    let (s, b) = call(&app, "DELETE", &format!("/v1/api-keys/{parent_id}"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    for key in [&parent, &child, &grandchild] {
        assert_eq!(validated(&app, key).await, refused("REVOKED_API_KEY"));
    }
    // Nothing more can be made through them.
    let (s, b) = call(&app, "POST", "/v1/api-keys", &child, Some(json!({"name": "x", "scopes": ["read"]}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("REVOKED_API_KEY")));
    // The owner's other key lives on.
    assert_eq!(validated(&app, &admin).await, LIVE);
}

#[actix_web::test]
async fn a_rolled_maker_takes_the_keys_it_made_with_it_and_so_does_their_successor() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "admin"]).await;
    let (parent_id, parent) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;
    let (child_id, child, _) = made_through(&app, &parent, "child").await;

    // The child is rolled by a person: its successor is bound to the same
    // maker.
    let dashboard = app.signed_in(&owner).await;
    let (s, b) =
        call(&app, "POST", &format!("/v1/api-keys/{child_id}/roll"), &dashboard, Some(json!({"expires_in": 0}))).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["new_key"]["made_by_key"], json!(parent_id));
    let successor = b["data"]["new_key"]["key"].as_str().unwrap().to_owned();
    assert_eq!(validated(&app, &child).await, refused("EXPIRED_API_KEY"));
    assert_eq!(validated(&app, &successor).await, LIVE);

    // The maker rolled with an hour's overlap: what it made ends with it.
    let (s, b) =
        call(&app, "POST", &format!("/v1/api-keys/{parent_id}/roll"), &admin, Some(json!({"expires_in": 3600}))).await;
    assert_eq!(s, 201, "{b}");
    let until = b["data"]["old_key"]["expires_at"].clone();
    assert_eq!(until, json!("2026-01-01T13:00:00Z"));
    let (_, b) = call(&app, "GET", "/v1/auth/validate", &successor, None).await;
    assert_eq!(b["data"]["credential"]["expires_at"], until, "{b}");
    app.clock.advance(chrono::Duration::seconds(3600));
    assert_eq!(validated(&app, &parent).await, refused("EXPIRED_API_KEY"));
    assert_eq!(validated(&app, &successor).await, refused("EXPIRED_API_KEY"));
}

#[actix_web::test]
async fn nothing_is_made_through_a_key_that_ended_while_it_asked() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (parent_id, _) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;
    let new = || NewApiKey {
        organization_id: org.id.clone(),
        created_by: Some(owner.id.clone()),
        name: "late".into(),
        kind: KeyKind::Secret,
        environment: Environment::Live,
        scopes: vec!["read".into()],
        expires_at: None,
        rate_limit_per_minute: None,
        made_by_key: Some(parent_id.clone()),
        made_by_app: None,
        made_by_secret: None,
    };
    // Its maker was read live by the request; revoked before the insert.
    app.state.api_keys.revoke(&org.id, &parent_id).await.unwrap();
    assert!(matches!(app.state.api_keys.create(new()).await, Err(KeyError::MakerEnded)));
    let listed = app.state.api_keys.list(&org.id, None, 10).await.unwrap();
    assert_eq!(listed.len(), 1, "only the revoked maker exists");
}

#[actix_web::test]
async fn a_removed_members_keys_and_management_apps_stay_dead_when_they_rejoin() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (admin, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let (_, owner_key) = app.secret_key(&org.id, &owner.id, &["read", "write", "admin"]).await;
    let (admin_key_id, admin_key) = app.secret_key(&org.id, &admin.id, &["read", "write", "admin"]).await;
    let (_, made_by_admin_key, _) = made_through(&app, &admin_key, "made by the admin's key").await;
    let dashboard = app.signed_in(&admin).await;
    let body = json!({"name": "admin's bot", "grant_types": ["client_credentials"],
        "scopes": ["read", "write", "admin"], "management": true});
    let (s, b) = call(&app, "POST", "/v1/apps", &dashboard, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let (client_id, secret) =
        (b["data"]["client_id"].as_str().unwrap().to_owned(), b["data"]["client_secret"].as_str().unwrap().to_owned());
    let machine = app.machine_token(&client_id, &secret, "read admin").await;
    assert_eq!(call(&app, "GET", "/v1/audit-events", &machine, None).await.0, 200);

    assert_eq!(call(&app, "DELETE", &format!("/v1/members/{}", admin.id), &owner_key, None).await.0, 200);
    // Removal revokes the keys, not merely leaves them powerless.
    assert_eq!(validated(&app, &admin_key).await, refused("REVOKED_API_KEY"));
    assert_eq!(validated(&app, &made_by_admin_key).await, refused("REVOKED_API_KEY"));
    let (s, b) = call(&app, "GET", &format!("/v1/api-keys/{admin_key_id}"), &owner_key, None).await;
    assert!(s == 200 && b["data"]["revoked_at"].is_string(), "{b}");
    // The app stays, an ordinary app now; its tokens are dead.
    let (s, b) = call(&app, "GET", &format!("/v1/apps/{client_id}"), &owner_key, None).await;
    assert_eq!((s, &b["data"]["management"]), (200, &json!(false)), "{b}");
    assert_eq!(call(&app, "GET", "/v1/audit-events", &machine, None).await.0, 401);

    // Re-joining, even as ADMIN again, revives none of it.
    let (s, b) =
        call(&app, "POST", "/v1/invitations", &owner_key, Some(json!({"email": admin.email, "role": "ADMIN"}))).await;
    assert_eq!(s, 201, "{b}");
    let token = b["data"]["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    app.state.accounts.accept_invitation(&token, &admin, "127.0.0.1").await.unwrap();
    assert_eq!(app.state.accounts.member(&org.id, &admin.id).await.unwrap().map(|m| m.role), Some(Role::Admin));
    assert_eq!(validated(&app, &admin_key).await, refused("REVOKED_API_KEY"));
    assert_eq!(validated(&app, &made_by_admin_key).await, refused("REVOKED_API_KEY"));
    assert_eq!(call(&app, "GET", "/v1/audit-events", &machine, None).await.0, 401);
    // A fresh token of the app is an ordinary app's: no management, even
    // once the OWNER has renamed it (attacker round 4, H-1, by removal).
    app.clock.advance(chrono::Duration::seconds(2));
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/apps/{client_id}"), &owner_key, Some(json!({"name": "renamed"}))).await;
    assert_eq!(s, 200, "{b}");
    let fresh = app.machine_token(&client_id, &secret, "read").await;
    assert_eq!(call(&app, "GET", "/v1/audit-events", &fresh, None).await.0, 401);
}

#[actix_web::test]
async fn an_invitation_accepted_while_its_sender_is_being_demoted_waits_and_is_refused() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (sender, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let (invited, _) = app.user().create().await;
    let (_, sender_key) = app.secret_key(&org.id, &sender.id, &["read", "admin"]).await;
    let (s, b) =
        call(&app, "POST", "/v1/invitations", &sender_key, Some(json!({"email": invited.email, "role": "ADMIN"})))
            .await;
    assert_eq!(s, 201, "{b}");
    let token = b["data"]["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();

    // The owner's demotion of the sender is written but not yet committed
    // when the invited person accepts.
    let (written, commit) = (mpsc::channel(), mpsc::channel::<()>());
    let store = app.state.store.clone();
    let (o, u) = (org.id.clone(), sender.id.clone());
    let demotion = std::thread::spawn(move || {
        store.run_blocking(|conn| {
            portcullis::store::write_transaction(conn, |c| {
                portcullis::store::orgs::set_role(c, &o, &u, "VIEWER")?;
                written.0.send(()).unwrap();
                commit.1.recv().unwrap();
                Ok(())
            })
        })
    });
    written.1.recv().unwrap();
    let state = app.state.clone();
    let (t, who) = (token.clone(), invited.clone());
    let accepting = actix_web::rt::spawn(async move { state.accounts.accept_invitation(&t, &who, "127.0.0.1").await });
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    // The acceptance waits for the sender's membership.
    assert!(!accepting.is_finished(), "the acceptance did not wait for the sender's demotion");
    commit.0.send(()).unwrap();
    demotion.join().unwrap().unwrap();
    match accepting.await.unwrap() {
        Err(AccountsError::Validation(m)) => assert_eq!(
            m,
            "This invitation is no longer valid: the person who sent it can no longer invite to this role."
        ),
        other => panic!("accepted after the sender lost the power to invite: {other:?}"),
    }
    assert!(app.state.accounts.member(&org.id, &invited.id).await.unwrap().is_none());
    let _ = owner;
}

#[actix_web::test]
async fn a_key_rolling_another_hands_out_nothing_that_outlives_it() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (parent_id, parent) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;
    let (child_id, child, _) = made_through(&app, &parent, "child").await;
    // The child rolls its own maker (attacker round 11, finding 1): the
    // successor is made through the child, so it ends with the maker's
    // overlap and with the child.
    let (s, b) =
        call(&app, "POST", &format!("/v1/api-keys/{parent_id}/roll"), &child, Some(json!({"expires_in": 3600}))).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["new_key"]["made_by_key"], json!(child_id));
    assert_eq!(b["data"]["new_key"]["expires_at"], json!("2026-01-01T13:00:00Z"));
    let successor = b["data"]["new_key"]["key"].as_str().unwrap().to_owned();
    assert_eq!(validated(&app, &successor).await, LIVE);
    let (s, b) = call(&app, "DELETE", &format!("/v1/api-keys/{child_id}"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(validated(&app, &successor).await, refused("REVOKED_API_KEY"));
    // A key rolling itself hands its successor its own maker.
    let (other_id, other, _) = made_through(&app, &parent, "other").await;
    let (s, b) =
        call(&app, "POST", &format!("/v1/api-keys/{other_id}/roll"), &other, Some(json!({"expires_in": 0}))).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["new_key"]["made_by_key"], json!(parent_id));
}

#[actix_web::test]
async fn a_secret_issued_through_a_key_ends_with_it_and_so_does_an_invitation_sent_through_it() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (leaked_id, leaked) = app.secret_key(&org.id, &owner.id, &["read", "write", "admin"]).await;
    // A person's management app; the leaked ADMIN key rotates its secret
    // and invites an outsider.
    let dashboard = app.signed_in(&owner).await;
    let body = json!({"name": "ops", "grant_types": ["client_credentials"],
        "scopes": ["read", "admin"], "management": true});
    let (s, b) = call(&app, "POST", "/v1/apps", &dashboard, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let client_id = b["data"]["client_id"].as_str().unwrap().to_owned();
    let (s, b) =
        call(&app, "POST", &format!("/v1/apps/{client_id}/rotate-secret"), &leaked, Some(json!({"grace_period": 0})))
            .await;
    assert_eq!(s, 200, "{b}");
    let stolen = b["data"]["client_secret"].as_str().unwrap().to_owned();
    let machine = app.machine_token(&client_id, &stolen, "read admin").await;
    assert_eq!(call(&app, "GET", "/v1/audit-events", &machine, None).await.0, 200);
    let (outsider, _) = app.user().create().await;
    let (s, b) =
        call(&app, "POST", "/v1/invitations", &leaked, Some(json!({"email": outsider.email, "role": "ADMIN"}))).await;
    assert_eq!(s, 201, "{b}");
    let token = b["data"]["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();

    app.clock.advance(chrono::Duration::seconds(1));
    let (s, b) = call(&app, "DELETE", &format!("/v1/api-keys/{leaked_id}"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(token_status(&app, &client_id, &stolen).await, 401, "the secret went with the key");
    assert_eq!(call(&app, "GET", "/v1/audit-events", &machine, None).await.0, 401, "and what it got");
    match app.state.accounts.accept_invitation(&token, &outsider, "127.0.0.1").await {
        Err(AccountsError::Validation(m)) => {
            assert_eq!(m, "This invitation is no longer valid: the API key that sent it was revoked or has expired.")
        }
        other => panic!("an invitation outlived the key that sent it: {other:?}"),
    }
    assert!(app.state.accounts.member(&org.id, &outsider.id).await.unwrap().is_none());
}

/// An app registered through `maker`: its client id and secret, and its data.
async fn app_through(app: &TestApp, maker: &str) -> (String, String, Value) {
    let body = json!({"name": "made by a key", "grant_types": ["client_credentials"], "scopes": ["read"]});
    let (s, b) = call(app, "POST", "/v1/apps", maker, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let data = b["data"].clone();
    (data["client_id"].as_str().unwrap().to_owned(), data["client_secret"].as_str().unwrap().to_owned(), data)
}

/// The token endpoint's status for the app's client credentials.
async fn token_status(app: &TestApp, client_id: &str, secret: &str) -> u16 {
    crate::oauth_support::client_credentials_read(app, client_id, secret).await.0
}

#[actix_web::test]
async fn an_app_registered_through_a_key_is_deleted_with_the_key() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (maker_id, maker) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;
    let (_, child, _) = made_through(&app, &maker, "child").await;
    let (direct_id, direct_secret, data) = app_through(&app, &maker).await;
    assert_eq!((&data["made_by_key"], &data["ends_at"]), (&json!(maker_id), &Value::Null));
    // Through a key made through the key, too.
    let (indirect_id, indirect_secret, _) = app_through(&app, &child).await;
    // An app a person registers is bound to no key.
    let dashboard = app.signed_in(&owner).await;
    let body = json!({"name": "a person's", "grant_types": ["client_credentials"], "scopes": ["read"]});
    let (s, b) = call(&app, "POST", "/v1/apps", &dashboard, Some(body)).await;
    assert_eq!((s, &b["data"]["made_by_key"]), (201, &Value::Null), "{b}");
    let (persons_id, persons_secret) =
        (b["data"]["client_id"].as_str().unwrap().to_owned(), b["data"]["client_secret"].as_str().unwrap().to_owned());
    for (id, secret) in [(&direct_id, &direct_secret), (&indirect_id, &indirect_secret), (&persons_id, &persons_secret)]
    {
        assert_eq!(token_status(&app, id, secret).await, 200);
    }

    let (s, b) = call(&app, "DELETE", &format!("/v1/api-keys/{maker_id}"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    for id in [&direct_id, &indirect_id] {
        let (s, _) = call(&app, "GET", &format!("/v1/apps/{id}"), &admin, None).await;
        assert_eq!(s, 404, "the app went with the key");
    }
    assert_eq!(token_status(&app, &direct_id, &direct_secret).await, 401);
    assert_eq!(token_status(&app, &indirect_id, &indirect_secret).await, 401);
    assert_eq!(token_status(&app, &persons_id, &persons_secret).await, 200);
    let (_, list) = call(&app, "GET", "/v1/apps", &admin, None).await;
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|a| a["client_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [persons_id.as_str()]);
}

#[actix_web::test]
async fn an_app_registered_through_a_key_ends_when_the_key_is_rolled_and_is_then_cleared_away() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (maker_id, maker) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;
    let (client_id, secret, _) = app_through(&app, &maker).await;

    let (s, b) =
        call(&app, "POST", &format!("/v1/api-keys/{maker_id}/roll"), &admin, Some(json!({"expires_in": 60}))).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = call(&app, "GET", &format!("/v1/apps/{client_id}"), &admin, None).await;
    assert_eq!((s, &b["data"]["ends_at"]), (200, &json!("2026-01-01T12:01:00Z")), "{b}");
    assert_eq!(token_status(&app, &client_id, &secret).await, 200);

    app.clock.advance(chrono::Duration::seconds(60));
    assert_eq!(token_status(&app, &client_id, &secret).await, 401, "the app ended with its maker");
    assert_eq!(call(&app, "GET", &format!("/v1/apps/{client_id}"), &admin, None).await.0, 404);
    // The housekeeping deletes it for good (its own pass may come first).
    assert!(app.state.oauth.clients.delete_ended().unwrap() <= 1);
    let (_, list) = call(&app, "GET", "/v1/apps", &admin, None).await;
    assert_eq!(list["data"], json!([]));
}

/// A key row as the domain would write it (its secret is never needed).
fn key_row(org: &str, creator: &str, now: chrono::DateTime<chrono::Utc>) -> portcullis::store::api_keys::ApiKeyRow {
    let id = portcullis::apikeys::new_key_id();
    portcullis::store::api_keys::ApiKeyRow {
        key_digest: format!("digest-of-{id}"),
        id,
        organization_id: org.into(),
        created_by: Some(creator.into()),
        name: "in flight".into(),
        kind: "secret".into(),
        environment: "live".into(),
        prefix: "sk_live_".into(),
        last_four: "abcd".into(),
        scopes: "read".into(),
        rate_limit_per_minute: None,
        expires_at: None,
        created_at: now.naive_utc(),
        last_used_at: None,
        revoked_at: None,
        rolled_from: None,
        made_by_key: None,
        made_by_app: None,
        made_by_secret: None,
    }
}

/// Runs `write` in a write transaction on another thread and holds it open
/// until told; returns once it has written.
fn held_open(
    app: &TestApp,
    write: impl FnOnce(&mut portcullis::store::DbConnection) -> Result<(), portcullis::store::StoreError> + Send + 'static,
) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (written, commit) = (mpsc::channel(), mpsc::channel::<()>());
    let store = app.state.store.clone();
    let mut write = Some(write);
    let thread = std::thread::spawn(move || {
        store
            .run_blocking(|conn| {
                portcullis::store::write_transaction(conn, |c| {
                    if let Some(w) = write.take() {
                        w(c)?;
                    }
                    written.0.send(()).unwrap();
                    commit.1.recv().unwrap();
                    Ok(())
                })
            })
            .unwrap()
    });
    written.1.recv().unwrap();
    (commit.0, thread)
}

#[actix_web::test]
async fn a_revocation_reaches_a_grandchild_being_made_at_that_moment() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (parent_id, parent) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;
    let (child_id, _, _) = made_through(&app, &parent, "child").await;
    // A grandchild is being written through the child, not yet committed,
    // when the parent is revoked.
    let row = key_row(&org.id, &owner.id, app.clock.now());
    let (grandchild_id, now) = (row.id.clone(), app.clock.now().naive_utc());
    let (commit, writer) = held_open(&app, move |c| {
        let made = portcullis::store::api_keys::insert_new_key(c, &row, Some(&child_id), now)?;
        assert!(made.is_ok(), "{made:?}");
        Ok(())
    });
    let state = app.state.clone();
    let (o, p) = (org.id.clone(), parent_id.clone());
    let revoking = actix_web::rt::spawn(async move { state.api_keys.revoke(&o, &p).await });
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    commit.send(()).unwrap();
    writer.join().unwrap();
    revoking.await.unwrap().unwrap();
    let grandchild = app.state.api_keys.get(&org.id, &grandchild_id).await.unwrap();
    assert!(grandchild.revoked_at.is_some(), "a grandchild made during the revocation survived it");
}

#[actix_web::test]
async fn a_key_written_for_a_member_removed_meanwhile_is_refused_or_revoked() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (leaving, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    // Written while the removal runs: the removal waits, then revokes it.
    let row = key_row(&org.id, &leaving.id, app.clock.now());
    let (in_flight, now) = (row.id.clone(), app.clock.now().naive_utc());
    let (commit, writer) = held_open(&app, move |c| {
        assert!(portcullis::store::api_keys::insert_new_key(c, &row, None, now)?.is_ok());
        Ok(())
    });
    let state = app.state.clone();
    let (o, u) = (org.id.clone(), leaving.id.clone());
    let removing = actix_web::rt::spawn(async move { state.accounts.remove_member(&o, &u, Asker::Operator).await });
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    commit.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(removing.await.unwrap().unwrap(), Some(Role::Admin));
    let key = app.state.api_keys.get(&org.id, &in_flight).await.unwrap();
    assert!(key.revoked_at.is_some(), "a key written during the removal escaped it");
    // Written after the removal committed: refused.
    let late = key_row(&org.id, &leaving.id, app.clock.now());
    let refused =
        app.state.store.run(move |c| portcullis::store::api_keys::insert_new_key(c, &late, None, now)).await.unwrap();
    assert_eq!(refused.unwrap_err(), portcullis::store::api_keys::MakerEnded::CreatorLeft);
    let _ = owner;
}

/// A sign-in whose password check overlaps `portcullis user disable` gets
/// no session (attacker round 11, finding 9: it got one, which came back
/// to life with `user enable`).
#[actix_web::test]
async fn a_session_started_while_its_user_is_being_disabled_is_refused() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let (id, now) = (user.id.clone(), app.clock.now().naive_utc());
    let (commit, writer) = held_open(&app, move |c| {
        assert!(portcullis::store::users::set_disabled(c, &id, Some(now))?);
        Ok(())
    });
    let state = app.state.clone();
    let who = user.clone();
    let starting = actix_web::rt::spawn(async move { state.accounts.start_session(who, None).await });
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    commit.send(()).unwrap();
    writer.join().unwrap();
    assert!(
        matches!(starting.await.unwrap(), Err(AccountsError::InvalidCredentials)),
        "a session was started for a user disabled meanwhile"
    );
}

/// The same for a dashboard session of /v1/auth/login.
#[actix_web::test]
async fn a_dashboard_session_started_while_its_user_is_being_disabled_is_refused() {
    let app = TestApp::spawn().await;
    let (user, org) = app.user().create().await;
    let (id, now) = (user.id.clone(), app.clock.now().naive_utc());
    let (commit, writer) = held_open(&app, move |c| {
        assert!(portcullis::store::users::set_disabled(c, &id, Some(now))?);
        Ok(())
    });
    let state = app.state.clone();
    let (u, o) = (user.id.clone(), org.id.clone());
    let starting = actix_web::rt::spawn(async move { state.oauth.start_dashboard_session(&u, &o).await });
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    commit.send(()).unwrap();
    writer.join().unwrap();
    let refused = starting.await.unwrap().err().expect("a dashboard session for a user disabled meanwhile");
    assert_eq!(refused.description, "Invalid email or password.");
}

/// A management app made by `owner` at the dashboard, and a client-credentials
/// token of it: (client id, token).
async fn management_app(app: &TestApp, dashboard: &str) -> (String, String) {
    let body = json!({"name": "bot", "grant_types": ["client_credentials"],
        "scopes": ["read", "write", "delete"], "management": true});
    let (s, b) = call(app, "POST", "/v1/apps", dashboard, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let (id, secret) = (b["data"]["client_id"].as_str().unwrap(), b["data"]["client_secret"].as_str().unwrap());
    (id.to_owned(), app.machine_token(id, secret, "read write").await)
}

/// What a management app's token made: a key, a key made through that key,
/// an app. Checks they are marked as made by the app and work.
struct MadeByMachine {
    key: String,
    grandchild: String,
    app: (String, String),
}

async fn made_by_machine(app: &TestApp, machine: &str, token: &str) -> MadeByMachine {
    let (_, key, data) = made_through(app, token, "by the machine").await;
    assert_eq!(data["made_by_app"], json!(machine), "{data}");
    let (_, grandchild, _) = made_through(app, &key, "through the machine's key").await;
    let (app_id, secret, data) = app_through(app, token).await;
    assert_eq!(data["made_by_app"], json!(machine), "{data}");
    let made = MadeByMachine { key, grandchild, app: (app_id, secret) };
    assert_eq!(made_state(app, &made).await, (LIVE, LIVE, 200));
    made
}

async fn made_state(app: &TestApp, made: &MadeByMachine) -> ((u16, Option<String>), (u16, Option<String>), u16) {
    (
        validated(app, &made.key).await,
        validated(app, &made.grandchild).await,
        token_status(app, &made.app.0, &made.app.1).await,
    )
}

#[actix_web::test]
async fn what_a_management_apps_token_made_ends_when_the_app_is_deleted_or_loses_management() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let dashboard = app.signed_in(&owner).await;
    let (_, persons) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;

    let (deleted, token) = management_app(&app, &dashboard).await;
    let by_deleted = made_by_machine(&app, &deleted, &token).await;
    let (demoted, token) = management_app(&app, &dashboard).await;
    let by_demoted = made_by_machine(&app, &demoted, &token).await;

    let (s, b) = call(&app, "DELETE", &format!("/v1/apps/{deleted}"), &dashboard, None).await;
    assert_eq!(s, 200, "{b}");
    let ended = (refused("REVOKED_API_KEY"), refused("REVOKED_API_KEY"), 401);
    assert_eq!(made_state(&app, &by_deleted).await, ended);
    let (s, _) = call(&app, "GET", &format!("/v1/apps/{}", by_deleted.app.0), &dashboard, None).await;
    assert_eq!(s, 404, "the app the machine made went with it");
    // The other machine's work is untouched until it loses management.
    assert_eq!(made_state(&app, &by_demoted).await, (LIVE, LIVE, 200));
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/apps/{demoted}"), &dashboard, Some(json!({"management": false}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(made_state(&app, &by_demoted).await, ended);
    // A person's key is no machine's.
    assert_eq!(validated(&app, &persons).await, LIVE);
}

#[actix_web::test]
async fn a_management_app_registered_through_a_key_takes_what_its_token_made_along_when_the_key_goes() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (maker_id, maker) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (machine, token) = management_app(&app, &maker).await;
    let made = made_by_machine(&app, &machine, &token).await;

    let (s, b) = call(&app, "DELETE", &format!("/v1/api-keys/{maker_id}"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(made_state(&app, &made).await, (refused("REVOKED_API_KEY"), refused("REVOKED_API_KEY"), 401));
}

#[actix_web::test]
async fn a_key_a_machine_makes_while_the_machine_is_being_deleted_is_refused() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let dashboard = app.signed_in(&owner).await;
    let (machine, token) = management_app(&app, &dashboard).await;
    // The machine's deletion is written, not yet committed, when its token
    // asks for a key.
    let pk = app.state.oauth.clients.get(&machine).await.unwrap().unwrap().pk.clone();
    let (id, now) = (machine.clone(), app.clock.now().naive_utc());
    let (commit, writer) =
        held_open(&app, move |c| portcullis::store::clients::delete_client(c, &pk, &id, ("client", &id), now));
    let asking = actix_web::rt::spawn(
        reqwest::Client::new()
            .post(app.url("/v1/api-keys"))
            .bearer_auth(token)
            .json(&json!({"name": "late", "scopes": ["read"]}))
            .send(),
    );
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    commit.send(()).unwrap();
    writer.join().unwrap();
    let res = asking.await.unwrap().unwrap();
    let status = res.status().as_u16();
    let b: Value = res.json().await.unwrap();
    assert_eq!(status, 401, "a key made while its machine was deleted: {b}");
    // And nothing of it was written.
    let (_, list) = call(&app, "GET", "/v1/api-keys", &dashboard, None).await;
    assert_eq!(list["data"], json!([]), "{list}");
    let _ = org;
}

#[actix_web::test]
async fn an_app_a_person_took_over_with_a_new_secret_no_longer_ends_with_the_key_that_made_it() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (devs_key_id, devs_key) = app.secret_key(&org.id, &dev.id, &["read", "write"]).await;
    let dashboard = app.signed_in(&owner).await;
    let (adopted, old_secret, _) = app_through(&app, &devs_key).await;
    let (edited, edited_secret, _) = app_through(&app, &devs_key).await;
    let (rotated_by_key, _, _) = app_through(&app, &devs_key).await;

    // An edit alone keeps the tie: whoever holds the app's secret may hold the key.
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{edited}"), &dashboard, Some(json!({"name": "renamed"}))).await;
    assert_eq!((s, &b["data"]["made_by_key"]), (200, &json!(devs_key_id)), "{b}");
    // A rotation through a key takes the app over with the same tie.
    let (s, b) = call(&app, "POST", &format!("/v1/apps/{rotated_by_key}/rotate-secret"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    let rotated_secret = b["data"]["client_secret"].as_str().unwrap().to_owned();
    // A person's rotation without grace: the app is theirs, and its old secret is dead.
    let (s, b) = call(&app, "POST", &format!("/v1/apps/{adopted}/rotate-secret"), &dashboard, None).await;
    assert_eq!(s, 200, "{b}");
    let new_secret = b["data"]["client_secret"].as_str().unwrap().to_owned();
    let (_, b) = call(&app, "GET", &format!("/v1/apps/{adopted}"), &dashboard, None).await;
    assert_eq!(
        (&b["data"]["created_by"], &b["data"]["made_by_key"], &b["data"]["ends_at"]),
        (&json!(owner.id), &Value::Null, &Value::Null),
        "{b}"
    );
    assert_eq!(token_status(&app, &adopted, &old_secret).await, 401);

    let (s, b) = call(&app, "DELETE", &format!("/v1/api-keys/{devs_key_id}"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(token_status(&app, &adopted, &new_secret).await, 200, "the adopted app lives on");
    assert_eq!(token_status(&app, &edited, &edited_secret).await, 401, "the edited app went with the key");
    assert_eq!(token_status(&app, &rotated_by_key, &rotated_secret).await, 401, "so did the one rotated by a key");
}

#[actix_web::test]
async fn an_app_registered_through_a_disabled_users_key_gets_no_token_until_they_are_enabled() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let (_, devs_key) = app.secret_key(&org.id, &dev.id, &["read", "write"]).await;
    let (_, owners_key) = app.secret_key(&org.id, &owner.id, &["read", "write"]).await;
    let (through_dev, devs_secret, _) = app_through(&app, &devs_key).await;
    let (through_owner, owners_secret, _) = app_through(&app, &owners_key).await;
    // Read once, so the apps are in the cache when the user is disabled.
    assert_eq!(token_status(&app, &through_dev, &devs_secret).await, 200);
    assert_eq!(token_status(&app, &through_owner, &owners_secret).await, 200);

    assert!(app.state.accounts.disable_user(&dev.id).await.unwrap());
    assert_eq!(validated(&app, &devs_key).await, refused("INVALID_API_KEY"));
    assert_eq!(token_status(&app, &through_dev, &devs_secret).await, 401, "as its key, the app acts for no one");
    assert_eq!(token_status(&app, &through_owner, &owners_secret).await, 200, "another member's app works");

    assert!(app.state.accounts.enable_user(&dev.id).await.unwrap());
    assert_eq!(validated(&app, &devs_key).await, LIVE);
    assert_eq!(token_status(&app, &through_dev, &devs_secret).await, 200, "enabled, the key and its app work again");
}

/// A management app made at `dashboard` whose secret `rotator` then
/// rotates without grace, and a token of that new secret: (client id, the
/// new secret, the token).
async fn management_app_rotated_by(app: &TestApp, dashboard: &str, rotator: &str) -> (String, String, String) {
    let (machine, _) = management_app(app, dashboard).await;
    let (s, b) =
        call(app, "POST", &format!("/v1/apps/{machine}/rotate-secret"), rotator, Some(json!({"grace_period": 0})))
            .await;
    assert_eq!(s, 200, "{b}");
    let secret = b["data"]["client_secret"].as_str().unwrap().to_owned();
    let token = app.machine_token(&machine, &secret, "read write delete").await;
    (machine, secret, token)
}

/// Attacker round 12, findings 1 and 3: what a management app's token
/// makes ends with the secret that token was issued under — when the key
/// that secret was issued through is revoked or rolled, when the secret is
/// rotated without grace (the remedy for a leaked secret), and when a
/// grace ends — and so does the token itself.
#[actix_web::test]
async fn what_a_management_apps_token_made_ends_with_the_secret_it_was_issued_under() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let dashboard = app.signed_in(&owner).await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let revoked = (refused("REVOKED_API_KEY"), refused("REVOKED_API_KEY"), 401);
    let expired = (refused("EXPIRED_API_KEY"), refused("EXPIRED_API_KEY"), 401);
    let v1 = |token: String| {
        let app = &app;
        async move { call(app, "GET", "/v1/apps", &token, None).await.0 }
    };

    // A leaked ADMIN key rotates the secret; the key is revoked.
    let (leaked_id, leaked) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (machine, _, token) = management_app_rotated_by(&app, &dashboard, &leaked).await;
    let by_revoked = made_by_machine(&app, &machine, &token).await;
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(call(&app, "DELETE", &format!("/v1/api-keys/{leaked_id}"), &admin, None).await.0, 200);
    assert_eq!(v1(token).await, 401);
    assert_eq!(made_state(&app, &by_revoked).await, revoked);
    assert_eq!(call(&app, "GET", &format!("/v1/apps/{}", by_revoked.app.0), &admin, None).await.0, 404);

    // The same key rolled with no overlap: the token ends too.
    let (rolled_id, rolled) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (machine, _, token) = management_app_rotated_by(&app, &dashboard, &rolled).await;
    let by_rolled = made_by_machine(&app, &machine, &token).await;
    app.clock.advance(chrono::Duration::seconds(1));
    let (s, b) =
        call(&app, "POST", &format!("/v1/api-keys/{rolled_id}/roll"), &admin, Some(json!({"expires_in": 0}))).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(v1(token.clone()).await, 401, "the token outlived its secret");
    assert_eq!(made_state(&app, &by_rolled).await, expired);

    // The creator rotates a leaked secret without grace.
    let (machine, token) = management_app(&app, &dashboard).await;
    let by_leaked = made_by_machine(&app, &machine, &token).await;
    app.clock.advance(chrono::Duration::seconds(1));
    let (s, b) =
        call(&app, "POST", &format!("/v1/apps/{machine}/rotate-secret"), &dashboard, Some(json!({"grace_period": 0})))
            .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(made_state(&app, &by_leaked).await, revoked);

    // With a grace: what the old secret's tokens made lives until it ends.
    let (machine, token) = management_app(&app, &dashboard).await;
    let by_graced = made_by_machine(&app, &machine, &token).await;
    let (s, b) = call(
        &app,
        "POST",
        &format!("/v1/apps/{machine}/rotate-secret"),
        &dashboard,
        Some(json!({"grace_period": 600})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let new_secret = b["data"]["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(made_state(&app, &by_graced).await, (LIVE, LIVE, 200));
    let (_, b) = call(&app, "GET", "/v1/auth/validate", &by_graced.key, None).await;
    assert_eq!(b["data"]["credential"]["expires_at"], json!("2026-01-01T12:10:03Z"), "{b}");
    // Made now with an old token, it ends with the grace as well.
    let (_, late, _) = made_through(&app, &token, "late").await;
    app.clock.advance(chrono::Duration::seconds(600));
    assert_eq!(v1(token).await, 401);
    assert_eq!(made_state(&app, &by_graced).await, expired);
    assert_eq!(validated(&app, &late).await, refused("EXPIRED_API_KEY"));
    // The new secret works, and what its tokens make lives.
    let fresh = app.machine_token(&machine, &new_secret, "read write").await;
    made_by_machine(&app, &machine, &fresh).await;
}

/// Attacker round 12, finding 2: a management app's token rotates the
/// secret of no app but itself and the apps it made; rotating its own, it
/// keeps the tie of the secret its token came under.
#[actix_web::test]
async fn a_machine_rotates_only_its_own_and_its_apps_secrets_and_its_own_keeps_its_key() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let dashboard = app.signed_in(&owner).await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let body = json!({"name": "the owner's", "grant_types": ["client_credentials"], "scopes": ["read", "write"]});
    let (s, b) = call(&app, "POST", "/v1/apps", &dashboard, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    let (owners_app, owners_secret) =
        (b["data"]["client_id"].as_str().unwrap().to_owned(), b["data"]["client_secret"].as_str().unwrap().to_owned());
    let (leaked_id, leaked) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (machine, _, token) = management_app_rotated_by(&app, &dashboard, &leaked).await;

    let rotate = |id: String, token: String| {
        let app = &app;
        async move {
            let (s, b) =
                call(app, "POST", &format!("/v1/apps/{id}/rotate-secret"), &token, Some(json!({"grace_period": 0})))
                    .await;
            (s, b["data"]["client_secret"].as_str().map(str::to_owned), b)
        }
    };
    let (s, _, b) = rotate(owners_app.clone(), token.clone()).await;
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (403, Some("A management app rotates the secret of no app but itself and the apps it made.")),
        "{b}"
    );
    assert_eq!(token_status(&app, &owners_app, &owners_secret).await, 200, "the owner's secret lives");
    let (its_app, _, _) = app_through(&app, &token).await;
    let (s, its_secret, b) = rotate(its_app.clone(), token.clone()).await;
    assert_eq!(s, 200, "{b}");
    let its_secret = its_secret.unwrap();
    assert_eq!(token_status(&app, &its_app, &its_secret).await, 200);
    // Its own secret, rotated by its token: bound to the leaked key still.
    app.clock.advance(chrono::Duration::seconds(1));
    let (s, own_secret, b) = rotate(machine.clone(), token).await;
    assert_eq!(s, 200, "{b}");
    let own_secret = own_secret.unwrap();
    assert_eq!(token_status(&app, &machine, &own_secret).await, 200);

    assert_eq!(call(&app, "DELETE", &format!("/v1/api-keys/{leaked_id}"), &admin, None).await.0, 200);
    assert_eq!(token_status(&app, &machine, &own_secret).await, 401, "the machine's new secret outlived the key");
    assert_eq!(token_status(&app, &its_app, &its_secret).await, 401, "and its app");
    assert_eq!(token_status(&app, &owners_app, &owners_secret).await, 200);
}

/// A code-flow app registered with `maker`: (client id, secret).
async fn code_flow_app(app: &TestApp, maker: &str) -> (String, String) {
    let body = json!({"name": "web", "grant_types": ["authorization_code"],
        "redirect_uris": ["https://app.example.com/cb"], "scopes": ["read"]});
    let (s, b) = call(app, "POST", "/v1/apps", maker, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    (b["data"]["client_id"].as_str().unwrap().to_owned(), b["data"]["client_secret"].as_str().unwrap().to_owned())
}

/// Attacker round 12, finding 6: a key or a machine adds redirect URIs (or
/// scopes) only to an app it registered, which ends with it; to a
/// person's app they would outlive it and send its users' codes away.
#[actix_web::test]
async fn a_key_or_machine_adds_redirect_uris_or_scopes_only_to_an_app_it_registered() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let dashboard = app.signed_in(&owner).await;
    let (_, key) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete"]).await;
    let (_, machine_token) = management_app(&app, &dashboard).await;
    let (persons, _) = code_flow_app(&app, &dashboard).await;
    let widened = json!({"redirect_uris": ["https://app.example.com/cb", "https://evil.example.net/cb"]});
    let message = "A key or management app adds redirect URIs or scopes only to an app it registered: \
                   add them at the dashboard.";
    for (credential, body) in [
        (&key, widened.clone()),
        (&machine_token, widened.clone()),
        (&key, json!({"scopes": ["read", "write"]})),
        (&key, json!({"post_logout_redirect_uris": ["https://evil.example.net/bye"]})),
    ] {
        let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{persons}"), credential, Some(body)).await;
        assert_eq!((s, b["error"]["message"].as_str()), (403, Some(message)), "{b}");
    }
    let (_, b) = call(&app, "GET", &format!("/v1/apps/{persons}"), &dashboard, None).await;
    assert_eq!(b["data"]["redirect_uris"], json!(["https://app.example.com/cb"]));
    // Other changes, and narrowing, are still theirs to make.
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{persons}"), &key, Some(json!({"name": "renamed"}))).await;
    assert_eq!(s, 200, "{b}");
    // Their own apps they widen; a person widens any at the dashboard.
    let (keys, _) = code_flow_app(&app, &key).await;
    let (machines, _) = code_flow_app(&app, &machine_token).await;
    for (id, credential) in [(&keys, &key), (&machines, &machine_token), (&persons, &dashboard)] {
        let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), credential, Some(widened.clone())).await;
        assert_eq!(s, 200, "{b}");
    }
}

/// Attacker round 12, finding 7: a person's rotation without grace unties
/// an app from the key that registered it even when they edited it first
/// (the edit made it theirs, so the rotation was no takeover).
#[actix_web::test]
async fn an_app_edited_then_rotated_without_grace_by_a_person_no_longer_ends_with_its_key() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let (devs_key_id, devs_key) = app.secret_key(&org.id, &dev.id, &["read", "write", "delete"]).await;
    let dashboard = app.signed_in(&owner).await;
    let (adopted, _, _) = app_through(&app, &devs_key).await;
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{adopted}"), &dashboard, Some(json!({"name": "ours"}))).await;
    assert_eq!((s, &b["data"]["made_by_key"]), (200, &json!(devs_key_id)), "{b}");
    let (s, b) =
        call(&app, "POST", &format!("/v1/apps/{adopted}/rotate-secret"), &dashboard, Some(json!({"grace_period": 0})))
            .await;
    assert_eq!(s, 200, "{b}");
    let secret = b["data"]["client_secret"].as_str().unwrap().to_owned();
    let (_, b) = call(&app, "GET", &format!("/v1/apps/{adopted}"), &dashboard, None).await;
    assert_eq!((&b["data"]["made_by_key"], &b["data"]["ends_at"]), (&Value::Null, &Value::Null), "{b}");
    // The developer cannot delete it by revoking their own key.
    assert_eq!(call(&app, "DELETE", &format!("/v1/api-keys/{devs_key_id}"), &devs_key, None).await.0, 200);
    assert_eq!(call(&app, "GET", &format!("/v1/apps/{adopted}"), &dashboard, None).await.0, 200);
    assert_eq!(token_status(&app, &adopted, &secret).await, 200);
}

/// Attacker round 12, finding 4: an app registered by a disabled user's
/// management app gets no token, and an app registered through their key
/// keeps no live token and hands out no code, until they are enabled.
#[actix_web::test]
async fn apps_made_by_a_disabled_users_machine_or_key_get_and_keep_nothing_while_disabled() {
    let app = TestApp::spawn().await;
    let (_, org) = app.user().create().await;
    let (dm, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let dashboard = app.signed_in(&dm).await;
    let (_, dms_key) = app.secret_key(&org.id, &dm.id, &["read", "write"]).await;
    let (machine, machine_token) = management_app(&app, &dashboard).await;
    let (by_machine, by_machine_secret, data) = app_through(&app, &machine_token).await;
    assert_eq!(data["made_by_app"], json!(machine));
    let (by_key, by_key_secret, _) = app_through(&app, &dms_key).await;
    let (web, _) = code_flow_app(&app, &dms_key).await;
    let (_, b) = crate::oauth_support::client_credentials_read(&app, &by_key, &by_key_secret).await;
    let kept = b["access_token"].as_str().unwrap().to_owned();
    let authorize = |client_id: String| {
        let app = &app;
        async move {
            let url = app.url(&format!(
                "/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri=https://app.example.com/cb\
                 &scope=read&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
            ));
            let res = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let res = res.get(url).send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap().contains("not registered here"))
        }
    };
    assert_eq!(token_status(&app, &by_machine, &by_machine_secret).await, 200);
    assert!(app.state.oauth.live_access_token(&kept, None).await.unwrap().is_some());
    assert!(!authorize(web.clone()).await.1);

    assert!(app.state.accounts.disable_user(&dm.id).await.unwrap());
    assert_eq!(token_status(&app, &by_machine, &by_machine_secret).await, 401, "the machine's app acts for no one");
    assert!(app.state.oauth.live_access_token(&kept, None).await.unwrap().is_none(), "a kept token lived");
    assert_eq!(authorize(web.clone()).await, (400, true), "authorize handed out a code");

    assert!(app.state.accounts.enable_user(&dm.id).await.unwrap());
    assert_eq!(token_status(&app, &by_machine, &by_machine_secret).await, 200);
    assert!(app.state.oauth.live_access_token(&kept, None).await.unwrap().is_some());
}

/// Attacker round 12, finding 8: a rotation that loses the race with the
/// app's deletion answers 404, not 500.
#[actix_web::test]
async fn a_rotation_racing_the_apps_deletion_answers_not_found() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user().create().await;
    let dashboard = app.signed_in(&owner).await;
    let (id, _) = code_flow_app(&app, &dashboard).await;
    let client = app.state.oauth.clients.get(&id).await.unwrap().unwrap();
    let (pk, cid, now) = (client.pk.clone(), id.clone(), app.clock.now().naive_utc());
    // Read as live by the request; its deletion commits while it writes.
    let (commit, writer) =
        held_open(&app, move |c| portcullis::store::clients::delete_client(c, &pk, &cid, ("client", &cid), now));
    let rotating = actix_web::rt::spawn(
        reqwest::Client::new()
            .post(app.url(&format!("/v1/apps/{id}/rotate-secret")))
            .bearer_auth(dashboard.clone())
            .json(&json!({"grace_period": 0}))
            .send(),
    );
    actix_web::rt::time::sleep(std::time::Duration::from_millis(300)).await;
    commit.send(()).unwrap();
    writer.join().unwrap();
    let res = rotating.await.unwrap().unwrap();
    let status = res.status().as_u16();
    let b: Value = res.json().await.unwrap();
    assert_eq!((status, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{b}");
}

/// Attacker round 12, finding 5: the apps a machine made end when the key
/// the machine was registered through is rolled, in the roll itself, not
/// at the next housekeeping pass.
#[actix_web::test]
async fn apps_a_machine_made_end_with_the_roll_of_the_key_it_was_registered_through() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (_, admin) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (maker_id, maker) = app.secret_key(&org.id, &owner.id, &["read", "write", "delete", "admin"]).await;
    let (_, token) = management_app(&app, &maker).await;
    let (made, secret, _) = app_through(&app, &token).await;
    assert_eq!(token_status(&app, &made, &secret).await, 200);
    let (s, b) =
        call(&app, "POST", &format!("/v1/api-keys/{maker_id}/roll"), &admin, Some(json!({"expires_in": 0}))).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(token_status(&app, &made, &secret).await, 401, "the machine's app outlived the roll");
    assert_eq!(call(&app, "GET", &format!("/v1/apps/{made}"), &admin, None).await.0, 404);
}
