//! Signing-key rotation as a relying party or resource server sees it: the
//! next key is published before it signs, old tokens keep verifying from
//! the JWKS until they expire, a client caching the JWKS for its max-age
//! never meets an unknown kid, every instance follows a rotation made by
//! another (or by the CLI), and the schedule rotates each key on its clock.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use portcullis::clock::Clock;
use portcullis::oauth::clients::GrantType;
use portcullis::tokens::signing::{Housekeeping, KeyStatus, RotationPolicy, SigningAlgorithm, SigningKeys};

use crate::oauth_support::{Registered, post_form, verify_with_jwks};
use crate::support::TestApp;

const ES256: SigningAlgorithm = SigningAlgorithm::ES256;
const RS256: SigningAlgorithm = SigningAlgorithm::RS256;
const EDDSA: SigningAlgorithm = SigningAlgorithm::EdDSA;

/// The default JWKS max-age, and the poll interval of these tests.
const MAX_AGE: i64 = 300;
const POLL_MS: u64 = 50;

async fn app_with(change: impl FnOnce(&mut portcullis::config::Config)) -> TestApp {
    TestApp::spawn_with(|c| {
        c.change_poll_interval_ms = POLL_MS;
        change(c);
    })
    .await
}

async fn machine(app: &TestApp, ttl: Option<i64>) -> Registered {
    let mut builder = app.oauth_client().await.grants(&[GrantType::ClientCredentials]).scopes(&["read"]);
    builder.new_mut().access_token_ttl_secs = ttl;
    builder.create().await
}

/// A client-credentials access token.
async fn token(app: &TestApp, reg: &Registered) -> String {
    let form = [("grant_type", "client_credentials"), ("scope", "read")];
    let (status, _, body) = post_form(app, "/oauth/token", reg, &form).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// The kids of the JWKS and its Cache-Control.
async fn jwks(app: &TestApp) -> (HashSet<String>, String) {
    let res = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap();
    assert_eq!(res.status(), 200);
    let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    let kids = body["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    (kids, cache)
}

/// One housekeeping pass of `app` at its clock's time, as its poller makes.
/// The poller runs too, at the same clock time: tests assert on the keys,
/// not on which of the two did the work.
async fn housekeeping(app: &TestApp) -> Housekeeping {
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        portcullis::signing_key_housekeeping(&state, &RotationPolicy::from_config(&state.config)).unwrap()
    })
    .await
    .unwrap()
}

async fn prepare_next(app: &TestApp, algorithm: SigningAlgorithm) -> String {
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        state.oauth.keys.prepare_next(&state.store, &state.master_key, algorithm, state.clock.now()).unwrap()
    })
    .await
    .unwrap()
}

/// Asks until `check` holds; fails after 10 s.
async fn eventually(what: &str, check: impl AsyncFn() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(POLL_MS)).await;
    }
    panic!("never: {what}");
}

#[actix_web::test]
async fn the_next_key_is_published_for_the_max_age_before_it_signs_and_old_tokens_still_verify() {
    let app = app_with(|_| {}).await;
    let reg = machine(&app, None).await;
    let old_token = token(&app, &reg).await;
    let old = kid(&old_token);
    assert_eq!(old, app.state.oauth.keys.current_kid());
    let (kids, cache) = jwks(&app).await;
    assert_eq!(cache, format!("public, max-age={MAX_AGE}"));
    assert!(kids.contains(&old));

    let next = prepare_next(&app, ES256).await;
    let (kids, _) = jwks(&app).await;
    assert!(kids.contains(&next) && kids.contains(&old), "published at once, beside the current key");
    assert_eq!(kid(&token(&app, &reg).await), old, "but not signing");

    // Published for the max-age plus one poll: not a moment less.
    app.clock.advance(Duration::seconds(MAX_AGE));
    housekeeping(&app).await;
    assert_eq!(kid(&token(&app, &reg).await), old);
    app.clock.advance(Duration::seconds(1));
    housekeeping(&app).await;
    assert_eq!(next_of(&app, ES256), None);

    let new_token = token(&app, &reg).await;
    assert_eq!(kid(&new_token), next);
    let (kids, _) = jwks(&app).await;
    assert!(kids.contains(&old) && kids.contains(&next));
    // Both verify with nothing but the JWKS, through another JOSE library.
    assert_eq!(verify_with_jwks(&app, &old_token).await["client_id"], reg.client.client_id.as_str());
    assert_eq!(verify_with_jwks(&app, &new_token).await["client_id"], reg.client.client_id.as_str());
    // And the server itself still takes the old one.
    let (_, _, seen) = post_form(&app, "/oauth/introspect", &reg, &[("token", old_token.as_str())]).await;
    assert_eq!(seen["active"], true, "{seen}");
}

/// A resource server that fetches the JWKS, keeps it for max-age, and
/// checks every token it receives against that copy only: across two
/// scheduled rotations of every key it never meets a kid it lacks.
#[actix_web::test]
async fn a_client_caching_the_jwks_for_its_max_age_never_meets_an_unknown_kid() {
    let app = app_with(|c| c.oauth.key_rotation_days = 1).await;
    let reg = machine(&app, None).await;
    let keys = app.state.oauth.keys.clone();
    let first: Vec<String> = [ES256, RS256, EDDSA].iter().map(|a| keys.current_kid_of(*a)).collect();
    let (mut cached, _) = jwks(&app).await;
    let mut fetched_at: DateTime<Utc> = app.clock.now();
    let mut seen = HashSet::new();
    let mut due = app.clock.now() + Duration::days(1);
    for day in 1..=2 {
        // From a while before the rotation is due to well after the new key
        // signs, in odd steps so that fetches fall at every phase.
        app.clock.advance(due - Duration::seconds(1000) - app.clock.now());
        for _ in 0..60 {
            app.clock.advance(Duration::seconds(37));
            let signing = keys.current_kid();
            housekeeping(&app).await;
            if keys.current_kid() != signing {
                due = app.clock.now() + Duration::days(1);
            }
            if app.clock.now() - fetched_at >= Duration::seconds(MAX_AGE) {
                (cached, _) = jwks(&app).await;
                fetched_at = app.clock.now();
            }
            let signed = kid(&token(&app, &reg).await);
            assert!(cached.contains(&signed), "day {day}: access token signed by {signed}, unknown to the cache");
            for alg in [RS256, EDDSA] {
                let id_token_kid = keys.current_kid_of(alg);
                assert!(cached.contains(&id_token_kid), "day {day}: {alg} signs with {id_token_kid}, not cached");
            }
            seen.insert(signed);
        }
    }
    assert_eq!(seen.len(), 3, "two rotations of the access-token key: {seen:?}");
    for (alg, was) in [ES256, RS256, EDDSA].iter().zip(&first) {
        assert_ne!(&keys.current_kid_of(*alg), was, "{alg} rotated");
    }
}

#[actix_web::test]
async fn a_retired_key_stays_published_for_the_longest_token_lifetime_a_client_has() {
    // One client's tokens live two hours, longer than the configured one.
    let app = app_with(|_| {}).await;
    let reg = machine(&app, Some(7200)).await;
    let old_token = token(&app, &reg).await;
    let old = kid(&old_token);
    let next = prepare_next(&app, ES256).await;
    app.clock.advance(Duration::seconds(MAX_AGE + 1));
    housekeeping(&app).await;
    assert_eq!(app.state.oauth.keys.current_kid(), next);

    // Retention: 7200 s + the max-age + one poll after the retirement.
    app.clock.advance(Duration::seconds(7200 + MAX_AGE));
    housekeeping(&app).await;
    assert!(jwks(&app).await.0.contains(&old), "still published");
    assert!(statuses(&app).iter().any(|k| k.kid == old));
    assert_eq!(verify_with_jwks(&app, &old_token).await["sub"], reg.client.client_id.as_str());
    app.clock.advance(Duration::seconds(1));
    housekeeping(&app).await;
    let (kids, _) = jwks(&app).await;
    assert!(!kids.contains(&old) && kids.contains(&next), "{kids:?}");
    assert!(statuses(&app).iter().all(|k| k.kid != old), "and deleted");
}

#[actix_web::test]
async fn a_second_instance_serves_a_rotation_made_by_the_first_within_the_poll() {
    let first = app_with(|_| {}).await;
    let second = first.second_instance().await;
    let reg = machine(&first, None).await;
    let old = kid(&token(&second, &reg).await);

    let next = prepare_next(&first, ES256).await;
    let started = std::time::Instant::now();
    eventually("the second publishes the next key", async || jwks(&second).await.0.contains(&next)).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(kid(&token(&second, &reg).await), old, "published, not signing");

    // The first activates it; the second signs with it after its next poll.
    first.clock.advance(Duration::seconds(MAX_AGE + 1));
    housekeeping(&first).await;
    assert_eq!(first.state.oauth.keys.current_kid(), next);
    eventually("the second signs with the new key", async || kid(&token(&second, &reg).await) == next).await;
    assert!(jwks(&second).await.0.contains(&old), "the old key stays published");
}

#[actix_web::test]
async fn a_rotation_by_the_cli_reaches_a_running_server() {
    let app = app_with(|_| {}).await;
    let old = app.state.oauth.keys.current_kid_of(RS256);
    let config = &app.state.config;
    let out = crate::cli::portcullis(&config.data_dir)
        .env("PORTCULLIS_DATABASE_URL", &config.database_url)
        .env("PORTCULLIS_DATA_DIR", &config.data_dir)
        .args(["keys", "rotate", "--algorithm", "RS256", "--now"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let fields: Vec<&str> = stdout.trim_end().split('\t').collect();
    assert_eq!(fields[..2], ["RS256", "current"], "{stdout}");
    assert_eq!(fields[3], format!("retired {old}"));
    let new = fields[2].to_owned();
    let keys = app.state.oauth.keys.clone();
    eventually("the server signs RS256 with the CLI's key", async || keys.current_kid_of(RS256) == new).await;
    let kids = jwks(&app).await.0;
    assert!(kids.contains(&new) && kids.contains(&old));
}

#[actix_web::test]
async fn the_schedule_rotates_each_key_on_its_own_clock() {
    let app = app_with(|c| c.oauth.key_rotation_days = 30).await;
    let keys = app.state.oauth.keys.clone();
    let first: Vec<String> = [ES256, RS256, EDDSA].iter().map(|a| keys.current_kid_of(*a)).collect();
    app.clock.advance(Duration::days(29));
    housekeeping(&app).await;
    assert!(statuses(&app).iter().all(|k| k.state != "next"), "nothing due on day 29");

    // RS256 rotated by hand on day 29: its clock starts again.
    let rs = prepare_next(&app, RS256).await;
    app.clock.advance(Duration::seconds(MAX_AGE + 1));
    housekeeping(&app).await;
    assert_eq!(keys.current_kid_of(RS256), rs);

    // Day 30: the two keys of day 0 get a next key, published first.
    app.clock.advance(Duration::days(1) - Duration::seconds(MAX_AGE + 1));
    housekeeping(&app).await;
    let (es, ed) = (next_of(&app, ES256).expect("ES256 next"), next_of(&app, EDDSA).expect("EdDSA next"));
    assert_eq!(next_of(&app, RS256), None);
    assert_eq!((keys.current_kid_of(ES256), keys.current_kid_of(EDDSA)), (first[0].clone(), first[2].clone()));
    housekeeping(&app).await;
    assert_eq!(statuses(&app).iter().filter(|k| k.state == "next").count(), 2, "once");
    app.clock.advance(Duration::seconds(MAX_AGE + 1));
    housekeeping(&app).await;
    assert_eq!((keys.current_kid_of(ES256), keys.current_kid_of(EDDSA)), (es, ed));

    // RS256's turn comes 30 days after its own activation (day 59 + 301 s).
    app.clock.advance(Duration::days(29) - Duration::seconds(1));
    housekeeping(&app).await;
    assert!(statuses(&app).iter().all(|k| k.state != "next"));
    app.clock.advance(Duration::seconds(1));
    housekeeping(&app).await;
    let now = statuses(&app);
    let next: Vec<&str> = now.iter().filter(|k| k.state == "next").map(|k| k.algorithm.as_str()).collect();
    assert_eq!(next, vec!["RS256"]);
    assert_eq!(keys.current_kid_of(RS256), rs, "not signing yet");
}

fn statuses(app: &TestApp) -> Vec<KeyStatus> {
    SigningKeys::statuses(&app.state.store).unwrap()
}

fn next_of(app: &TestApp, algorithm: SigningAlgorithm) -> Option<String> {
    statuses(app).into_iter().find(|k| k.state == "next" && k.algorithm == algorithm.as_str()).map(|k| k.kid)
}
