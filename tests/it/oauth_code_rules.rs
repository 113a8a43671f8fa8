//! The code flow's protocol rules, each a test that reads as the rule:
//! how long a code lives, who may replay one, PKCE for every client unless
//! a legacy confidential one is exempted, and when consent is asked again.

use std::process::Command;

use serde_json::{Value, json};

use crate::oauth_code::code_for;
use crate::oauth_support::{REDIRECT, post_form};
use crate::support::TestApp;

fn invalid_grant(description: &str) -> Value {
    json!({"error": "invalid_grant", "error_description": description})
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
