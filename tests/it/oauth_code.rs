//! The authorization-code flow through the oauth2 crate, and every way it
//! must fail.

use oauth2::basic::BasicErrorResponseType;
use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, Scope, TokenResponse,
};
use serde_json::json;

use crate::oauth_support::{REDIRECT, hidden_fields, post_form, query};
use crate::support::{PASSWORD, TestApp, location};

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs a new user in a new browser.
pub async fn signed_in(app: &TestApp) -> reqwest::Client {
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    browser
}

fn server_error<T: std::error::Error + 'static>(
    e: RequestTokenError<T, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> (BasicErrorResponseType, String) {
    match e {
        RequestTokenError::ServerResponse(r) => (r.error().clone(), r.error_description().cloned().unwrap_or_default()),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

#[actix_web::test]
async fn code_flow_with_pkce_consent_refresh_and_revocation() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let client = app.oauth2_client(&reg);
    let browser = signed_in(&app).await;

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The consent page names the app, its organization, its homepage and each scope.
    let page = browser.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<span id="app-name">Example App</span>"#), "{html}");
    assert!(html.contains(&format!(r#"<strong id="app-org">{}</strong>"#, reg.client.organization_name)));
    assert!(html.contains(">app.example</a>"));
    assert!(html.contains("Read your data") && html.contains("Stay connected when you are not using the app"));
    assert!(!html.contains("Create and change your data"), "only the requested scopes are listed");
    assert!(html.contains(r#"<code id="redirect-to">https://app.example/callback</code>"#));

    let back = app.authorize(&browser, auth_url.as_str(), "approve").await;
    assert_eq!(back.as_str().split('?').next().unwrap(), REDIRECT);
    assert_eq!(query(&back, "state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(query(&back, "iss").as_deref(), Some(app.base.as_str()));
    let code = query(&back, "code").unwrap();
    assert!(code.len() >= 43, "≥256-bit code");

    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(token.expires_in().unwrap().as_secs(), 3600);
    let scopes: Vec<String> = token.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    assert_eq!(scopes, ["offline_access", "read"]);
    let refresh = token.refresh_token().expect("offline_access gives a refresh token").clone();

    let (status, _, body) =
        post_form(&app, "/oauth/introspect", &reg, &[("token", token.access_token().secret())]).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], json!(reg.client.client_id));
    assert_eq!(body["scope"], "offline_access read");

    // Refresh: rotated, and narrower scope allowed.
    let refreshed = client
        .exchange_refresh_token(&refresh)
        .add_scope(Scope::new("read".into()))
        .request_async(&http())
        .await
        .unwrap();
    assert_eq!(refreshed.scopes().unwrap()[0].as_str(), "read");
    let next = refreshed.refresh_token().unwrap().clone();
    assert_ne!(next.secret(), refresh.secret());

    // Revoking the refresh token revokes its family.
    let (status, headers, _) = post_form(&app, "/oauth/revoke", &reg, &[("token", next.secret())]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    let err = client.exchange_refresh_token(&next).request_async(&http()).await.unwrap_err();
    assert_eq!(server_error(err).0, BasicErrorResponseType::InvalidGrant);
    let (_, _, body) = post_form(&app, "/oauth/introspect", &reg, &[("token", next.secret())]).await;
    assert_eq!(body, json!({"active": false}));
    // …and the access token issued with it.
    let (_, _, body) =
        post_form(&app, "/oauth/introspect", &reg, &[("token", refreshed.access_token().secret())]).await;
    assert_eq!(body, json!({"active": false}));
}

/// An approved code and its verifier.
pub async fn code_for(
    app: &TestApp,
    reg: &crate::oauth_support::Registered,
    scope: &str,
) -> (String, PkceCodeVerifier) {
    code_as(app, &signed_in(app).await, reg, scope).await
}

/// A code for `scope`, approved in `browser` (signed in).
pub async fn code_as(
    app: &TestApp,
    browser: &reqwest::Client,
    reg: &crate::oauth_support::Registered,
    scope: &str,
) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = app
        .oauth2_client(reg)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(scope.into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = app.authorize(browser, url.as_str(), "approve").await;
    (query(&back, "code").unwrap_or_else(|| panic!("no code in the redirect {back}")), verifier)
}

/// The refresh and access token of a code flow for `scope`, approved in
/// `browser` (signed in).
pub async fn tokens_as(
    app: &TestApp,
    browser: &reqwest::Client,
    reg: &crate::oauth_support::Registered,
    scope: &str,
) -> (String, String) {
    let (code, verifier) = code_as(app, browser, reg, scope).await;
    let token = app
        .oauth2_client(reg)
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    (token.refresh_token().expect("a refresh token").secret().clone(), token.access_token().secret().clone())
}

#[actix_web::test]
async fn a_replayed_code_fails_and_revokes_what_it_issued() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let client = app.oauth2_client(&reg);
    let (code, verifier) = code_for(&app, &reg, "read offline_access").await;
    let verifier2 = PkceCodeVerifier::new(verifier.secret().clone());
    let first = client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    let err = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier2)
        .request_async(&http())
        .await
        .unwrap_err();
    let (kind, description) = server_error(err);
    assert_eq!(kind, BasicErrorResponseType::InvalidGrant);
    assert_eq!(description, "The authorization code was already used; the tokens it issued are revoked.");
    for token in [first.access_token().secret(), first.refresh_token().unwrap().secret()] {
        let (_, _, body) = post_form(&app, "/oauth/introspect", &reg, &[("token", token)]).await;
        assert_eq!(body, json!({"active": false}));
    }
}

#[actix_web::test]
async fn code_exchange_checks_verifier_client_redirect_and_expiry() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let other = app.oauth_client().await.create().await;

    let expect = |status: u16, body: serde_json::Value, error: &str, description: &str| {
        assert_eq!(status, 400, "{body}");
        assert_eq!(body, json!({"error": error, "error_description": description}));
    };
    // Missing and wrong verifier.
    let (code, _) = code_for(&app, &reg, "read").await;
    let (s, _, b) = post_form(
        &app,
        "/oauth/token",
        &reg,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)],
    )
    .await;
    expect(s, b, "invalid_grant", "code_verifier is required.");
    let wrong = "x".repeat(43);
    let (s, _, b) = post_form(
        &app,
        "/oauth/token",
        &reg,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", &wrong)],
    )
    .await;
    expect(s, b, "invalid_grant", "code_verifier does not match the code_challenge.");

    // Redeemed by another client.
    let (code, verifier) = code_for(&app, &reg, "read").await;
    let (s, _, b) = post_form(
        &app,
        "/oauth/token",
        &other,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    expect(s, b, "invalid_grant", "The authorization code was issued to another client.");

    // Another redirect_uri than at /authorize.
    let (s, _, b) = post_form(
        &app,
        "/oauth/token",
        &reg,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    expect(s, b, "invalid_grant", "redirect_uri does not match the authorization request.");

    // Expired: 60 s by the server's clock, no sleeping.
    app.clock.advance(chrono::Duration::seconds(61));
    let (s, _, b) = post_form(
        &app,
        "/oauth/token",
        &reg,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    expect(s, b, "invalid_grant", "The authorization code has expired.");

    // A made-up code.
    let (s, _, b) = post_form(
        &app,
        "/oauth/token",
        &reg,
        &[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    expect(s, b, "invalid_grant", "The authorization code is invalid.");
}

#[actix_web::test]
async fn authorize_refuses_unknown_clients_and_redirects_with_a_page_not_a_redirect() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let browser = signed_in(&app).await;
    let id = &reg.client.client_id;
    for (query, message) in [
        ("response_type=code&client_id=nope&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback", "not registered"),
        (
            &format!("response_type=code&client_id={id}&redirect_uri=https%3A%2F%2Fevil.example%2Fcallback") as &str,
            "redirect URI is not registered",
        ),
        (
            &format!("response_type=code&client_id={id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback%2F"),
            "redirect URI is not registered",
        ),
        ("response_type=code", "no client_id"),
    ] {
        let res = browser.get(app.url(&format!("/oauth/authorize?{query}"))).send().await.unwrap();
        assert_eq!(res.status(), 400, "{query}");
        assert!(location(&res).is_empty(), "never a redirect: {query}");
        assert!(res.text().await.unwrap().contains(message), "{query}");
    }
}

async fn authorize_error(
    app: &TestApp,
    browser: &reqwest::Client,
    query_string: &str,
) -> (String, String, Option<String>, Option<String>) {
    let res = browser.get(app.url(&format!("/oauth/authorize?{query_string}"))).send().await.unwrap();
    assert_eq!(res.status(), 303, "{query_string}");
    let url = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(url.as_str().split('?').next().unwrap(), REDIRECT);
    assert_eq!(query(&url, "iss").as_deref(), Some(app.base.as_str()));
    (
        query(&url, "error").unwrap(),
        query(&url, "error_description").unwrap(),
        query(&url, "state"),
        query(&url, "code"),
    )
}

#[actix_web::test]
async fn authorize_errors_go_back_to_the_client_with_state_and_iss() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let public = app.oauth_client().await.public().create().await;
    let browser = signed_in(&app).await;
    let base = |id: &str| format!("client_id={id}&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&state=xyz");
    let s256 = "code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    let id = &reg.client.client_id;

    let (e, d, st, code) =
        authorize_error(&app, &browser, &format!("{}&response_type=token&scope=read", base(id))).await;
    assert_eq!((e.as_str(), st.as_deref(), code), ("unsupported_response_type", Some("xyz"), None));
    assert!(d.contains("token"));
    let (e, d, _, _) =
        authorize_error(&app, &browser, &format!("{}&response_type=code&scope=read%20payroll&{s256}", base(id))).await;
    assert_eq!((e.as_str(), d.as_str()), ("invalid_scope", "unknown scope \"payroll\""));
    let (e, _, _, _) =
        authorize_error(&app, &browser, &format!("{}&response_type=code&scope=admin&{s256}", base(id))).await;
    assert_eq!(e, "invalid_scope", "admin is not allowed for this client");
    let plain = "code_challenge=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&code_challenge_method=plain";
    let (e, d, _, _) =
        authorize_error(&app, &browser, &format!("{}&response_type=code&scope=read&{plain}", base(id))).await;
    assert_eq!((e.as_str(), d.as_str()), ("invalid_request", "code_challenge_method plain is not allowed; use S256"));
    // A public client must use PKCE.
    let (e, d, _, _) =
        authorize_error(&app, &browser, &format!("{}&response_type=code&scope=read", base(&public.client.client_id)))
            .await;
    assert_eq!(
        (e.as_str(), d.as_str()),
        ("invalid_request", "code_challenge required: this client must use PKCE (S256)")
    );
    let (e, _, _, _) =
        authorize_error(&app, &browser, &format!("{}&response_type=code&scope=read&scope=write&{s256}", base(id)))
            .await;
    assert_eq!(e, "invalid_request", "repeated parameter");
}

#[actix_web::test]
async fn consent_denied_missing_csrf_and_prompt_none() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let client = app.oauth2_client(&reg);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();

    // prompt=none without a session: login_required, no page.
    let anonymous = app.new_browser();
    let none = format!("{url}&prompt=none");
    let res = anonymous.get(&none).send().await.unwrap();
    let back = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(query(&back, "state").as_deref(), Some(state.secret().as_str()));
    // Without prompt=none: the login page, which comes back here.
    let res = anonymous.get(url.as_str()).send().await.unwrap();
    assert!(location(&res).starts_with("/login?return_to=%2Foauth%2Fauthorize%3F"), "{}", location(&res));

    // Signed in, no consent yet: prompt=none says consent_required.
    let browser = signed_in(&app).await;
    let res = browser.get(&none).send().await.unwrap();
    let back = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("consent_required"));

    // The consent form without its CSRF token is refused.
    let html = browser.get(url.as_str()).send().await.unwrap().text().await.unwrap();
    let mut form: Vec<(String, String)> = hidden_fields(&html).into_iter().filter(|(k, _)| k != "csrf_token").collect();
    form.push(("decision".into(), "approve".into()));
    let res = browser.post(app.url("/oauth/authorize")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(location(&res).is_empty());

    // Deny: access_denied with state and iss.
    let back = app.authorize(&browser, url.as_str(), "deny").await;
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(query(&back, "iss").as_deref(), Some(app.base.as_str()));
    assert_eq!(query(&back, "code"), None);

    // Approve once: remembered, the page is skipped next time…
    app.authorize(&browser, url.as_str(), "approve").await;
    let res = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(query(&url::Url::parse(&location(&res)).unwrap(), "code").is_some());
    // …and prompt=none now succeeds, while prompt=consent shows the page again.
    let res = browser.get(&none).send().await.unwrap();
    assert!(query(&url::Url::parse(&location(&res)).unwrap(), "code").is_some());
    let res = browser.get(format!("{url}&prompt=consent")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // A wider request than what was approved asks again.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (wider, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .add_scope(Scope::new("write".into()))
        .set_pkce_challenge(challenge)
        .url();
    assert_eq!(browser.get(wider.as_str()).send().await.unwrap().status(), 200);
}

#[actix_web::test]
async fn native_public_client_on_any_loopback_port() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.public().redirect_uris(&["http://127.0.0.1/callback"]).create().await;
    assert!(reg.secret.is_none(), "public clients get no secret");
    let browser = signed_in(&app).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = oauth2::basic::BasicClient::new(oauth2::ClientId::new(reg.client.client_id.clone()))
        .set_auth_uri(oauth2::AuthUrl::new(app.url("/oauth/authorize")).unwrap())
        .set_token_uri(oauth2::TokenUrl::new(app.url("/oauth/token")).unwrap())
        .set_redirect_uri(oauth2::RedirectUrl::new("http://127.0.0.1:49152/callback".into()).unwrap());
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = app.authorize(&browser, url.as_str(), "approve").await;
    assert!(back.as_str().starts_with("http://127.0.0.1:49152/callback?code="));
    let token = client
        .exchange_code(AuthorizationCode::new(query(&back, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    assert!(token.refresh_token().is_none(), "no offline_access, no refresh token");
}

#[actix_web::test]
async fn refresh_reuse_revokes_the_family_and_scope_cannot_widen() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let client = app.oauth2_client(&reg);
    let (code, verifier) = code_for(&app, &reg, "read offline_access").await;
    let first = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    let r1 = first.refresh_token().unwrap().clone();

    let err = client
        .exchange_refresh_token(&r1)
        .add_scope(Scope::new("write".into()))
        .request_async(&http())
        .await
        .unwrap_err();
    assert_eq!(
        server_error(err),
        (BasicErrorResponseType::InvalidScope, "scope \"write\" was not granted to this refresh token".into())
    );

    let second = client.exchange_refresh_token(&r1).request_async(&http()).await.unwrap();
    let r2 = second.refresh_token().unwrap().clone();
    // r1 again, past the grace for a lost race: reuse. The whole family dies, r2 included.
    app.clock.advance(chrono::Duration::seconds(6));
    let err = client.exchange_refresh_token(&r1).request_async(&http()).await.unwrap_err();
    assert_eq!(server_error(err).1, "The refresh token was already used; its whole family is revoked.");
    let err = client.exchange_refresh_token(&r2).request_async(&http()).await.unwrap_err();
    assert_eq!(server_error(err), (BasicErrorResponseType::InvalidGrant, "The refresh token was revoked.".into()));
    let (_, _, body) = post_form(&app, "/oauth/introspect", &reg, &[("token", second.access_token().secret())]).await;
    assert_eq!(body, json!({"active": false}));
}

#[actix_web::test]
async fn concurrent_refreshes_of_one_token_have_exactly_one_winner() {
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let reg = app.oauth_client().await.create().await;
    let client = app.oauth2_client(&reg);
    let (code, verifier) = code_for(&app, &reg, "read offline_access").await;
    let first = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    let token = first.refresh_token().unwrap().secret().clone();
    let attempts = (0..8).map(|_| {
        let (url, id, secret, token) =
            (app.url("/oauth/token"), reg.client.client_id.clone(), reg.secret.clone(), token.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(id, secret)
                .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 400, 400, 400, 400, 400, 400, 400]);
}

#[actix_web::test]
async fn operator_scopes_show_on_consent_and_always_refresh_clients_get_refresh_tokens() {
    let app = TestApp::spawn_with(|c| {
        c.oauth.scopes = vec![portcullis::oauth::scopes::ScopeDefinition {
            name: "invoices:read".into(),
            description: "Read your invoices".into(),
        }]
    })
    .await;
    let reg = app.oauth_client().await.scopes(&["invoices:read"]).always_refresh().create().await;
    let browser = signed_in(&app).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = app.oauth2_client(&reg);
    let (url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("invoices:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let html = browser.get(url.as_str()).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<strong>Read your invoices</strong> <code>invoices:read</code>"), "{html}");
    let back = app.authorize(&browser, url.as_str(), "approve").await;
    let token = client
        .exchange_code(AuthorizationCode::new(query(&back, "code").unwrap()))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    assert!(token.refresh_token().is_some(), "always_issue_refresh_token without offline_access");
    assert_eq!(token.scopes().unwrap()[0].as_str(), "invoices:read");
}

#[actix_web::test]
async fn a_third_party_apps_token_never_acts_on_v1_even_with_the_owners_consent() {
    // Finding 1 of the authority review: another organization's app got
    // `read write` consent from Acme's OWNER and minted an admin key.
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (code, verifier) = code_for(&app, &reg, "read write").await;
    let token = app
        .oauth2_client(&reg)
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .unwrap();
    let at = token.access_token().secret();
    let not_for_v1 = json!({
        "code": "INVALID_API_KEY",
        "message": "The provided access token is invalid, expired, or not for the management API.",
    });
    for (method, path, body) in [
        ("GET", "/v1/auth/validate", None),
        ("GET", "/v1/members", None),
        ("POST", "/v1/api-keys", Some(json!({"name": "x", "scopes": ["read", "write", "delete", "admin"]}))),
    ] {
        let mut req = reqwest::Client::new().request(method.parse().unwrap(), app.url(path)).bearer_auth(at);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{method} {path}");
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], not_for_v1["code"], "{method} {path}: {v}");
        assert_eq!(v["error"]["message"], not_for_v1["message"]);
    }
    // The token is still good for the organization's own APIs.
    let (_, _, v) = post_form(&app, "/oauth/introspect", &reg, &[("token", at)]).await;
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["aud"], json!([app.state.config.issuer()]));
}
