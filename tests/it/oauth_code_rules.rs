//! The code flow's protocol rules, each a test that reads as the rule:
//! how long a code lives, who may replay one, PKCE for every client unless
//! a legacy confidential one is exempted, and when consent is asked again.

use std::process::Stdio;

use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use portcullis::oauth::clients::{ClientChanges, ClientError, GrantType, NewClient};
use portcullis::problem::Problem;
use serde_json::{Value, json};

use crate::oauth_code::{code_for, signed_in};
use crate::oauth_support::{REDIRECT, Registered, post_form, query, redeem};
use crate::refresh_race::refresh;
use crate::support::{PASSWORD, TestApp, call, location, urlencode};

const S256: &str = "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";

/// POSTs to /oauth/token as a public client (client_id in the body).
async fn public_token(app: &TestApp, client_id: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let mut form = form.to_vec();
    form.push(("client_id", client_id));
    let res = reqwest::Client::new().post(app.url("/oauth/token")).form(&form).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    (res.status().as_u16(), res.json().await.unwrap())
}

pub(crate) fn invalid_grant(description: &str) -> Value {
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
async fn public_clients_see_the_consent_page_every_time_on_any_loopback_port() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.public().redirect_uris(&["http://127.0.0.1/callback"]).create().await;
    let browser = signed_in(&app).await;
    let request = |port: u16, extra: &str| {
        app.url(&format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&state=st&{S256}{extra}",
            reg.client.client_id,
            urlencode(&format!("http://127.0.0.1:{port}/callback")),
        ))
    };
    let back = app.authorize(&browser, &request(49152, ""), "approve").await;
    assert!(query(&back, "code").is_some());

    // Consent is remembered, but any app on this machine can listen on a
    // loopback port and claim this client_id: the page is shown again
    // (RFC 8252 §8.6), saying why.
    let res = browser.get(request(50000, "")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the consent page, not a code: {}", location(&res));
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="asked-again""#), "{html}");
    let res = browser.get(request(49152, "")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the same port is no proof either");

    // prompt=none cannot show it: consent_required, with state and iss.
    let res = browser.get(request(50000, "&prompt=none")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(&location(&res)).unwrap();
    assert!(back.as_str().starts_with("http://127.0.0.1:50000/callback?"), "{back}");
    assert_eq!(query(&back, "error").as_deref(), Some("consent_required"));
    assert_eq!(query(&back, "state").as_deref(), Some("st"));
    assert_eq!(query(&back, "iss").as_deref(), Some(app.base.as_str()));
    assert_eq!(query(&back, "code"), None);

    // A confidential client keeps its remembered consent.
    let confidential = app.oauth_client().await.create().await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = app
        .oauth2_client(&confidential)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    app.authorize(&browser, url.as_str(), "approve").await;
    let res = browser.get(format!("{url}&prompt=none")).send().await.unwrap();
    assert!(query(&url::Url::parse(&location(&res)).unwrap(), "code").is_some());
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

#[test]
fn code_lifetimes_over_60_seconds_are_refused_at_start() {
    let dir = crate::cli::Workspace::new();
    for ttl in ["600", "61", "0"] {
        let out =
            dir.portcullis().env("PORTCULLIS_OAUTH__AUTHORIZATION_CODE_TTL_SECS", ttl).arg("migrate").output().unwrap();
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
    let out =
        dir.portcullis().env("PORTCULLIS_OAUTH__AUTHORIZATION_CODE_TTL_SECS", "60").arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[actix_web::test]
async fn confidential_clients_must_send_a_code_challenge_by_default() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    assert!(reg.client.require_pkce);
    let browser = signed_in(&app).await;
    let base = format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&state=st",
        reg.client.client_id,
        urlencode(REDIRECT)
    );
    // RFC 7636 §4.4.1: invalid_request, sent back to the client.
    let res = browser.get(app.url(&base)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(back.as_str().split('?').next(), Some(REDIRECT));
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(
        query(&back, "error_description").as_deref(),
        Some("code_challenge required: this client must use PKCE (S256)")
    );
    assert_eq!(query(&back, "state").as_deref(), Some("st"));
    assert_eq!(query(&back, "iss").as_deref(), Some(app.base.as_str()));
    // With a challenge: the consent page.
    assert_eq!(browser.get(app.url(&format!("{base}&{S256}"))).send().await.unwrap().status(), 200);
}

#[actix_web::test]
async fn a_legacy_confidential_client_may_skip_pkce_until_its_exemption_ends() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.pkce_optional().create().await;
    assert!(!reg.client.require_pkce);
    let browser = signed_in(&app).await;
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&state=st",
        reg.client.client_id,
        urlencode(REDIRECT)
    ));
    let (app_ref, reg_ref, browser_ref, url_ref) = (&app, &reg, &browser, &url);
    let code = move || async move {
        query(&app_ref.authorize(browser_ref, url_ref, "approve").await, "code").expect("a code")
    };
    let exchange = move |code: String, verifier: Option<&'static str>| {
        let (app, reg) = (app_ref, reg_ref);
        async move {
            let mut form =
                vec![("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
            if let Some(v) = verifier {
                form.push(("code_verifier", v));
            }
            let (status, _, body) = post_form(app, "/oauth/token", reg, &form).await;
            (status, body)
        }
    };

    let (status, body) = exchange(code().await, None).await;
    assert_eq!(status, 200, "{body}");
    // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    assert_eq!(
        exchange(code().await, Some(verifier)).await,
        (400, invalid_grant("code_verifier sent, but the authorization request had no code_challenge."))
    );

    // A code issued while exempt does not outlive the exemption.
    let pending = code().await;
    let changes = ClientChanges { require_pkce: Some(true), ..ClientChanges::default() };
    let updated = app.state.oauth.clients.update(&reg.client.client_id, changes).await.unwrap();
    assert!(updated.require_pkce);
    assert_eq!(
        exchange(pending, None).await,
        (400, invalid_grant("The authorization request had no code_challenge; this client must use PKCE."))
    );
    let res = browser.get(&url).send().await.unwrap();
    assert_eq!(query(&url::Url::parse(&location(&res)).unwrap(), "error").as_deref(), Some("invalid_request"));
}

#[actix_web::test]
async fn public_clients_cannot_be_exempted_from_pkce() {
    let app = TestApp::spawn().await;
    let new = app
        .oauth_client()
        .await
        .public()
        .redirect_uris(&["http://127.0.0.1/callback"])
        .grants(&[GrantType::AuthorizationCode])
        .scopes(&["read"])
        .pkce_optional()
        .into_new();
    let message = "a public client must use PKCE: require_pkce cannot be false";
    let err = app.state.oauth.clients.create(new.clone()).await.unwrap_err();
    assert!(matches!(&err, ClientError::Validation(Problem::Other(m)) if m == message), "{err:?}");
    let (public, _) = app.state.oauth.clients.create(NewClient { require_pkce: true, ..new }).await.unwrap();
    let changes = ClientChanges { require_pkce: Some(false), ..ClientChanges::default() };
    let err = app.state.oauth.clients.update(&public.client_id, changes).await.unwrap_err();
    assert!(matches!(&err, ClientError::Validation(Problem::Other(m)) if m == message), "{err:?}");
}

#[actix_web::test]
async fn the_v1_api_sets_and_shows_require_pkce_and_refuses_it_off_for_public_apps() {
    let app = TestApp::spawn().await;
    let (_, key) = crate::api_apps::owner_key(&app).await;
    let app_body = |kind: &str, pkce: Option<bool>| {
        let mut b = json!({
            "name": "Legacy", "type": kind, "grant_types": ["authorization_code"],
            "redirect_uris": [REDIRECT], "scopes": ["read"]
        });
        if let Some(p) = pkce {
            b["require_pkce"] = json!(p);
        }
        b
    };
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(app_body("confidential", None))).await;
    assert_eq!((s, &b["data"]["require_pkce"]), (201, &json!(true)), "{b}");
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(app_body("confidential", Some(false)))).await;
    assert_eq!((s, &b["data"]["require_pkce"]), (201, &json!(false)), "{b}");
    let legacy = b["data"]["id"].as_str().unwrap().to_owned();

    let refused = |b: &Value| {
        assert_eq!(b["success"], false, "{b}");
        assert_eq!(b["error"]["code"], "VALIDATION_ERROR", "{b}");
        assert_eq!(b["error"]["message"], "a public client must use PKCE: require_pkce cannot be false", "{b}");
    };
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(app_body("public", Some(false)))).await;
    assert_eq!(s, 400);
    refused(&b);
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(app_body("public", None))).await;
    assert_eq!((s, &b["data"]["require_pkce"]), (201, &json!(true)), "{b}");
    let public = b["data"]["id"].as_str().unwrap().to_owned();
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{public}"), &key, Some(json!({"require_pkce": false}))).await;
    assert_eq!(s, 400);
    refused(&b);

    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{legacy}"), &key, Some(json!({"require_pkce": true}))).await;
    assert_eq!((s, &b["data"]["require_pkce"]), (200, &json!(true)), "{b}");
    let (s, b) = call(&app, "GET", &format!("/v1/apps/{legacy}"), &key, None).await;
    assert_eq!((s, &b["data"]["require_pkce"]), (200, &json!(true)), "{b}");
}

#[test]
fn the_cli_exempts_only_confidential_clients_from_pkce() {
    let dir = crate::cli::Workspace::new();
    let mut user = dir
        .portcullis()
        .args(["user", "create", "--email", "ops@example.com", "--org", "Acme"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut user.stdin.take().unwrap(), format!("{PASSWORD}\n").as_bytes()).unwrap();
    assert!(user.wait().unwrap().success());
    let create = |kind: &str, pkce: Option<&str>| {
        let mut cmd = dir.portcullis();
        cmd.args(["client", "create", "--org", "Acme", "--name", "Legacy", "--type", kind]);
        cmd.args(["--grant", "authorization_code", "--redirect-uri", "http://127.0.0.1/cb"]);
        if let Some(p) = pkce {
            cmd.args(["--pkce", p]);
        }
        let out = cmd.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let (ok, text) = create("public", Some("optional"));
    assert!(!ok && text.contains("error: a public client must use PKCE"), "{text}");
    let (ok, text) = create("confidential", Some("maybe"));
    assert!(!ok && text.contains("maybe"), "{text}");

    let client_id = |text: &str| text.lines().find_map(|l| l.strip_prefix("client_id:")).unwrap().trim().to_owned();
    let (ok, text) = create("confidential", Some("optional"));
    assert!(ok, "{text}");
    let legacy = client_id(&text);
    let (ok, text) = create("confidential", None);
    assert!(ok, "{text}");
    let default = client_id(&text);

    let config = dir.config();
    let store = portcullis::open_store(&config).unwrap();
    let registry = std::sync::Arc::new(portcullis::oauth::scopes::ScopeRegistry::new(&[]).unwrap());
    let clients =
        portcullis::oauth::clients::Clients::new(store, std::sync::Arc::new(portcullis::clock::SystemClock), registry);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let require_pkce = |id: &str| rt.block_on(clients.get(id)).unwrap().unwrap().require_pkce;
    assert!(!require_pkce(&legacy));
    assert!(require_pkce(&default));
}

#[actix_web::test]
async fn metadata_offers_s256_and_plain_only_when_configured() {
    for (allow_plain, methods) in [(false, json!(["S256"])), (true, json!(["S256", "plain"]))] {
        let app = TestApp::spawn_with(|c| c.oauth.allow_plain_pkce = allow_plain).await;
        let meta: Value =
            reqwest::get(app.url("/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
        assert_eq!(meta["code_challenge_methods_supported"], methods);
    }
}

#[actix_web::test]
async fn a_code_replayed_after_a_refresh_revokes_the_refreshed_tokens_too() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (code, verifier) = code_for(&app, &reg, "read offline_access").await;
    let (status, first) = redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT)).await;
    assert_eq!(status, 200, "{first}");
    let (status, refreshed) = refresh(&app, &reg, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    let (next, access) = (refreshed["refresh_token"].as_str().unwrap(), refreshed["access_token"].as_str().unwrap());
    assert!(is_active(&app, &reg, access).await);

    assert_eq!(
        redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT)).await,
        (400, invalid_grant("The authorization code was already used; the tokens it issued are revoked."))
    );
    assert!(!is_active(&app, &reg, access).await, "the refreshed access token is revoked with its family");
    assert!(!is_active(&app, &reg, next).await, "the refreshed refresh token is revoked with its family");
    assert_eq!(refresh(&app, &reg, next).await, (400, invalid_grant("The refresh token was revoked.")));
}

#[actix_web::test]
async fn two_concurrent_exchanges_of_one_code_give_no_5xx_and_at_most_one_usable_token() {
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let reg = app.oauth_client().await.create().await;
    for _ in 0..3 {
        let (code, verifier) = code_for(&app, &reg, "read offline_access").await;
        let one = redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT));
        let two = redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT));
        let (a, b) = futures_util::join!(one, two);
        let (winners, losers): (Vec<_>, Vec<_>) = [a, b].into_iter().partition(|(s, _)| *s == 200);
        assert_eq!(winners.len(), 1, "one exchange wins: {losers:?}");
        assert_eq!(
            losers[0],
            (400, invalid_grant("The authorization code was already used; the tokens it issued are revoked."))
        );
        // The loser was a replay by the same client: what the winner got is revoked.
        let won = &winners[0].1;
        let mut usable = 0;
        for token in [&won["access_token"], &won["refresh_token"]] {
            usable += usize::from(is_active(&app, &reg, token.as_str().unwrap()).await);
        }
        assert_eq!(usable, 0, "{won}");
    }
}

#[actix_web::test]
async fn a_redirect_uri_sent_to_authorize_must_be_sent_to_the_token_endpoint() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (code, verifier) = code_for(&app, &reg, "read").await;
    // RFC 6749 §4.1.3: required when it was in the authorization request.
    assert_eq!(
        redeem(&app, &reg, &code, verifier.secret(), None).await,
        (400, invalid_grant("redirect_uri does not match the authorization request."))
    );
    let (status, body) = redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT)).await;
    assert_eq!(status, 200, "the refused attempt did not use the code: {body}");
}

#[actix_web::test]
async fn plain_pkce_works_when_configured_and_still_checks_the_verifier() {
    let app = TestApp::spawn_with(|c| c.oauth.allow_plain_pkce = true).await;
    let reg = app.oauth_client().await.create().await;
    let browser = signed_in(&app).await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let url = app.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&state=st\
         &code_challenge={verifier}&code_challenge_method=plain",
        reg.client.client_id,
        urlencode(REDIRECT)
    ));
    let code = query(&app.authorize(&browser, &url, "approve").await, "code").expect("a code");
    assert_eq!(
        redeem(&app, &reg, &code, &"x".repeat(43), Some(REDIRECT)).await,
        (400, invalid_grant("code_verifier does not match the code_challenge."))
    );
    let code = query(&app.authorize(&browser, &url, "approve").await, "code").expect("a code");
    let (status, body) = redeem(&app, &reg, &code, verifier, Some(REDIRECT)).await;
    assert_eq!(status, 200, "{body}");
}
