//! Two real server processes on one database, as behind a load balancer:
//! what one issues the other verifies, what one revokes the other refuses
//! within a bound this test measures, a refresh token raced across them has
//! one winner and revokes nothing, and with Redis they share rate limits.
//!
//! Each process is the binary itself (`portcullis serve`), with its own
//! caches, change listener and poller; they share the database, the master
//! key (one data directory) and the issuer.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use oauth2::PkceCodeChallenge;
use serde_json::{Value, json};

use crate::cli::Workspace;
use crate::oauth_support::{REDIRECT, hidden_fields, query};
use crate::processes::{ISSUER, Instance};
use crate::support::{PASSWORD, browser, form_token, location, on_postgres, urlencode};

pub(crate) const EMAIL: &str = "owner@acme.example";

/// Two instances started at once on a fresh database (so they migrate it
/// at the same time, as in a rolling deploy), with one master key, then
/// the owner created by the CLI. On SQLite the processes learn of each
/// other's changes by reading the change log, here every 50 ms; on
/// PostgreSQL by `LISTEN/NOTIFY`, with the default poll (1 s) only as the
/// fallback.
pub(crate) async fn two_instances(extra: &[(&'static str, String)]) -> (Workspace, Instance, Instance) {
    let (workspace, a, b, _) = two_instances_env(extra).await;
    (workspace, a, b)
}

/// `two_instances`, and the environment they run with (to start one again).
pub(crate) async fn two_instances_env(
    extra: &[(&'static str, String)],
) -> (Workspace, Instance, Instance, Vec<(&'static str, String)>) {
    use base64::Engine;
    let workspace = Workspace::new();
    let master_key: [u8; 32] = rand::random();
    let poll = if on_postgres() { "1000" } else { "50" };
    let mut env = vec![
        ("PORTCULLIS_CHANGE_POLL_INTERVAL_MS", poll.to_owned()),
        ("PORTCULLIS_MASTER_KEY", base64::engine::general_purpose::STANDARD.encode(master_key)),
    ];
    env.extend(extra.iter().cloned());
    let ((mut a, ready_a), (mut b, ready_b)) = (Instance::spawn(&workspace, &env), Instance::spawn(&workspace, &env));
    tokio::join!(a.ready(ready_a), b.ready(ready_b));
    workspace.create_user(EMAIL, "Acme");
    (workspace, a, b, env)
}

/// A /v1 request with a bearer credential: status and JSON body.
pub(crate) async fn v1(at: &Instance, method: &str, path: &str, credential: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), at.url(path)).bearer_auth(credential);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

/// The owner's dashboard session token, signed in at `at`.
pub(crate) async fn session(at: &Instance) -> String {
    let res = reqwest::Client::new()
        .post(at.url("/v1/auth/login"))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["data"]["access_token"].as_str().unwrap().to_owned()
}

/// A new secret API key made at `at`: its id and the key.
pub(crate) async fn new_key(at: &Instance, credential: &str, body: Value) -> (String, String) {
    let (s, b) = v1(at, "POST", "/v1/api-keys", credential, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    (b["data"]["id"].as_str().unwrap().to_owned(), b["data"]["key"].as_str().unwrap().to_owned())
}

pub(crate) struct App {
    pub id: String,
    pub secret: String,
}

/// An app registered at `at`.
pub(crate) async fn register(at: &Instance, credential: &str, body: Value) -> App {
    let (s, b) = v1(at, "POST", "/v1/apps", credential, Some(body)).await;
    assert_eq!(s, 201, "{b}");
    App {
        id: b["data"]["client_id"].as_str().unwrap().to_owned(),
        secret: b["data"]["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// POSTs a form to an OAuth endpoint with the app's Basic authentication.
pub(crate) async fn oauth(at: &Instance, path: &str, app: &App, form: &[(&str, &str)]) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(at.url(path))
        .basic_auth(&app.id, Some(&app.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn active(at: &Instance, introspector: &App, token: &str) -> bool {
    let (s, b) = oauth(at, "/oauth/introspect", introspector, &[("token", token)]).await;
    assert_eq!(s, 200, "{b}");
    b["active"] == json!(true)
}

pub(crate) async fn refresh(at: &Instance, app: &App, token: &str) -> (u16, Value) {
    oauth(at, "/oauth/token", app, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await
}

pub(crate) fn tokens(b: &Value) -> (String, String) {
    (b["refresh_token"].as_str().unwrap().to_owned(), b["access_token"].as_str().unwrap().to_owned())
}

/// Asks `check` until it holds, every 2 ms; returns how long that took
/// from `since`. Fails after 10 s.
async fn seen_within(what: &str, since: Instant, check: impl AsyncFn() -> bool) -> Duration {
    while !check().await {
        assert!(since.elapsed() < Duration::from_secs(10), "the other instance never saw: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    since.elapsed()
}

/// A user's browser signed in on the login page of `at`. Cookies are kept
/// per host, not per port, so it is signed in at both instances, as behind
/// a load balancer.
pub(crate) async fn signed_in_browser(at: &Instance) -> reqwest::Client {
    let browser = browser();
    let csrf = form_token(&browser, &at.url("/login")).await;
    let res = browser
        .post(at.url("/login"))
        .form(&[("csrf_token", csrf.as_str()), ("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    browser
}

/// An authorization request for `scope` shown at `at` and approved there
/// when the consent page asks: the code and the PKCE verifier.
pub(crate) async fn approve(at: &Instance, browser: &reqwest::Client, app: &App, scope: &str) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let url = at.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=s1&code_challenge={}&code_challenge_method=S256",
        app.id,
        urlencode(REDIRECT),
        urlencode(scope),
        challenge.as_str()
    ));
    let res = browser.get(&url).send().await.unwrap();
    let res = if res.status() == 200 {
        let mut form = hidden_fields(&res.text().await.unwrap());
        form.push(("decision".into(), "approve".into()));
        browser.post(at.url("/oauth/authorize")).form(&form).send().await.unwrap()
    } else {
        res
    };
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(query(&back, "iss").as_deref(), Some(ISSUER));
    (query(&back, "code").unwrap_or_else(|| panic!("no code in {back}")), verifier.secret().clone())
}

/// The code flow: consent at `consent_at`, the code redeemed at `redeem_at`.
pub(crate) async fn code_flow(
    consent_at: &Instance,
    redeem_at: &Instance,
    browser: &reqwest::Client,
    app: &App,
) -> Value {
    let (code, verifier) = approve(consent_at, browser, app, "read offline_access").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let (s, b) = oauth(redeem_at, "/oauth/token", app, &form).await;
    assert_eq!(s, 200, "{b}");
    b
}

/// Verifies an access token with `at`'s JWKS alone: signature, issuer, audience.
async fn verify_with_jwks(at: &Instance, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwks: JwkSet = reqwest::get(at.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the other instance publishes the kid");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[ISSUER]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[actix_web::test]
async fn two_processes_on_one_database_act_as_one_server() {
    let (_workspace, a, b) = two_instances(&[]).await;
    let owner = session(&a).await;
    assert_eq!(v1(&b, "GET", "/v1/auth/me", &owner, None).await.0, 200, "a session made at A works at B");
    let app = register(
        &a,
        &owner,
        json!({
            "name": "Example App", "redirect_uris": [REDIRECT], "scopes": ["read", "offline_access"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"]
        }),
    )
    .await;
    let api = register(
        &a,
        &owner,
        json!({"name": "API", "grant_types": ["client_credentials"], "scopes": ["read"], "resource_server": true}),
    )
    .await;

    // Issued at A, verified and introspected at B.
    let (s, t) = oauth(&a, "/oauth/token", &app, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
    assert_eq!(s, 200, "{t}");
    let machine = t["access_token"].as_str().unwrap();
    assert_eq!(verify_with_jwks(&b, machine).await["client_id"], json!(app.id));
    assert!(active(&b, &api, machine).await);
    let (_, key) = new_key(&a, &owner, json!({"name": "ci", "scopes": ["read"]})).await;
    assert_eq!(v1(&b, "GET", "/v1/auth/validate", &key, None).await.0, 200);

    // A user signs in at A, consents at B, redeems the code at A and
    // refreshes at B.
    let browser = signed_in_browser(&a).await;
    let first = code_flow(&b, &a, &browser, &app).await;
    let (s, r) = refresh(&b, &app, &tokens(&first).0).await;
    assert_eq!(s, 200, "{r}");
    let (mut current, access) = tokens(&r);
    assert!(active(&a, &api, &access).await && active(&b, &api, &access).await);

    // One refresh token sent to A and B at once, again and again: one
    // winner each time, the loser told so and nothing revoked, the
    // winner's tokens alive at both.
    for round in 0..8 {
        let (at_a, at_b) = tokio::join!(refresh(&a, &app, &current), refresh(&b, &app, &current));
        let (winner, loser) = match (at_a.0, at_b.0) {
            (200, 400) => (at_a.1, at_b.1),
            (400, 200) => (at_b.1, at_a.1),
            other => panic!("round {round}: not one winner: {other:?} {} {}", at_a.1, at_b.1),
        };
        assert_eq!(
            loser,
            json!({"error": "invalid_grant", "error_description": "The refresh token was already used."}),
            "round {round}: the loser lost a race, it is not a replay"
        );
        let (next, access) = tokens(&winner);
        assert!(active(&a, &api, &access).await && active(&b, &api, &access).await, "round {round}");
        current = next;
    }
    let (s, r) = refresh(&a, &app, &current).await;
    assert_eq!(s, 200, "the family survived every race: {r}");
    let (current, access) = tokens(&r);

    // A family revoked at A: its refresh token is refused at B at once (read
    // from the database), its access token as soon as the change arrives.
    assert!(active(&b, &api, &access).await, "B checked it, and so holds its liveness in memory");
    assert_eq!(oauth(&a, "/oauth/revoke", &app, &[("token", current.as_str())]).await.0, 200);
    let revoked_at = Instant::now();
    assert_eq!(
        refresh(&b, &app, &current).await,
        (400, json!({"error": "invalid_grant", "error_description": "The refresh token was revoked."}))
    );
    let family = seen_within("a family revoked", revoked_at, async || !active(&b, &api, &access).await).await;

    // API keys revoked at A, each verified at B first (so held in memory
    // there): how long until B refuses it.
    let mut lags = Vec::new();
    for i in 0..12 {
        let (id, key) = new_key(&a, &owner, json!({"name": format!("k{i}"), "scopes": ["read"]})).await;
        assert_eq!(v1(&b, "GET", "/v1/auth/validate", &key, None).await.0, 200);
        let (s, d) = v1(&a, "DELETE", &format!("/v1/api-keys/{id}"), &owner, None).await;
        assert_eq!(s, 200, "{d}");
        let since = Instant::now();
        let (s, e) = v1(&a, "GET", "/v1/auth/validate", &key, None).await;
        assert_eq!((s, e["error"]["code"].as_str()), (401, Some("REVOKED_API_KEY")), "A refuses at once");
        lags.push(
            seen_within("a key revoked", since, async || {
                v1(&b, "GET", "/v1/auth/validate", &key, None).await.1["error"]["code"] == "REVOKED_API_KEY"
            })
            .await,
        );
    }
    lags.sort();
    let (p50, max) = (percentile(&lags, 50), lags[lags.len() - 1]);
    eprintln!(
        "two processes on {}: a key revoked at A refused at B after p50 {p50:?}, max {max:?} ({} keys); \
         a revoked family's access token after {family:?}",
        if on_postgres() { "PostgreSQL" } else { "SQLite" },
        lags.len()
    );
    if on_postgres() {
        // The poll runs every second: a median well under half of it says
        // the change was announced, not found by the poll.
        assert!(p50 < Duration::from_millis(300), "LISTEN/NOTIFY did not carry the change: {lags:?}");
    }

    // A consent withdrawn at A (the user's own dashboard session): B
    // refuses the app's tokens for that user and asks for consent again.
    let granted = code_flow(&b, &a, &browser, &app).await;
    let (held, access) = tokens(&granted);
    assert!(active(&b, &api, &access).await);
    let (s, d) = v1(&a, "DELETE", &format!("/v1/authorized-apps/{}", app.id), &owner, None).await;
    assert_eq!(s, 200, "{d}");
    let withdrawn_at = Instant::now();
    assert_eq!(refresh(&b, &app, &held).await.0, 400, "its refresh token ended with it");
    let consent = seen_within("a consent withdrawn", withdrawn_at, async || !active(&b, &api, &access).await).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let ask = b.url(&format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s2&code_challenge={}&code_challenge_method=S256",
        app.id,
        urlencode(REDIRECT),
        challenge.as_str()
    ));
    assert_eq!(browser.get(&ask).send().await.unwrap().status(), 200, "the consent page again");
    eprintln!("a consent withdrawn at A: its access token refused at B after {consent:?}");

    // An app deleted at A: B, which holds it in memory, refuses it, and
    // its tokens die with it.
    let (s, t) = oauth(&b, "/oauth/token", &app, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
    assert_eq!(s, 200, "{t}");
    let last = t["access_token"].as_str().unwrap().to_owned();
    assert!(active(&b, &api, &last).await);
    assert_eq!(v1(&a, "DELETE", &format!("/v1/apps/{}", app.id), &owner, None).await.0, 200);
    let deleted_at = Instant::now();
    seen_within("an app deleted", deleted_at, async || {
        oauth(&b, "/oauth/token", &app, &[("grant_type", "client_credentials")]).await.0 == 401
    })
    .await;
    assert!(!active(&b, &api, &last).await, "its token died with it");
    assert!(!a.log().contains("panicked") && !b.log().contains("panicked"), "{}\n{}", a.log(), b.log());
}

#[actix_web::test]
#[ignore = "needs Redis: TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test -- --include-ignored"]
async fn two_processes_share_a_rate_limit_through_redis() {
    let url = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("needs Redis: TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test -- --include-ignored");
    let prefix = format!("portcullis-test-{}", uuid::Uuid::new_v4().simple());
    let (_workspace, a, b) = two_instances(&[
        ("PORTCULLIS_API__RATE_LIMIT_REDIS_URL", url),
        ("PORTCULLIS_API__RATE_LIMIT_REDIS_PREFIX", prefix),
        // A Redis failure must show, not fall back to counting per instance.
        ("PORTCULLIS_API__RATE_LIMIT_REDIS_FAILURE", "closed".to_owned()),
    ])
    .await;
    let owner = session(&a).await;
    // Ten a minute, so a burst of ten and one more every 6 s.
    let (_, key) =
        new_key(&a, &owner, json!({"name": "metered", "scopes": ["read"], "rate_limit_per_minute": 10})).await;
    let mut allowed = [0, 0];
    let mut limited = [0, 0];
    let started = Instant::now();
    for i in 0..30 {
        let at = if i % 2 == 0 { &a } else { &b };
        let res = reqwest::Client::new().get(at.url("/v1/auth/validate")).bearer_auth(&key).send().await.unwrap();
        match res.status().as_u16() {
            200 => allowed[i % 2] += 1,
            429 => {
                assert!(res.headers().contains_key("retry-after"));
                limited[i % 2] += 1
            }
            other => panic!("{other}: {}", res.text().await.unwrap()),
        }
    }
    // The burst once between them, and at most what refilled meanwhile.
    let refilled = (started.elapsed().as_secs() / 6) as usize;
    let total = allowed[0] + allowed[1];
    assert!((10..=10 + refilled).contains(&total), "allowed {allowed:?} (refilled {refilled}), limited {limited:?}");
    assert!(limited[0] > 0 && limited[1] > 0, "both instances refuse once the shared burst is spent: {limited:?}");
    let ready: Value = reqwest::get(b.url("/readyz")).await.unwrap().json().await.unwrap();
    assert_eq!(ready["redis"], "up", "{ready}");
}
