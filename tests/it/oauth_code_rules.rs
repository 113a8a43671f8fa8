//! The code flow's protocol rules, each a test that reads as the rule:
//! how long a code lives, who may replay one, PKCE for every client unless
//! a legacy confidential one is exempted, and when consent is asked again.

use std::process::Command;

use serde_json::{Value, json};

use crate::oauth_code::code_for;
use crate::oauth_support::{REDIRECT, Registered, post_form};
use crate::support::TestApp;

/// POSTs to /oauth/token as a public client (client_id in the body).
async fn public_token(app: &TestApp, client_id: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut form = form.to_vec();
    form.push(("client_id", client_id));
    let res = reqwest::Client::new().post(app.url("/oauth/token")).form(&form).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    (res.status().as_u16(), res.json().await.unwrap())
}

fn invalid_grant(description: &str) -> Value {
    json!({"error": "invalid_grant", "error_description": description})
}

async fn is_active(app: &TestApp, reg: &Registered, token: &str) -> bool {
    let (status, _, body) = post_form(app, "/oauth/introspect", reg, &[("token", token)]).await;
    assert_eq!(status, 200);
    body["active"] == json!(true)
}

#[actix_web::test]
async fn a_code_presented_by_another_client_fails_and_revokes_nothing() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let other = app.oauth_client().await.create().await;
    let (code, verifier) = code_for(&app, &reg, "read offline_access").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.secret().as_str()),
    ];
    let stolen = invalid_grant("The authorization code was issued to another client.");

    // Before the first use: refused, and the code still works for its client.
    let (status, headers, body) = post_form(&app, "/oauth/token", &other, &form).await;
    assert_eq!((status, &body), (400, &stolen));
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, first) = post_form(&app, "/oauth/token", &reg, &form).await;
    assert_eq!(status, 200, "{first}");

    // After it: still only invalid_grant, and the first use's tokens live on
    // (RFC 6749 §4.1.2 revokes on a replay by the client the code is for).
    let (status, _, body) = post_form(&app, "/oauth/token", &other, &form).await;
    assert_eq!((status, &body), (400, &stolen));
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert!(is_active(&app, &reg, access).await, "the legitimate access token still works");
    let (status, _, body) =
        post_form(&app, "/oauth/token", &reg, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 200, "the legitimate refresh token still works: {body}");
}

#[actix_web::test]
async fn a_public_clients_used_code_revokes_only_when_replayed_with_its_verifier() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.public().create().await;
    let id = reg.client.client_id.clone();
    let (code, verifier) = code_for(&app, &reg, "read offline_access").await;
    let (app_ref, code_ref) = (&app, &code);
    let exchange = |verifier: Option<String>| {
        let (app, code, id) = (app_ref, code_ref.clone(), id.clone());
        async move {
            let mut form =
                vec![("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
            if let Some(v) = &verifier {
                form.push(("code_verifier", v.as_str()));
            }
            public_token(app, &id, &form).await
        }
    };
    let (status, first) = exchange(Some(verifier.secret().clone())).await;
    assert_eq!(status, 200, "{first}");
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();

    // Anyone may send a public client's client_id: without the verifier a
    // used code proves nothing, and revokes nothing.
    assert_eq!(exchange(None).await, (400, invalid_grant("code_verifier is required.")));
    assert_eq!(
        exchange(Some("x".repeat(43))).await,
        (400, invalid_grant("code_verifier does not match the code_challenge."))
    );
    let (status, body) =
        public_token(&app, &id, &[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())]).await;
    assert_eq!(status, 200, "{body}");
    let next = body["refresh_token"].as_str().unwrap().to_owned();

    // With the verifier it is the client's own replay: the family dies.
    assert_eq!(
        exchange(Some(verifier.secret().clone())).await,
        (400, invalid_grant("The authorization code was already used; the tokens it issued are revoked."))
    );
    let (status, body) =
        public_token(&app, &id, &[("grant_type", "refresh_token"), ("refresh_token", next.as_str())]).await;
    assert_eq!((status, body), (400, invalid_grant("The refresh token was revoked.")));
}

#[actix_web::test]
async fn a_code_works_at_59_seconds_and_is_expired_at_61() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (app_ref, reg_ref) = (&app, &reg);
    let exchange = move |code: String, verifier: String| {
        let (app, reg) = (app_ref, reg_ref);
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
            ];
            let (status, _, body) = post_form(app, "/oauth/token", reg, &form).await;
            (status, body)
        }
    };
    let (code, verifier) = code_for(&app, &reg, "read").await;
    app.clock.advance(chrono::Duration::seconds(59));
    let (status, body) = exchange(code, verifier.secret().clone()).await;
    assert_eq!(status, 200, "{body}");

    let (code, verifier) = code_for(&app, &reg, "read").await;
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        exchange(code, verifier.secret().clone()).await,
        (400, invalid_grant("The authorization code has expired."))
    );
}

/// The binary, in `dir`, with none of the caller's PORTCULLIS_* settings.
fn portcullis(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") || key == "DATABASE_URL" || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.env("PORTCULLIS_DATA_DIR", dir.join("data"));
    cmd.env("PORTCULLIS_DATABASE_URL", format!("sqlite://{}", dir.join("data/p.db").display()));
    cmd
}

#[test]
fn code_lifetimes_over_60_seconds_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for ttl in ["600", "61", "0"] {
        let out = portcullis(dir.path())
            .env("PORTCULLIS_OAUTH__AUTHORIZATION_CODE_TTL_SECS", ttl)
            .arg("migrate")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{ttl} must be refused");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "oauth.authorization_code_ttl_secs: {ttl} is out of range: \
                 an authorization code lives between 1 and 60 seconds"
            )),
            "{stderr}"
        );
    }
    let out = portcullis(dir.path())
        .env("PORTCULLIS_OAUTH__AUTHORIZATION_CODE_TTL_SECS", "60")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
