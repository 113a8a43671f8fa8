//! Every kind of write at once, on whichever backend the suite runs on:
//! signed-in code flows with consent, refreshes, API-key creations and
//! revocations, sign-ins, token revocations. None may fail with a server
//! error ("database is locked", a deadlock), and every credential that
//! came back with a success must work afterwards: counted, kind by kind.

use std::future::Future;
use std::pin::Pin;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::api_apps::owner_key;
use crate::oauth_code::{signed_in, tokens_as};
use crate::oauth_support::{Registered, post_form};
use crate::support::{PASSWORD, TestApp, call};

/// Requests of each kind in one burst.
const N: usize = 8;

/// What one request of the burst left to check afterwards.
enum Outcome {
    /// A code flow (consent, code, exchange): its access and refresh token.
    Flow { access: String, refresh: String },
    /// A refresh: the new access and refresh token.
    Refreshed { access: String, refresh: String },
    /// A new API key.
    Key(String),
    /// A revoked API key.
    KeyRevoked(String),
    /// A signed-in browser.
    SignedIn(reqwest::Client),
    /// A revoked refresh token.
    TokenRevoked(String),
}

type Request<'a> = Pin<Box<dyn Future<Output = Result<Outcome, String>> + 'a>>;

async fn exchange(app: &TestApp, reg: &Registered, browser: &reqwest::Client) -> Result<Outcome, String> {
    let (refresh, access) = tokens_as(app, browser, reg, "read offline_access").await;
    Ok(Outcome::Flow { access, refresh })
}

async fn refresh(app: &TestApp, reg: &Registered, token: &str) -> Result<Outcome, String> {
    let (s, _, b) =
        post_form(app, "/oauth/token", reg, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await;
    if s != 200 {
        return Err(format!("refresh: {s} {b}"));
    }
    let field = |k: &str| b[k].as_str().map(str::to_owned).ok_or(format!("refresh: no {k} in {b}"));
    Ok(Outcome::Refreshed { access: field("access_token")?, refresh: field("refresh_token")? })
}

async fn create_key(app: &TestApp, owner: &str, i: usize) -> Result<Outcome, String> {
    let (s, b) =
        call(app, "POST", "/v1/api-keys", owner, Some(json!({"name": format!("k{i}"), "scopes": ["read"]}))).await;
    match (s, b["data"]["key"].as_str()) {
        (201, Some(key)) => Ok(Outcome::Key(key.to_owned())),
        _ => Err(format!("key creation: {s} {b}")),
    }
}

async fn revoke_key(app: &TestApp, owner: &str, id: &str, key: String) -> Result<Outcome, String> {
    let (s, b) = call(app, "DELETE", &format!("/v1/api-keys/{id}"), owner, None).await;
    if s != 200 {
        return Err(format!("key revocation: {s} {b}"));
    }
    Ok(Outcome::KeyRevoked(key))
}

async fn sign_in(app: &TestApp, email: String) -> Result<Outcome, String> {
    let browser = app.new_browser();
    let s = app.login(&browser, &email, PASSWORD).await.status();
    if s != 303 {
        return Err(format!("sign-in: {s}"));
    }
    Ok(Outcome::SignedIn(browser))
}

async fn revoke_token(app: &TestApp, reg: &Registered, token: String) -> Result<Outcome, String> {
    let (s, _, b) = post_form(app, "/oauth/revoke", reg, &[("token", token.as_str())]).await;
    if s != 200 {
        return Err(format!("token revocation: {s} {b}"));
    }
    Ok(Outcome::TokenRevoked(token))
}

async fn introspect(app: &TestApp, reg: &Registered, token: &str) -> bool {
    let (s, _, b) = post_form(app, "/oauth/introspect", reg, &[("token", token)]).await;
    assert_eq!(s, 200, "{b}");
    b["active"] == json!(true)
}

async fn validate(app: &TestApp, key: &str) -> u16 {
    call(app, "GET", "/v1/auth/validate", key, None).await.0
}

/// A refresh token of a new user, through the code flow.
async fn refresh_token(app: &TestApp, reg: &Registered) -> String {
    tokens_as(app, &signed_in(app).await, reg, "read offline_access").await.0
}

#[actix_web::test]
async fn every_kind_of_write_at_once_fails_none_and_everything_returned_works() {
    let app = TestApp::spawn_with(|c| {
        c.workers = Some(4);
        c.pool_size = 10;
    })
    .await;
    let reg = app.oauth_client().await.create().await;
    let (_, owner) = owner_key(&app).await;

    // Prepared before the burst: browsers signed in (their consent comes in
    // the burst), refresh tokens to refresh and to revoke, keys to revoke,
    // accounts to sign in to.
    let mut browsers = Vec::new();
    let mut to_refresh = Vec::new();
    let mut to_revoke = Vec::new();
    let mut keys = Vec::new();
    let mut emails = Vec::new();
    for i in 0..N {
        browsers.push(signed_in(&app).await);
        to_refresh.push(refresh_token(&app, &reg).await);
        to_revoke.push(refresh_token(&app, &reg).await);
        let (s, b) =
            call(&app, "POST", "/v1/api-keys", &owner, Some(json!({"name": format!("old{i}"), "scopes": ["read"]})))
                .await;
        assert_eq!(s, 201, "{b}");
        keys.push((b["data"]["id"].as_str().unwrap().to_owned(), b["data"]["key"].as_str().unwrap().to_owned()));
        emails.push(app.user().create().await.0.email);
    }

    let mut burst: Vec<Request<'_>> = Vec::new();
    for i in 0..N {
        burst.push(Box::pin(exchange(&app, &reg, &browsers[i])));
        burst.push(Box::pin(refresh(&app, &reg, &to_refresh[i])));
        burst.push(Box::pin(create_key(&app, &owner, i)));
        burst.push(Box::pin(revoke_key(&app, &owner, &keys[i].0, keys[i].1.clone())));
        burst.push(Box::pin(sign_in(&app, emails[i].clone())));
        burst.push(Box::pin(revoke_token(&app, &reg, to_revoke[i].clone())));
    }
    let outcomes = join_all(burst).await;
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} of {} writes failed: {failures:#?}", failures.len(), 6 * N);

    // Everything returned works, and everything revoked is dead.
    let mut checked = [0usize; 6];
    for outcome in outcomes.into_iter().flatten() {
        match outcome {
            Outcome::Flow { access, refresh } => {
                assert!(introspect(&app, &reg, &access).await, "a code flow's access token is dead");
                assert!(introspect(&app, &reg, &refresh).await, "a code flow's refresh token is dead");
                checked[0] += 1;
            }
            Outcome::Refreshed { access, refresh: next } => {
                assert!(introspect(&app, &reg, &access).await, "a refreshed access token is dead");
                // The successor refreshes again: its family is intact.
                assert!(matches!(self::refresh(&app, &reg, &next).await, Ok(Outcome::Refreshed { .. })));
                checked[1] += 1;
            }
            Outcome::Key(key) => {
                assert_eq!(validate(&app, &key).await, 200, "a new key does not validate");
                checked[2] += 1;
            }
            Outcome::KeyRevoked(key) => {
                assert_eq!(validate(&app, &key).await, 401, "a revoked key still validates");
                checked[3] += 1;
            }
            Outcome::SignedIn(browser) => {
                app.dashboard(&browser).await;
                checked[4] += 1;
            }
            Outcome::TokenRevoked(token) => {
                assert!(!introspect(&app, &reg, &token).await, "a revoked refresh token is active");
                checked[5] += 1;
            }
        }
    }
    assert_eq!(checked, [N; 6], "flows, refreshes, new keys, revoked keys, sign-ins, revoked tokens");
    let (_, listed) = call(&app, "GET", "/v1/api-keys?limit=100", &owner, None).await;
    let live = listed["data"].as_array().map(|keys| keys.iter().filter(|k| k["revoked_at"] == Value::Null).count());
    // The owner's own key, and the burst's new keys.
    assert_eq!(live, Some(1 + N), "{listed}");
}

/// Two transactions that lock the same two rows in opposite orders: on
/// PostgreSQL one of them deadlocks, is rolled back and run again, and both
/// commit; on SQLite the second waits for the first. Neither is an error.
#[actix_web::test]
async fn a_deadlocked_transaction_is_run_again_and_both_commit() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    use diesel::RunQueryDsl;
    use diesel::sql_types::Text;
    use portcullis::store::{DbConnection, StoreError, write_transaction};

    let app = TestApp::spawn().await;
    let (a, _) = app.user().create().await;
    let (b, _) = app.user().create().await;
    let postgres = crate::support::on_postgres();
    // Both hold their first lock before either takes its second, on
    // PostgreSQL; on SQLite the second transaction cannot even begin.
    let barrier = Arc::new(Barrier::new(2));
    let attempts = Arc::new(AtomicUsize::new(0));
    let touch = |c: &mut DbConnection, id: &str| -> Result<(), StoreError> {
        diesel::sql_query("UPDATE users SET email = email WHERE id = $1").bind::<Text, _>(id).execute(c)?;
        Ok(())
    };
    let run = |first: String, second: String| {
        let (store, barrier, attempts) = (app.state.store.clone(), barrier.clone(), attempts.clone());
        async move {
            store
                .run(move |conn| {
                    write_transaction(conn, |c| {
                        let attempt = attempts.fetch_add(1, Ordering::SeqCst);
                        touch(c, &first)?;
                        if postgres && attempt < 2 {
                            barrier.wait();
                        }
                        touch(c, &second)
                    })
                })
                .await
        }
    };
    let (one, two) = tokio::join!(run(a.id.clone(), b.id.clone()), run(b.id.clone(), a.id.clone()));
    assert!(one.is_ok() && two.is_ok(), "{one:?} {two:?}");
    let expected = if postgres { 3 } else { 2 };
    assert_eq!(attempts.load(Ordering::SeqCst), expected, "one deadlock victim runs again on PostgreSQL");
}

/// A writer kept out past the busy timeout is told to try again, in each
/// surface's own words, never `server_error` or a 500. SQLite only: the
/// test holds its write lock from a connection of its own.
#[actix_web::test]
async fn a_write_kept_out_by_another_is_answered_try_again_everywhere() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    use crate::oauth_support::query;

    if crate::support::on_postgres() {
        return;
    }
    let app = TestApp::spawn_with(|c| c.sqlite_busy_timeout_ms = 50).await;
    let reg = app.oauth_client().await.create().await;
    let (_, owner) = owner_key(&app).await;
    let browser = signed_in(&app).await;
    let (rt, _) = tokens_as(&app, &browser, &reg, "read offline_access").await;
    let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = app
        .oauth2_client(&reg)
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();

    let path = app.state.config.database_url.trim_start_matches("sqlite://").to_owned();
    let mut holder = SqliteConnection::establish(&path).unwrap();
    holder.batch_execute("BEGIN IMMEDIATE").unwrap();

    // Consent is remembered: the approval itself is the write kept out.
    let res = browser.get(auth_url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(&crate::support::location(&res)).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("temporarily_unavailable"), "{back}");
    assert!(query(&back, "state").is_some() && query(&back, "iss").is_some(), "{back}");

    let (s, headers, body) =
        post_form(&app, "/oauth/token", &reg, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
    assert_eq!((s, body["error"].as_str()), (503, Some("temporarily_unavailable")), "{body}");
    assert_eq!(headers["retry-after"], "2");
    assert_eq!(headers["cache-control"], "no-store");

    let res = reqwest::Client::new()
        .post(app.url("/v1/api-keys"))
        .bearer_auth(&owner)
        .json(&json!({"name": "kept out", "scopes": ["read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");

    // Once the other writer is done, the same requests succeed, and the
    // refused refresh did not burn the token.
    holder.batch_execute("COMMIT").unwrap();
    let back = app.authorize(&browser, auth_url.as_str(), "approve").await;
    assert!(query(&back, "code").is_some(), "{back}");
    assert!(matches!(refresh(&app, &reg, &rt).await, Ok(Outcome::Refreshed { .. })));
    let (s, body) =
        call(&app, "POST", "/v1/api-keys", &owner, Some(json!({"name": "after", "scopes": ["read"]}))).await;
    assert_eq!(s, 201, "{body}");
}

/// One user approving one app in several browsers at once, each for other
/// scopes: every approval gives a code, and the remembered consent is the
/// union of them all (none lost to a concurrent first insert).
#[actix_web::test]
async fn first_approvals_at_once_all_succeed_and_their_consent_is_the_union() {
    use portcullis::store::grants::find_consent;

    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let reg = app.oauth_client().await.create().await;
    let (user, _) = app.user().create().await;
    let scopes = ["read", "write", "delete", "offline_access", "read write", "delete offline_access"];
    let mut browsers = Vec::new();
    for _ in scopes {
        let browser = app.new_browser();
        assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
        browsers.push(browser);
    }
    // Every consent page is fetched before any is approved.
    let (app, reg) = (&app, &reg);
    let pages = join_all(browsers.iter().zip(scopes).map(|(b, scope)| async move {
        let (challenge, _) = oauth2::PkceCodeChallenge::new_random_sha256();
        let (url, _) = app
            .oauth2_client(reg)
            .authorize_url(oauth2::CsrfToken::new_random)
            .add_scope(oauth2::Scope::new(scope.into()))
            .set_pkce_challenge(challenge)
            .url();
        let res = b.get(url.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 200, "a consent page");
        let mut form = crate::oauth_support::hidden_fields(&res.text().await.unwrap());
        form.push(("decision".into(), "approve".into()));
        form
    }))
    .await;
    let answers =
        join_all(browsers.iter().zip(&pages).map(|(b, form)| b.post(app.url("/oauth/authorize")).form(form).send()))
            .await;
    for res in answers {
        let res = res.unwrap();
        let back = crate::support::location(&res);
        assert!(res.status() == 303 && back.contains("code="), "{} {back}", res.status());
    }
    let (u, c) = (user.id.clone(), reg.client.client_id.clone());
    let consent = app.state.store.run(move |conn| find_consent(conn, &u, &c)).await.unwrap();
    assert_eq!(consent.as_deref(), Some("delete offline_access read write"));
}
