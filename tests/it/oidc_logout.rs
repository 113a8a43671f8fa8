//! OpenID Connect logout: the registration fields it relies on
//! (post_logout_redirect_uris, backchannel_logout_uri, subject_type,
//! sector_identifier, id_token_signed_response_alg), through /v1/apps and
//! the CLI.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use portcullis::accounts::User;
use portcullis::clock::Clock;
use portcullis::oauth::clients::{Client, SubjectType};
use portcullis::oauth::subject::subject;
use portcullis::tokens::signing::SigningAlgorithm;
use serde_json::{Value, json};

use crate::api_apps::owner_key;
use crate::oauth_support::{REDIRECT, Registered, hidden_fields};
use crate::support::{PASSWORD, TestApp, call, form_token, location, urlencode};

/// A registration body for /v1/apps with the fields of `extra`.
pub(crate) fn oidc_app(extra: Value) -> Value {
    let body = json!({
        "name": "Relying Party", "type": "confidential", "grant_types": ["authorization_code"],
        "redirect_uris": ["https://rp.example/callback"], "scopes": ["read"],
    });
    with_fields(body, extra)
}

/// `body` with the fields of `extra` set (replaced when present).
pub(crate) fn with_fields(mut body: Value, extra: Value) -> Value {
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

    // New redirect URIs that keep one on the sector host: the sector (and
    // so every subject) stays.
    let (s, b) = call(
        &app,
        "PATCH",
        &format!("/v1/apps/{id}"),
        &key,
        Some(json!({ "redirect_uris": ["https://rp.example/cb", "https://b.example/cb"], "id_token_signed_response_alg": "EdDSA" })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["sector_identifier"], "rp.example");
    assert_eq!(b["data"]["id_token_signed_response_alg"], "EdDSA");
    let (s, b) = call(
        &app,
        "PATCH",
        &format!("/v1/apps/{id}"),
        &key,
        Some(json!({ "backchannel_logout_uri": null, "post_logout_redirect_uris": [] })),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["backchannel_logout_uri"], Value::Null);
    assert_eq!(b["data"]["post_logout_redirect_uris"], json!([]));
    // The subject type and sector are fixed (app_registration_limits).
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(json!({ "subject_type": "public" }))).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["message"], "subject_type cannot change after registration: register a new app");
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
            "the redirect URIs of a pairwise app span several hosts (or have none): give a sector_identifier, the one of their hosts its subjects are computed for",
        ),
        (
            json!({ "subject_type": "pairwise", "grant_types": ["client_credentials"], "redirect_uris": [] }),
            "a pairwise app needs redirect URIs: its subjects are computed for their host",
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
    // several hosts are fine with one of them as sector; loopback http for
    // back-channel delivery in development.
    for extra in [
        json!({ "post_logout_redirect_uris": ["com.example.app:/bye"] }),
        json!({ "subject_type": "pairwise", "sector_identifier": "b.example", "redirect_uris": ["https://a.example/cb", "https://b.example/cb"] }),
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
    let dir = crate::cli::Workspace::new();
    dir.create_user("ops@example.com", "Acme");
    let create = |extra: &[&str]| {
        let mut args = vec!["--grant", "authorization_code"];
        args.extend(["--redirect-uri", "https://rp.example/cb", "--redirect-uri", "https://other.example/cb"]);
        dir.client_create(&[&args[..], extra].concat())
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

// ---- RP-Initiated Logout 1.0 ----

pub(crate) const BYE: &str = "https://rp.example/bye";

/// A relying party registered with a post-logout URI (and a back-channel
/// URI when given), and a browser signed in to portcullis.
struct SignedIn {
    reg: Registered,
    user: User,
    browser: reqwest::Client,
    session_id: String,
}

async fn signed_in(app: &TestApp, backchannel: Option<&str>) -> SignedIn {
    let (user, org) = app.user().create().await;
    let mut builder = app.client_in(&org.id, &user.id);
    builder.new_mut().oidc.post_logout_redirect_uris = vec![BYE.into()];
    builder.new_mut().oidc.backchannel_logout_uri = backchannel.map(str::to_owned);
    let reg = builder.create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let sessions = session_ids(app, &user.id).await;
    assert_eq!(sessions.len(), 1);
    SignedIn { reg, user, browser, session_id: sessions[0].clone() }
}

pub(crate) async fn session_ids(app: &TestApp, user_id: &str) -> Vec<String> {
    use diesel::prelude::*;
    use portcullis::store::schema::sessions;
    let user_id = user_id.to_owned();
    app.state
        .store
        .run(move |c| Ok(sessions::table.filter(sessions::user_id.eq(user_id)).select(sessions::id).load(c)?))
        .await
        .unwrap()
}

/// An ID token as /oauth/token would issue it, long expired: a hint is
/// accepted past its `exp`.
pub(crate) fn id_token_hint(app: &TestApp, client_id: &str, sub: &str, sid: Option<&str>) -> String {
    let now = app.clock.now().timestamp();
    let mut claims = json!({ "iss": app.base, "sub": sub, "aud": client_id, "iat": now - 7200, "exp": now - 3600 });
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    app.state.oauth.keys.sign_jwt(SigningAlgorithm::RS256, "JWT", &claims).unwrap()
}

/// The `sid` that `client_id` sees for the browser session `session_id`.
pub(crate) fn app_sid(app: &TestApp, session_id: &str, client_id: &str) -> String {
    app.state.oauth.sid.sid(session_id, client_id)
}

pub(crate) fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    app.url(&format!("/oauth/logout?{query}"))
}

/// The browser is signed out: its cookie opens nothing, and /oauth/authorize
/// sends it to the login page.
async fn assert_signed_out(app: &TestApp, s: &SignedIn) {
    let res = s.browser.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login"), "{}", location(&res));
    assert!(session_ids(app, &s.user.id).await.is_empty());
    let authorize = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&code_challenge={}&code_challenge_method=S256",
        s.reg.client.client_id,
        urlencode(REDIRECT),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    ));
    let res = s.browser.get(authorize).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login?return_to="), "{}", location(&res));
}

pub(crate) fn clears_the_session_cookie(res: &reqwest::Response) -> bool {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().starts_with("portcullis_session=;") && c.to_str().unwrap().contains("Max-Age=0"))
}

#[actix_web::test]
async fn a_hint_for_the_signed_in_user_signs_out_at_once_and_returns_to_the_app_with_its_state() {
    let app = TestApp::spawn().await;
    let s = signed_in(&app, None).await;
    app.dashboard(&s.browser).await;
    let hint = id_token_hint(
        &app,
        &s.reg.client.client_id,
        &s.user.id,
        Some(&app_sid(&app, &s.session_id, &s.reg.client.client_id)),
    );
    let url = logout_url(
        &app,
        &[("id_token_hint", &hint), ("post_logout_redirect_uri", BYE), ("state", "a b&c"), ("ui_locales", "fr-CA en")],
    );
    let res = s.browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "https://rp.example/bye?state=a+b%26c");
    assert!(clears_the_session_cookie(&res));
    assert_signed_out(&app, &s).await;
}

#[actix_web::test]
async fn without_a_hint_the_user_confirms_with_a_csrf_protected_post() {
    let app = TestApp::spawn().await;
    let s = signed_in(&app, None).await;
    let client_id = s.reg.client.client_id.as_str();
    let url = logout_url(&app, &[("client_id", client_id), ("post_logout_redirect_uri", BYE), ("state", "xyz")]);
    let res = s.browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign out of portcullis?"), "{html}");
    assert!(html.contains("<strong>Example App</strong> asks to sign you out."), "{html}");
    app.dashboard(&s.browser).await;

    let form = hidden_fields(&html);
    assert_eq!(
        form.iter().filter(|(k, _)| k != "csrf_token").cloned().collect::<Vec<_>>(),
        [("client_id", client_id), ("post_logout_redirect_uri", BYE), ("state", "xyz")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
    );
    // A forged confirmation (another site's form has no token) ends nothing.
    let mut forged = form.clone();
    forged.iter_mut().filter(|(k, _)| k == "csrf_token").for_each(|(_, v)| *v = "forged".into());
    let res = s.browser.post(app.url("/oauth/logout")).form(&forged).send().await.unwrap();
    assert_eq!(res.status(), 403);
    app.dashboard(&s.browser).await;

    let res = s.browser.post(app.url("/oauth/logout")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "https://rp.example/bye?state=xyz");
    assert!(clears_the_session_cookie(&res));
    assert_signed_out(&app, &s).await;
}

#[actix_web::test]
async fn a_hint_for_another_user_or_another_session_asks_first() {
    let app = TestApp::spawn().await;
    let s = signed_in(&app, None).await;
    let client_id = s.reg.client.client_id.as_str();
    for hint in [
        id_token_hint(&app, client_id, "someone-else", None),
        id_token_hint(&app, client_id, &s.user.id, Some("an-older-session")),
        // The session's own id is no app's sid.
        id_token_hint(&app, client_id, &s.user.id, Some(&s.session_id)),
    ] {
        let res = s.browser.get(logout_url(&app, &[("id_token_hint", &hint)])).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains("Sign out of portcullis?"));
        app.dashboard(&s.browser).await;
    }
    // No sid in the hint: the user alone decides.
    let hint = id_token_hint(&app, client_id, &s.user.id, None);
    let res = s.browser.get(logout_url(&app, &[("id_token_hint", &hint)])).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>You are signed out</h1>"), "{html}");
    assert_signed_out(&app, &s).await;
}

#[actix_web::test]
async fn only_a_registered_post_logout_uri_of_that_app_is_followed_and_errors_are_pages() {
    let app = TestApp::spawn().await;
    let s = signed_in(&app, None).await;
    let client_id = s.reg.client.client_id.clone();
    let mut other = app.oauth_client().await;
    other.new_mut().oidc.post_logout_redirect_uris = vec!["https://other.example/bye".into()];
    let other = other.create().await;
    let hint = id_token_hint(&app, &client_id, &s.user.id, Some(&app_sid(&app, &s.session_id, &client_id)));
    let not_registered = "The post_logout_redirect_uri is not registered for this app.";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("client_id", &client_id), ("post_logout_redirect_uri", "https://rp.example/by")], not_registered),
        (vec![("client_id", &client_id), ("post_logout_redirect_uri", "https://rp.example/bye/")], not_registered),
        (vec![("client_id", &client_id), ("post_logout_redirect_uri", "https://rp.example/bye?x=1")], not_registered),
        (vec![("client_id", &client_id), ("post_logout_redirect_uri", "https://RP.example/bye")], not_registered),
        (vec![("client_id", &client_id), ("post_logout_redirect_uri", "https://other.example/bye")], not_registered),
        (vec![("id_token_hint", &hint), ("post_logout_redirect_uri", "https://evil.example/")], not_registered),
        (vec![("post_logout_redirect_uri", BYE)], "A post_logout_redirect_uri needs an id_token_hint or a client_id."),
        (vec![("client_id", "pc_nobody"), ("post_logout_redirect_uri", BYE)], "The app that asks is not registered."),
        (
            vec![("id_token_hint", &hint), ("client_id", &other.client.client_id), ("post_logout_redirect_uri", BYE)],
            "The client_id does not match the audience of the id_token_hint.",
        ),
        (vec![("id_token_hint", "not.a.jwt")], "The id_token_hint is not an ID token issued by this server."),
    ];
    for (params, message) in cases {
        let res = s.browser.get(logout_url(&app, &params)).send().await.unwrap();
        assert_eq!(res.status(), 400, "{params:?}");
        assert_eq!(location(&res), "", "{params:?}: never a redirect");
        assert!(!clears_the_session_cookie(&res));
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!("<p class=\"error\" role=\"alert\">{message}</p>")), "{params:?}: {html}");
    }
    // A repeated parameter is refused too.
    let url = format!("{}&client_id=x", logout_url(&app, &[("client_id", &client_id)]));
    assert_eq!(s.browser.get(url).send().await.unwrap().status(), 400);
    app.dashboard(&s.browser).await;
}

#[actix_web::test]
async fn hints_that_are_not_our_id_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let s = signed_in(&app, None).await;
    let keys = &app.state.oauth.keys;
    let now = app.clock.now().timestamp();
    let claims =
        |iss: &str, aud: Value| json!({ "iss": iss, "sub": s.user.id, "aud": aud, "iat": now, "exp": now + 60 });
    let client_id = json!(s.reg.client.client_id);
    let refused = [
        // An access token is no ID token.
        keys.sign_jwt(SigningAlgorithm::RS256, "at+jwt", &claims(&app.base, client_id.clone())).unwrap(),
        keys.sign_jwt(SigningAlgorithm::ES256, "logout+jwt", &claims(&app.base, client_id.clone())).unwrap(),
        keys.sign_jwt(SigningAlgorithm::RS256, "JWT", &claims("https://other-issuer.example", client_id.clone()))
            .unwrap(),
        // Several audiences and no azp: whose is it?
        keys.sign_jwt(SigningAlgorithm::RS256, "JWT", &claims(&app.base, json!([client_id, "pc_other"]))).unwrap(),
    ];
    // One signature character changed (well inside: the last one may carry
    // only padding bits).
    let mut tampered = id_token_hint(&app, &s.reg.client.client_id, &s.user.id, None);
    let at = tampered.len() - 10;
    let swapped = if &tampered[at..=at] == "A" { "B" } else { "A" };
    tampered.replace_range(at..=at, swapped);
    for hint in refused.iter().chain([&tampered]) {
        let res = s.browser.get(logout_url(&app, &[("id_token_hint", hint)])).send().await.unwrap();
        assert_eq!(res.status(), 400);
        let html = res.text().await.unwrap();
        assert!(html.contains("The id_token_hint is not an ID token issued by this server."), "{html}");
    }
    app.dashboard(&s.browser).await;
    // Other signing algorithms' ID tokens are fine.
    let hint = keys.sign_jwt(SigningAlgorithm::EdDSA, "JWT", &claims(&app.base, client_id)).unwrap();
    let res = s.browser.get(logout_url(&app, &[("id_token_hint", &hint)])).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_signed_out(&app, &s).await;
}

#[actix_web::test]
async fn without_a_session_the_browser_goes_back_or_is_told_it_is_signed_out() {
    let app = TestApp::spawn().await;
    let s = signed_in(&app, None).await;
    let stranger = app.new_browser();
    let url =
        logout_url(&app, &[("client_id", &s.reg.client.client_id), ("post_logout_redirect_uri", BYE), ("state", "s")]);
    let res = stranger.get(url).send().await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, format!("{BYE}?state=s")));
    let res = stranger.get(app.url("/oauth/logout")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("<h1>You are signed out</h1>"));
    // Someone else's visit ended nothing.
    app.dashboard(&s.browser).await;
}

#[actix_web::test]
async fn a_relying_partys_form_post_becomes_the_same_request_as_a_get() {
    let app = TestApp::spawn().await;
    let s = signed_in(&app, None).await;
    let hint = id_token_hint(
        &app,
        &s.reg.client.client_id,
        &s.user.id,
        Some(&app_sid(&app, &s.session_id, &s.reg.client.client_id)),
    );
    let form = [("id_token_hint", hint.as_str()), ("post_logout_redirect_uri", BYE), ("state", "st")];
    // Cross-site, the SameSite=Lax cookie stays home: a GET navigation brings it.
    let res = app.new_browser().post(app.url("/oauth/logout")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(app.url(&location(&res)), logout_url(&app, &form));
    // With the cookie, the post itself signs out.
    let res = s.browser.post(app.url("/oauth/logout")).form(&form).send().await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, format!("{BYE}?state=st")));
    assert_signed_out(&app, &s).await;
}

// ---- Back-Channel Logout 1.0 ----

/// A relying party's back-channel endpoint on 127.0.0.1: keeps what each
/// request sent, and answers the given statuses in turn, then 200.
pub(crate) struct Listener {
    pub(crate) url: String,
    pub(crate) received: Arc<Mutex<Vec<Received>>>,
    server: actix_web::dev::ServerHandle,
}

#[derive(Debug, Clone)]
pub(crate) struct Received {
    method: String,
    path: String,
    content_type: String,
    form: Vec<(String, String)>,
}

impl Listener {
    pub(crate) async fn start(statuses: &[u16]) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses.iter().copied().collect::<VecDeque<u16>>()));
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/backchannel?tenant=1", tcp.local_addr().unwrap());
        let (r, st) = (received.clone(), statuses.clone());
        let server = actix_web::HttpServer::new(move || {
            let (r, st) = (r.clone(), st.clone());
            actix_web::App::new().default_service(actix_web::web::to(move |req: HttpRequest, body: Bytes| {
                let (r, st) = (r.clone(), st.clone());
                async move {
                    let content_type = req.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
                    r.lock().unwrap().push(Received {
                        method: req.method().to_string(),
                        path: req.uri().to_string(),
                        content_type: content_type.unwrap_or_default(),
                        form: url::form_urlencoded::parse(&body).into_owned().collect(),
                    });
                    let status = st.lock().unwrap().pop_front().unwrap_or(200);
                    HttpResponse::build(StatusCode::from_u16(status).unwrap()).finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(tcp)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { url, received, server: handle }
    }

    /// What arrived once `count` requests did (10 s at most).
    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.received.lock().unwrap().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.received.lock().unwrap().clone()
    }

    pub(crate) async fn stop(self) {
        self.server.stop(false).await;
    }
}

/// Records, as oidc-core's code grant does when it issues an ID token, that
/// this browser session signed in to `client_id`.
async fn signed_in_to(app: &TestApp, session_id: &str, client_id: &str) {
    let (sid, cid, now) = (session_id.to_owned(), client_id.to_owned(), app.clock.now().naive_utc());
    app.state.store.run(move |c| portcullis::store::oidc_logins::record(c, &sid, &cid, now)).await.unwrap();
}

/// A logout token, verified against the JWKS like a relying party would
/// (Back-Channel Logout §2.6), and its claims.
pub(crate) async fn verified_logout_token(app: &TestApp, token: &str, client: &Client) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"), "§2.4");
    assert_eq!(
        format!("{:?}", header.alg),
        client.id_token_alg.as_str(),
        "signed with the client's ID-token algorithm"
    );
    let jwks: jsonwebtoken::jwk::JwkSet =
        reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().expect("kid")).expect("kid is published");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[&client.client_id]);
    validation.set_issuer(&[app.base.as_str()]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    // Dated by the test clock.
    validation.validate_exp = false;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a valid signature").claims;
    let now = app.clock.now().timestamp();
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 120, "a short life");
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert_eq!(claims["events"], json!({ "http://schemas.openid.net/event/backchannel-logout": {} }));
    assert!(claims.get("nonce").is_none(), "§2.4: a logout token has no nonce");
    claims
}

/// Signs out on the /logout page.
async fn sign_out_by_page(app: &TestApp, s: &SignedIn) -> Duration {
    let token = form_token(&s.browser, &app.url("/logout")).await;
    let started = std::time::Instant::now();
    let res = s.browser.post(app.url("/logout")).form(&[("csrf_token", token)]).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(res.status(), 303);
    took
}

pub(crate) fn the_token(received: &Received) -> &str {
    assert_eq!((received.method.as_str(), received.path.as_str()), ("POST", "/backchannel?tenant=1"));
    assert_eq!(received.content_type, "application/x-www-form-urlencoded");
    assert_eq!(received.form.len(), 1, "{:?}", received.form);
    let (name, token) = &received.form[0];
    assert_eq!(name, "logout_token");
    token
}

#[actix_web::test]
async fn signing_out_posts_a_signed_logout_token_to_each_app_the_session_signed_in_to() {
    let app = TestApp::spawn().await;
    let listener = Listener::start(&[]).await;
    let other_listener = Listener::start(&[]).await;
    let s = signed_in(&app, Some(&listener.url)).await;
    // A pairwise app with an EdDSA ID-token algorithm in the same session.
    let mut pairwise = app.oauth_client().await;
    let oidc = &mut pairwise.new_mut().oidc;
    oidc.backchannel_logout_uri = Some(other_listener.url.clone());
    oidc.subject_type = SubjectType::Pairwise;
    oidc.id_token_alg = SigningAlgorithm::EdDSA;
    let pairwise = pairwise.create().await;
    // An app without a back-channel URI, and one the session never signed in to.
    let quiet = app.oauth_client().await.create().await;
    let mut unused = app.oauth_client().await;
    unused.new_mut().oidc.backchannel_logout_uri = Some(other_listener.url.clone());
    unused.create().await;
    for client_id in [&s.reg.client.client_id, &pairwise.client.client_id, &quiet.client.client_id] {
        signed_in_to(&app, &s.session_id, client_id).await;
    }

    // The /logout page: the same session end as RP-initiated logout.
    sign_out_by_page(&app, &s).await;

    let received = listener.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let claims = verified_logout_token(&app, the_token(&received[0]), &s.reg.client).await;
    assert_eq!(claims["sub"], s.user.id.as_str(), "a public app's sub is the user id");
    assert_eq!(claims["sid"], app_sid(&app, &s.session_id, &s.reg.client.client_id).as_str());
    assert_eq!(claims["aud"], s.reg.client.client_id.as_str());

    let received = other_listener.wait_for(1).await;
    assert_eq!(received.len(), 1, "only the app the session signed in to hears of it");
    let claims = verified_logout_token(&app, the_token(&received[0]), &pairwise.client).await;
    let expected = subject(&pairwise.client, &s.user.id, &app.state.oauth.pairwise);
    assert_eq!(claims["sub"], expected.as_str(), "the pairwise sub the app knows");
    assert_ne!(claims["sub"], s.user.id.as_str());
    assert_eq!(claims["sid"], app_sid(&app, &s.session_id, &pairwise.client.client_id).as_str(), "its own sid");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(other_listener.received.lock().unwrap().len(), 1, "nothing more");
    listener.stop().await;
    other_listener.stop().await;
}

#[actix_web::test]
async fn a_failed_delivery_is_tried_again_and_failures_are_logged_without_the_token() {
    let logs = crate::support::captured_logs();
    let app = TestApp::spawn().await;
    let listener = Listener::start(&[500]).await;
    let s = signed_in(&app, Some(&listener.url)).await;
    signed_in_to(&app, &s.session_id, &s.reg.client.client_id).await;
    let hint = id_token_hint(
        &app,
        &s.reg.client.client_id,
        &s.user.id,
        Some(&app_sid(&app, &s.session_id, &s.reg.client.client_id)),
    );
    let res = s.browser.get(logout_url(&app, &[("id_token_hint", &hint)])).send().await.unwrap();
    assert_eq!(res.status(), 200);

    let received = listener.wait_for(2).await;
    assert_eq!(received.len(), 2, "one failure, one success");
    let (first, second) = (the_token(&received[0]), the_token(&received[1]));
    assert_eq!(first, second, "the same event: the same token");
    let claims = verified_logout_token(&app, second, &s.reg.client).await;
    assert_eq!(claims["sid"], app_sid(&app, &s.session_id, &s.reg.client.client_id).as_str());
    let text = logs.text();
    let client_id = &s.reg.client.client_id;
    assert!(
        text.lines().any(|l| l.contains("back-channel logout refused")
            && l.contains(client_id.as_str())
            && l.contains("status=500")),
        "{text}"
    );
    assert!(text.lines().any(|l| l.contains("back-channel logout delivered") && l.contains(client_id.as_str())));
    assert!(!text.contains(first), "the token never reaches the log");
    listener.stop().await;
}

#[actix_web::test]
async fn delivery_gives_up_after_three_attempts() {
    let app = TestApp::spawn().await;
    let listener = Listener::start(&[503, 500, 302, 200]).await;
    let s = signed_in(&app, Some(&listener.url)).await;
    signed_in_to(&app, &s.session_id, &s.reg.client.client_id).await;
    sign_out_by_page(&app, &s).await;
    let received = listener.wait_for(3).await;
    // A fourth attempt would come 2 s after the third.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(listener.received.lock().unwrap().len(), 3, "{received:?}: three attempts; a redirect is not followed");
    listener.stop().await;
}

#[actix_web::test]
async fn an_app_that_does_not_answer_does_not_delay_the_sign_out() {
    let app = TestApp::spawn().await;
    // One accepts connections and never answers; one is not there at all.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let s = signed_in(&app, Some(&format!("http://{}/bc", silent.local_addr().unwrap()))).await;
    let mut gone = app.oauth_client().await;
    gone.new_mut().oidc.backchannel_logout_uri = Some(format!("http://{closed}/bc"));
    let gone = gone.create().await;
    signed_in_to(&app, &s.session_id, &s.reg.client.client_id).await;
    signed_in_to(&app, &s.session_id, &gone.client.client_id).await;
    let took = sign_out_by_page(&app, &s).await;
    assert!(took < Duration::from_millis(1000), "the sign-out took {took:?}");
    assert_signed_out(&app, &s).await;
    drop(silent);
}

#[actix_web::test]
async fn a_password_change_tells_the_apps_of_the_sessions_it_ends() {
    let app = TestApp::spawn().await;
    let listener = Listener::start(&[]).await;
    let s = signed_in(&app, Some(&listener.url)).await;
    signed_in_to(&app, &s.session_id, &s.reg.client.client_id).await;
    // The same user in a second browser changes the password.
    let second = app.new_browser();
    assert_eq!(app.login(&second, &s.user.email, PASSWORD).await.status(), 303);
    let kept: Vec<String> = session_ids(&app, &s.user.id).await.into_iter().filter(|id| *id != s.session_id).collect();
    signed_in_to(&app, &kept[0], &s.reg.client.client_id).await;
    let token = form_token(&second, &app.url("/account/password")).await;
    let form = [
        ("csrf_token", token.as_str()),
        ("current_password", PASSWORD),
        ("new_password", "a new passphrase, long enough"),
    ];
    let res = second.post(app.url("/account/password")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);

    let received = listener.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let claims = verified_logout_token(&app, the_token(&received[0]), &s.reg.client).await;
    assert_eq!(
        claims["sid"],
        app_sid(&app, &s.session_id, &s.reg.client.client_id).as_str(),
        "the ended session; not the one kept"
    );
    assert_eq!(session_ids(&app, &s.user.id).await, kept);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(listener.received.lock().unwrap().len(), 1);
    listener.stop().await;
}

#[actix_web::test]
async fn signing_in_over_an_old_session_tells_its_apps() {
    let app = TestApp::spawn().await;
    let listener = Listener::start(&[]).await;
    let s = signed_in(&app, Some(&listener.url)).await;
    signed_in_to(&app, &s.session_id, &s.reg.client.client_id).await;
    // Signing in again in the same browser (the signed-in form token is the
    // session's) replaces the session: the old one ends.
    let token = form_token(&s.browser, &app.url("/logout")).await;
    let form = [("csrf_token", token.as_str()), ("email", s.user.email.as_str()), ("password", PASSWORD)];
    let res = s.browser.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let received = listener.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let claims = verified_logout_token(&app, the_token(&received[0]), &s.reg.client).await;
    assert_eq!(claims["sid"], app_sid(&app, &s.session_id, &s.reg.client.client_id).as_str());
    let now = session_ids(&app, &s.user.id).await;
    assert!(now.len() == 1 && now[0] != s.session_id, "{now:?}");
    listener.stop().await;
}

#[actix_web::test]
async fn an_https_server_posts_nothing_to_http_back_channel_uris() {
    use portcullis::oauth::backchannel::{BackChannel, DeliveryPolicy};

    let app = TestApp::spawn().await;
    let listener = Listener::start(&[]).await;
    let s = signed_in(&app, Some(&listener.url)).await;
    let oauth = &app.state.oauth;
    let sender = |issuer: &str| {
        let (store, clock, keys, pairwise, sid) =
            (app.state.store.clone(), app.clock.clone(), oauth.keys.clone(), oauth.pairwise.clone(), oauth.sid.clone());
        BackChannel::new(store, clock, keys, pairwise, sid, issuer.to_owned(), DeliveryPolicy::default()).unwrap()
    };
    let client_id = &s.reg.client.client_id;
    assert!(!sender("https://auth.example").deliver(client_id, &s.user.id, &s.session_id).await);
    assert!(listener.received.lock().unwrap().is_empty());
    // The development server does.
    assert!(sender(&app.base).deliver(client_id, &s.user.id, &s.session_id).await);
    assert_eq!(listener.wait_for(1).await.len(), 1);
    listener.stop().await;
}

// ---- End to end, with the openidconnect crate as the relying party ----

#[actix_web::test]
async fn an_app_signs_in_with_openid_connect_then_out_and_hears_of_it_on_its_back_channel() {
    use openidconnect::TokenResponse;

    use crate::oidc_support::{OIDC_SCOPES, auth_request, payload, relying_party, sign_in_with, verified_claims};

    let app = TestApp::spawn().await;
    let listener = Listener::start(&[]).await;
    let (user, org) = app.user().create().await;
    let mut builder = app.client_in(&org.id, &user.id).scopes(&OIDC_SCOPES);
    let oidc = &mut builder.new_mut().oidc;
    oidc.post_logout_redirect_uris = vec![BYE.into()];
    oidc.backchannel_logout_uri = Some(listener.url.clone());
    oidc.subject_type = SubjectType::Pairwise;
    oidc.id_token_alg = SigningAlgorithm::ES256;
    let reg = builder.create().await;
    let rp = relying_party(&app, &reg).await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);

    // The discovery document names the end_session_endpoint.
    let discovery: Value =
        reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    let end_session = discovery["end_session_endpoint"].as_str().unwrap().to_owned();
    assert_eq!(end_session, app.url("/oauth/logout"));

    let (nonce, tokens) = sign_in_with(&app, &browser, &rp, &[], &[]).await;
    let claims = verified_claims(&app, &rp, &tokens, Some(&nonce));
    let id_token = tokens.id_token().unwrap().to_string();
    let (sub, sid) = (claims.subject().to_string(), payload(&id_token)["sid"].as_str().unwrap().to_owned());
    assert_ne!(sub, user.id, "pairwise");

    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("id_token_hint", id_token.as_str()), ("post_logout_redirect_uri", BYE), ("state", "st8")])
        .finish();
    let res = browser.get(format!("{end_session}?{query}")).send().await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, format!("{BYE}?state=st8")));

    let received = listener.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let logout = verified_logout_token(&app, the_token(&received[0]), &reg.client).await;
    assert_eq!((logout["sub"].as_str(), logout["sid"].as_str()), (Some(sub.as_str()), Some(sid.as_str())));

    // Signed out for real: prompt=none now answers login_required.
    let req = auth_request(&rp, &[], &[("prompt", "none")]);
    let res = browser.get(req.url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(&location(&res)).unwrap();
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert_eq!(crate::oauth_support::query(&back, "error").as_deref(), Some("login_required"));
    listener.stop().await;
}
