//! What an app may not register (attack review round 1, F-3 and F-4):
//! token lifetimes beyond their bounds, since the longest access-token
//! lifetime also keeps every retired signing key published; a pairwise
//! sector that is not one of the app's own redirect hosts; and a change of
//! `subject_type` or `sector_identifier`, which would hand the app other
//! subjects (or the users' real ids) under the consents it already has.

use chrono::Duration;
use diesel::prelude::*;
use portcullis::oauth::clients::{Clients, GrantType};
use portcullis::store::schema::oauth_clients;
use portcullis::tokens::signing::RotationPolicy;
use serde_json::{Value, json};

use crate::api_apps::{machine_token, owner_key, register};
use crate::oidc_logout::{oidc_app, with_fields};
use crate::support::{TestApp, call};

const ACCESS_REFUSAL: &str = "access_token_ttl must be between 1 and 86400 seconds: an access token lives a day at most (RFC 9700: \
     short-lived access tokens)";

/// A `VALIDATION_ERROR` with exactly `message`.
fn assert_refused(status: u16, body: &Value, message: &str) {
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{body}");
    assert_eq!(body["error"]["message"], message);
}

fn machine_app(extra: Value) -> Value {
    with_fields(json!({ "name": "Machine", "grant_types": ["client_credentials"], "scopes": ["read"] }), extra)
}

/// Registers a pairwise app redirecting to `redirect_uris`, naming `sector`.
async fn pairwise_app(app: &TestApp, key: &str, redirect_uris: Value, sector: &str) -> (u16, Value) {
    let extra = json!({ "redirect_uris": redirect_uris, "subject_type": "pairwise", "sector_identifier": sector });
    call(app, "POST", "/v1/apps", key, Some(oidc_app(extra))).await
}

#[actix_web::test]
async fn an_app_cannot_give_its_access_tokens_more_than_a_day() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    for ttl in [86_401, 315_360_000, 0] {
        let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(machine_app(json!({ "access_token_ttl": ttl })))).await;
        assert_refused(s, &b, ACCESS_REFUSAL);
    }
    let reg = register(&app, &key, machine_app(json!({ "access_token_ttl": 86_400 }))).await;
    let (s, b) = machine_token(&app, &reg, "read").await;
    assert_eq!((s, &b["expires_in"]), (200, &json!(86_400)), "{b}");
}

#[actix_web::test]
async fn an_app_cannot_keep_refresh_tokens_past_the_configured_absolute_lifetime() {
    let app = TestApp::spawn_with(|c| c.oauth.refresh_token_absolute_ttl_secs = 1_000).await;
    let (_, key) = owner_key(&app).await;
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(machine_app(json!({ "refresh_token_ttl": 1_001 })))).await;
    assert_refused(
        s,
        &b,
        "refresh_token_ttl must be between 1 and 1000 seconds: a refresh token's family ends then \
         (oauth.refresh_token_absolute_ttl_secs)",
    );
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(machine_app(json!({ "refresh_token_ttl": 1_000 })))).await;
    assert_eq!(s, 201, "{b}");
}

#[actix_web::test]
async fn an_over_long_lifetime_stored_before_the_bound_neither_stretches_key_retention_nor_issues_long_tokens() {
    let app = TestApp::spawn().await;
    let reg = {
        let mut builder = app.oauth_client().await.grants(&[GrantType::ClientCredentials]).scopes(&["read"]);
        builder.new_mut().access_token_ttl_secs = Some(3_600);
        builder.create().await
    };
    // Ten years, as a DEVELOPER could register before the bound.
    let id = reg.client.client_id.clone();
    app.state
        .store
        .run(move |c| {
            diesel::update(oauth_clients::table.filter(oauth_clients::client_id.eq(id)))
                .set(oauth_clients::access_token_ttl_secs.eq(Some(315_360_000)))
                .execute(c)?;
            Ok(())
        })
        .await
        .unwrap();

    let state = app.state.clone();
    let retention = tokio::task::spawn_blocking(move || {
        RotationPolicy::from_config(&state.config).retired_retention(&state.store).unwrap()
    })
    .await
    .unwrap();
    // A day, plus the JWKS max-age and one change poll.
    let margin = Duration::seconds(app.state.config.oauth.jwks_max_age_secs.into())
        + Duration::milliseconds(app.state.config.change_poll_interval_ms as i64);
    assert_eq!(retention, Duration::days(1) + margin);

    // Read afresh (the server's cache still holds the row as registered).
    let uncached = Clients::new(app.state.store.clone(), app.clock.clone(), app.state.oauth.scopes.clone());
    let client = uncached.get(&reg.client.client_id).await.unwrap().unwrap();
    assert_eq!(client.access_token_ttl_secs, Some(86_400));
}

#[actix_web::test]
async fn a_sector_identifier_must_be_one_of_the_apps_redirect_hosts() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    // The review's case: another app of the organization signs people in on
    // localhost; this one, on 127.0.0.1, claims that sector.
    let (s, b) = pairwise_app(&app, &key, json!(["http://127.0.0.1:18095/cb"]), "localhost").await;
    assert_refused(
        s,
        &b,
        r#"sector_identifier "localhost" must be the host of one of the app's redirect URIs (127.0.0.1): portcullis can verify no other sector"#,
    );
    let spread = json!(["https://a.example/cb", "https://b.example/cb"]);
    for foreign in ["c.example", "*", "a.example."] {
        let (s, b) = pairwise_app(&app, &key, spread.clone(), foreign).await;
        assert_refused(
            s,
            &b,
            &format!(
                "sector_identifier {foreign:?} must be the host of one of the app's redirect URIs (a.example, \
                 b.example): portcullis can verify no other sector"
            ),
        );
    }
    for (redirect_uris, sector) in [(spread.clone(), "B.example"), (json!(["https://rp.example/cb"]), "rp.example")] {
        let (s, b) = pairwise_app(&app, &key, redirect_uris, sector).await;
        assert_eq!((s, &b["data"]["sector_identifier"]), (201, &json!(sector.to_ascii_lowercase())), "{b}");
    }
}

#[actix_web::test]
async fn subject_type_and_sector_identifier_cannot_change_after_registration() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    let spread = json!(["https://a.example/cb", "https://b.example/cb"]);
    let (_, b) = pairwise_app(&app, &key, spread, "a.example").await;
    let pairwise = b["data"]["client_id"].as_str().unwrap().to_owned();
    let (_, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(json!({})))).await;
    let public = b["data"]["client_id"].as_str().unwrap().to_owned();

    let subject_refusal = "subject_type cannot change after registration: register a new app";
    let sector_refusal = "sector_identifier cannot change after registration: register a new app";
    for (id, change, message) in [
        (&pairwise, json!({ "subject_type": "public" }), subject_refusal),
        (&pairwise, json!({ "sector_identifier": "b.example" }), sector_refusal),
        (&pairwise, json!({ "sector_identifier": null }), sector_refusal),
        (&public, json!({ "subject_type": "pairwise" }), subject_refusal),
        (&public, json!({ "subject_type": "pairwise", "sector_identifier": "rp.example" }), subject_refusal),
    ] {
        let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(change.clone())).await;
        assert_refused(s, &b, message);
    }
    // The current values again are no change.
    for (id, same) in [
        (&pairwise, json!({ "subject_type": "pairwise", "sector_identifier": "A.example", "name": "Kept" })),
        (&public, json!({ "subject_type": "public", "sector_identifier": null, "name": "Kept" })),
    ] {
        let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(same)).await;
        assert_eq!((s, &b["data"]["name"]), (200, &json!("Kept")), "{b}");
    }
    let (_, got) = call(&app, "GET", &format!("/v1/apps/{pairwise}"), &key, None).await;
    assert_eq!(
        (&got["data"]["subject_type"], &got["data"]["sector_identifier"]),
        (&json!("pairwise"), &json!("a.example"))
    );
    let (_, got) = call(&app, "GET", &format!("/v1/apps/{public}"), &key, None).await;
    assert_eq!((&got["data"]["subject_type"], &got["data"]["sector_identifier"]), (&json!("public"), &Value::Null));
}

#[actix_web::test]
async fn new_redirect_uris_of_a_pairwise_app_keep_one_on_its_sector_host() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    let (_, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(json!({ "subject_type": "pairwise" })))).await;
    let id = b["data"]["client_id"].as_str().unwrap().to_owned();
    assert_eq!(b["data"]["sector_identifier"], "rp.example");

    let elsewhere = json!({ "redirect_uris": ["https://a.example/cb", "https://b.example/cb"] });
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(elsewhere)).await;
    assert_refused(
        s,
        &b,
        r#"the redirect URIs of a pairwise app must keep one on its sector host "rp.example", which its subjects are computed for and cannot change"#,
    );
    let kept = json!({ "redirect_uris": ["https://rp.example/new", "https://b.example/cb"] });
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(kept)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["redirect_uris"], json!(["https://rp.example/new", "https://b.example/cb"]));
    assert_eq!(b["data"]["sector_identifier"], "rp.example");
}

#[test]
fn the_cli_refuses_long_lifetimes_and_foreign_sectors_with_exact_errors() {
    let dir = crate::cli::Workspace::new();
    dir.create_user("ops@example.com", "Acme");
    let create = |args: &[&str]| dir.client_create(&[&["--scope", "read"], args].concat());
    let code_flow = ["--grant", "authorization_code", "--redirect-uri", "http://127.0.0.1:18095/cb"];
    for (args, message) in [
        (vec!["--grant", "client_credentials", "--access-token-ttl", "315360000"], ACCESS_REFUSAL.to_owned()),
        (
            vec!["--grant", "client_credentials", "--refresh-token-ttl", "7776001"],
            "refresh_token_ttl must be between 1 and 7776000 seconds: a refresh token's family ends then \
             (oauth.refresh_token_absolute_ttl_secs)"
                .to_owned(),
        ),
        (
            [&code_flow[..], &["--subject-type", "pairwise", "--sector-identifier", "localhost"]].concat(),
            r#"sector_identifier "localhost" must be the host of one of the app's redirect URIs (127.0.0.1): portcullis can verify no other sector"#
                .to_owned(),
        ),
    ] {
        let (code, printed) = create(&args);
        assert_eq!((code, printed.as_str()), (Some(1), format!("error: {message}\n").as_str()), "{args:?}");
    }
    let (code, printed) =
        create(&[&code_flow[..], &["--subject-type", "pairwise", "--access-token-ttl", "86400"]].concat());
    assert_eq!(code, Some(0), "{printed}");
}
