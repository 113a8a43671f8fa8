//! OpenID Connect logout: the registration fields it relies on
//! (post_logout_redirect_uris, backchannel_logout_uri, subject_type,
//! sector_identifier, id_token_signed_response_alg), through /v1/apps and
//! the CLI.

use serde_json::{Value, json};

use portcullis::clock::Clock;

use crate::api_apps::owner_key;
use crate::support::{TestApp, call};

fn oidc_app(extra: Value) -> Value {
    let mut body = json!({
        "name": "Relying Party", "type": "confidential", "grant_types": ["authorization_code"],
        "redirect_uris": ["https://rp.example/callback"], "scopes": ["read"],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[actix_web::test]
async fn oidc_registration_fields_are_stored_shown_and_changed_through_v1_apps() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;

    // Defaults: public subjects, RS256, no logout URIs.
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(json!({})))).await;
    assert_eq!(s, 201, "{b}");
    let d = &b["data"];
    assert_eq!(d["post_logout_redirect_uris"], json!([]));
    assert_eq!(d["backchannel_logout_uri"], Value::Null);
    assert_eq!(d["subject_type"], "public");
    assert_eq!(d["sector_identifier"], Value::Null);
    assert_eq!(d["id_token_signed_response_alg"], "RS256");

    let (s, b) = call(
        &app,
        "POST",
        "/v1/apps",
        &key,
        Some(oidc_app(json!({
            "post_logout_redirect_uris": ["https://rp.example/bye", "http://127.0.0.1:8080/bye?x=1"],
            "backchannel_logout_uri": "https://rp.example/backchannel",
            "subject_type": "pairwise",
            "id_token_signed_response_alg": "ES256",
        }))),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let id = b["data"]["client_id"].as_str().unwrap().to_owned();
    let (s, got) = call(&app, "GET", &format!("/v1/apps/{id}"), &key, None).await;
    assert_eq!(s, 200);
    let d = &got["data"];
    assert_eq!(d["post_logout_redirect_uris"], json!(["https://rp.example/bye", "http://127.0.0.1:8080/bye?x=1"]));
    assert_eq!(d["backchannel_logout_uri"], "https://rp.example/backchannel");
    assert_eq!(d["subject_type"], "pairwise");
    // OIDC Core §8.1: the one host of the redirect URIs.
    assert_eq!(d["sector_identifier"], "rp.example");
    assert_eq!(d["id_token_signed_response_alg"], "ES256");
    let client = app.state.oauth.clients.get(&id).await.unwrap().unwrap();
    assert_eq!(client.id_token_alg, portcullis::tokens::signing::SigningAlgorithm::ES256);
    assert_eq!(client.subject_type, portcullis::oauth::clients::SubjectType::Pairwise);

    // New redirect URIs on other hosts: the sector (and so every subject) stays.
    let (s, b) = call(
        &app,
        "PATCH",
        &format!("/v1/apps/{id}"),
        &key,
        Some(json!({ "redirect_uris": ["https://a.example/cb", "https://b.example/cb"], "id_token_signed_response_alg": "EdDSA" })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["sector_identifier"], "rp.example");
    assert_eq!(b["data"]["id_token_signed_response_alg"], "EdDSA");
    // Recomputed from hosts that differ: refused until one is given.
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(json!({ "sector_identifier": null }))).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["error"]["message"],
        "the redirect URIs of a pairwise app span several hosts (or have none): give a sector_identifier, the host its subjects are computed for"
    );
    let (s, b) = call(
        &app,
        "PATCH",
        &format!("/v1/apps/{id}"),
        &key,
        Some(json!({ "sector_identifier": "Apps.Example", "backchannel_logout_uri": null, "post_logout_redirect_uris": [] })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["sector_identifier"], "apps.example");
    assert_eq!(b["data"]["backchannel_logout_uri"], Value::Null);
    assert_eq!(b["data"]["post_logout_redirect_uris"], json!([]));
    // Public again: no sector.
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(json!({ "subject_type": "public" }))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["data"]["subject_type"].as_str(), &b["data"]["sector_identifier"]), (Some("public"), &Value::Null));
}

#[actix_web::test]
async fn oidc_registration_refuses_bad_values_with_exact_errors() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    let public_native = json!({ "type": "public", "redirect_uris": ["com.example.app:/cb"] });
    for (extra, message) in [
        (json!({ "post_logout_redirect_uris": ["/bye"] }), r#"post_logout_redirect_uri "/bye" is not an absolute URI"#),
        (
            json!({ "post_logout_redirect_uris": ["https://rp.example/bye#x"] }),
            r#"post_logout_redirect_uri "https://rp.example/bye#x" must not contain a fragment"#,
        ),
        (
            json!({ "post_logout_redirect_uris": ["http://rp.example/bye"] }),
            r#"post_logout_redirect_uri "http://rp.example/bye" must use https (http only for loopback)"#,
        ),
        (
            json!({ "post_logout_redirect_uris": ["com.example.app:/bye"] }),
            r#"post_logout_redirect_uri scheme "com.example.app" is not allowed"#,
        ),
        (
            json!({ "post_logout_redirect_uris": ["javascript:alert(1)"] }),
            r#"post_logout_redirect_uri scheme "javascript" is not allowed"#,
        ),
        (
            json!({ "backchannel_logout_uri": "rp.example/bc" }),
            r#"backchannel_logout_uri "rp.example/bc" is not an absolute URI"#,
        ),
        (
            json!({ "backchannel_logout_uri": "https://rp.example/bc#frag" }),
            r#"backchannel_logout_uri "https://rp.example/bc#frag" must not contain a fragment"#,
        ),
        (
            json!({ "backchannel_logout_uri": "http://rp.example/bc" }),
            r#"backchannel_logout_uri "http://rp.example/bc" must use https (http only for loopback)"#,
        ),
        (
            json!({ "backchannel_logout_uri": "ftp://rp.example/bc" }),
            r#"backchannel_logout_uri "ftp://rp.example/bc" must use https (http only for loopback)"#,
        ),
        (
            json!({ "backchannel_logout_uri": "https://user:pw@rp.example/bc" }),
            r#"backchannel_logout_uri "https://user:pw@rp.example/bc" must not contain a user name or password"#,
        ),
        (json!({ "subject_type": "random" }), r#"unknown subject_type "random": use public or pairwise"#),
        (json!({ "sector_identifier": "rp.example" }), "sector_identifier is used only with subject_type pairwise"),
        (
            json!({ "subject_type": "pairwise", "sector_identifier": "https://rp.example/" }),
            r#"sector_identifier "https://rp.example/" must be a host name such as app.example (no scheme, port or path)"#,
        ),
        (
            json!({ "subject_type": "pairwise", "sector_identifier": "rp.example:8443" }),
            r#"sector_identifier "rp.example:8443" must be a host name such as app.example (no scheme, port or path)"#,
        ),
        (
            json!({ "subject_type": "pairwise", "redirect_uris": ["https://a.example/cb", "https://b.example/cb"] }),
            "the redirect URIs of a pairwise app span several hosts (or have none): give a sector_identifier, the host its subjects are computed for",
        ),
        (
            json!({ "subject_type": "pairwise", "grant_types": ["client_credentials"], "redirect_uris": [] }),
            "a pairwise app needs redirect URIs or a sector_identifier",
        ),
        (
            json!({ "id_token_signed_response_alg": "HS256" }),
            r#"id_token_signed_response_alg "HS256" is not supported: use RS256, ES256 or EdDSA"#,
        ),
        (
            json!({ "id_token_signed_response_alg": "none" }),
            r#"id_token_signed_response_alg "none" is not supported: use RS256, ES256 or EdDSA"#,
        ),
    ] {
        let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(extra.clone()))).await;
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{extra}: {b}");
        assert_eq!(b["error"]["message"], message, "{extra}");
    }
    // What a native app may use for redirects it may use after logout too;
    // several hosts are fine with a sector identifier; loopback http for
    // back-channel delivery in development.
    for extra in [
        json!({ "post_logout_redirect_uris": ["com.example.app:/bye"] }),
        json!({ "subject_type": "pairwise", "sector_identifier": "apps.example", "redirect_uris": ["https://a.example/cb", "https://b.example/cb"] }),
        json!({ "backchannel_logout_uri": "http://localhost:9000/bc" }),
        json!({ "backchannel_logout_uri": "http://[::1]:9000/bc?tenant=1" }),
    ] {
        let mut body = oidc_app(extra.clone());
        if extra.get("post_logout_redirect_uris").is_some() {
            for (k, v) in public_native.as_object().unwrap() {
                body[k] = v.clone();
            }
        }
        let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(body)).await;
        assert_eq!(s, 201, "{extra}: {b}");
    }
    // The same rules on a change.
    let (_, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(json!({})))).await;
    let id = b["data"]["client_id"].as_str().unwrap();
    let (s, b) = call(
        &app,
        "PATCH",
        &format!("/v1/apps/{id}"),
        &key,
        Some(json!({ "post_logout_redirect_uris": ["https://rp.example/bye#x"] })),
    )
    .await;
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (400, Some(r#"post_logout_redirect_uri "https://rp.example/bye#x" must not contain a fragment"#))
    );
    let (s, b) = call(
        &app,
        "PATCH",
        &format!("/v1/apps/{id}"),
        &key,
        Some(json!({ "backchannel_logout_uri": "http://rp.example/bc" })),
    )
    .await;
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (400, Some(r#"backchannel_logout_uri "http://rp.example/bc" must use https (http only for loopback)"#))
    );
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(json!({ "subject_type": "Pairwise" }))).await;
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (400, Some(r#"unknown subject_type "Pairwise": use public or pairwise"#))
    );
    // Nothing was changed by the refusals.
    let (_, got) = call(&app, "GET", &format!("/v1/apps/{id}"), &key, None).await;
    assert_eq!(got["data"]["post_logout_redirect_uris"], json!([]));
    assert_eq!(got["data"]["subject_type"], "public");
}

#[test]
fn the_cli_registers_the_oidc_fields_and_refuses_bad_ones() {
    use std::io::Write;
    use std::process::Stdio;

    let dir = crate::cli::Workspace::new();
    let mut user = dir.portcullis();
    user.args(["user", "create", "--email", "ops@example.com", "--org", "Acme"]).stdin(Stdio::piped());
    let mut child = user.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", crate::support::PASSWORD).unwrap();
    assert!(child.wait().unwrap().success());

    let create = |extra: &[&str]| {
        let out = dir
            .portcullis()
            .args(["client", "create", "--org", "Acme", "--name", "RP", "--grant", "authorization_code"])
            .args(["--redirect-uri", "https://rp.example/cb", "--redirect-uri", "https://other.example/cb"])
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (code, printed) = create(&[
        "--post-logout-redirect-uri",
        "https://rp.example/bye",
        "--backchannel-logout-uri",
        "https://rp.example/bc",
        "--subject-type",
        "pairwise",
        "--sector-identifier",
        "rp.example",
        "--id-token-alg",
        "EdDSA",
    ]);
    assert_eq!(code, Some(0), "{printed}");
    let client_id = printed.lines().find_map(|l| l.strip_prefix("client_id:")).unwrap().trim().to_owned();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = portcullis::build_state(dir.config(), std::sync::Arc::new(portcullis::clock::SystemClock)).unwrap();
    let client = rt.block_on(state.oauth.clients.get(&client_id)).unwrap().unwrap();
    assert_eq!(client.post_logout_redirect_uris, ["https://rp.example/bye"]);
    assert_eq!(client.backchannel_logout_uri.as_deref(), Some("https://rp.example/bc"));
    assert_eq!(client.subject_type, portcullis::oauth::clients::SubjectType::Pairwise);
    assert_eq!(client.sector_identifier.as_deref(), Some("rp.example"));
    assert_eq!(client.id_token_alg, portcullis::tokens::signing::SigningAlgorithm::EdDSA);

    let (code, printed) = create(&["--subject-type", "pairwise"]);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("the redirect URIs of a pairwise app span several hosts"), "{printed}");
    let (code, printed) = create(&["--backchannel-logout-uri", "http://rp.example/bc"]);
    assert_eq!(code, Some(1), "{printed}");
    assert!(
        printed.contains(r#"backchannel_logout_uri "http://rp.example/bc" must use https (http only for loopback)"#)
    );
    // Values clap knows are wrong: a usage error.
    assert_eq!(create(&["--id-token-alg", "HS256"]).0, Some(2));
    assert_eq!(create(&["--subject-type", "secret"]).0, Some(2));
}

#[actix_web::test]
async fn oidc_logins_are_recorded_once_per_client_and_go_with_their_session() {
    use portcullis::store::oidc_logins::{clients_of_session, record};

    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let session = app.state.accounts.start_session(user, None).await.unwrap();
    let (sid, now) = (session.session.session_id.clone(), app.clock.now().naive_utc());
    let logins = {
        let sid = sid.clone();
        app.state
            .store
            .run(move |c| {
                record(c, &sid, "pc_b", now)?;
                record(c, &sid, "pc_a", now)?;
                // Idempotent; and a session that does not exist records nothing.
                record(c, &sid, "pc_a", now)?;
                record(c, "no-such-session", "pc_a", now)?;
                Ok((clients_of_session(c, &sid)?, clients_of_session(c, "no-such-session")?))
            })
            .await
            .unwrap()
    };
    assert_eq!(logins, (vec!["pc_a".to_owned(), "pc_b".to_owned()], vec![]));

    app.state.accounts.end_session(&session.token).await.unwrap();
    let left = app.state.store.run(move |c| clients_of_session(c, &sid)).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}
