//! Concurrency faults, each judged on its whole outcome: a hundred
//! redemptions of one code at once (DESIGN invariant 2), and revocations
//! racing the credential's use (invariant 8): once the revocation has been
//! answered, no use sent after it succeeds. Nothing here answers 5xx.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::api_keys::envelope;
use crate::api_members::key_for;
use crate::oauth_code::code_for;
use crate::oauth_code_rules::invalid_grant;
use crate::oauth_support::{REDIRECT, Registered, post_form, redeem};
use crate::refresh_race::{active, first_tokens, refresh, revoked};
use crate::support::{TestApp, call};

#[actix_web::test]
async fn a_hundred_parallel_redemptions_of_one_code_have_one_winner_whose_tokens_the_replays_revoke() {
    const N: usize = 100;
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let reg = app.oauth_client().await.create().await;
    let (code, verifier) = code_for(&app, &reg, "read offline_access").await;
    // All requests are in flight before any answer is read.
    let outcomes = join_all((0..N).map(|_| redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT)))).await;
    let (winners, losers): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|(s, _)| *s == 200);
    assert_eq!(winners.len(), 1, "exactly one redemption wins: {losers:?}");
    let replayed = invalid_grant("The authorization code was already used; the tokens it issued are revoked.");
    for loser in &losers {
        assert_eq!(loser, &(400, replayed.clone()), "every other one is a replay, never a 5xx");
    }
    let won = &winners[0].1;
    assert_eq!((won["token_type"].as_str(), won["scope"].as_str()), (Some("Bearer"), Some("offline_access read")));
    // RFC 6749 §4.1.2: the replays (by the client the code is for, with its
    // verifier) revoke what the winner got, so no token of the code is usable.
    let (access, refresh_token) = (won["access_token"].as_str().unwrap(), won["refresh_token"].as_str().unwrap());
    assert!(!active(&app, &reg, access).await, "the winner's access token is denied: {won}");
    assert!(!active(&app, &reg, refresh_token).await);
    assert_eq!(refresh(&app, &reg, refresh_token).await, (400, revoked()));
    assert_eq!(redeem(&app, &reg, &code, verifier.secret(), Some(REDIRECT)).await, (400, replayed));
}

/// One use of a credential during a race: when it was sent and answered
/// (as the test saw it), and whether it was accepted.
struct Use {
    sent: Instant,
    answered: Instant,
    accepted: bool,
}

/// Uses a credential from `WORKERS` loops at once and, once `BEFORE` uses
/// have been answered, runs `revoke` (which asserts its own answer); each
/// loop goes on until it has sent `AFTER` uses after the revocation was
/// answered. `use_once(i)` makes the i-th use, asserts its exact answer
/// (never a 5xx) and says whether it was accepted. Asserts that every use
/// answered before the revocation was sent was accepted, and that every use
/// sent after the revocation was answered, or after any use had been
/// refused, was refused.
async fn revoke_while_in_use<U, UF, R, RF>(use_once: U, revoke: R)
where
    U: Fn(usize) -> UF,
    UF: Future<Output = bool>,
    R: FnOnce() -> RF,
    RF: Future<Output = ()>,
{
    const WORKERS: usize = 16;
    const BEFORE: usize = 32;
    const AFTER: usize = 3;
    let answered = Cell::new(0usize);
    let revoked_at: Cell<Option<Instant>> = Cell::new(None);
    let uses = RefCell::new(Vec::new());
    let worker = |w: usize| {
        let (use_once, answered, revoked_at, uses) = (&use_once, &answered, &revoked_at, &uses);
        async move {
            let (mut i, mut after) = (w, 0);
            while after < AFTER {
                let sent = Instant::now();
                let accepted = use_once(i).await;
                let done = Instant::now();
                if revoked_at.get().is_some_and(|r| sent > r) {
                    after += 1;
                }
                uses.borrow_mut().push(Use { sent, answered: done, accepted });
                answered.set(answered.get() + 1);
                i += WORKERS;
            }
        }
    };
    let revoker = async {
        // Waiting for uses to have happened, not timing anything.
        while answered.get() < BEFORE {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let sent = Instant::now();
        revoke().await;
        revoked_at.set(Some(Instant::now()));
        sent
    };
    let (_, revoke_sent) = futures_util::join!(join_all((0..WORKERS).map(worker)), revoker);
    let revoke_answered = revoked_at.get().unwrap();

    let uses = uses.into_inner();
    let before: Vec<&Use> = uses.iter().filter(|u| u.answered < revoke_sent).collect();
    assert!(before.len() >= BEFORE);
    assert!(before.iter().all(|u| u.accepted), "a use answered before the revocation was sent was refused");
    let after: Vec<&Use> = uses.iter().filter(|u| u.sent > revoke_answered).collect();
    assert_eq!(after.len(), WORKERS * AFTER);
    let wrongly = after.iter().filter(|u| u.accepted).count();
    assert_eq!(wrongly, 0, "{wrongly} of {} uses sent after the revocation was answered succeeded", after.len());
    // A revocation, once seen, never comes undone.
    if let Some(first_refusal) = uses.iter().filter(|u| !u.accepted).map(|u| u.answered).min() {
        assert!(!uses.iter().any(|u| u.accepted && u.sent > first_refusal), "a use succeeded after one was refused");
    }
}

/// Limits high enough that the race meets no 429.
fn unthrottled(c: &mut portcullis::config::Config) {
    c.workers = Some(4);
    c.api.rate_limit_burst = 100_000;
    c.api.unauthenticated_per_minute = 100_000;
}

#[actix_web::test]
async fn an_api_key_revoked_while_in_use_is_refused_by_every_use_sent_after_the_revocation() {
    let app = TestApp::spawn_with(unthrottled).await;
    let (owner, org) = app.user().create().await;
    let admin = key_for(&app, &owner, &["read", "write", "delete"]).await;
    let (s, b) = call(&app, "POST", "/v1/api-keys", &admin, Some(json!({"name": "busy", "scopes": ["read"]}))).await;
    assert_eq!(s, 201, "{b}");
    let (id, key) = (b["data"]["id"].as_str().unwrap().to_owned(), b["data"]["key"].as_str().unwrap().to_owned());
    let rs = app.oauth_client().await.in_org(&org.id).resource_server().create().await;
    let http = reqwest::Client::new();
    let (app, id, key, rs, http) = (&app, &id, &key, &rs, &http);

    let use_once = |i: usize| async move {
        if i.is_multiple_of(2) {
            let res = http.get(app.url("/v1/auth/validate")).bearer_auth(key).send().await.unwrap();
            let (status, headers) = (res.status().as_u16(), res.headers().clone());
            let body: Value = res.json().await.unwrap();
            match status {
                200 => {
                    assert_eq!(body["data"]["credential"]["id"], json!(id), "{body}");
                    true
                }
                401 => {
                    let details = json!({"key_id": id, "revoked_at": "2026-01-01T12:00:00Z"});
                    let refusal = envelope(&headers, "REVOKED_API_KEY", "The API key has been revoked.", details);
                    assert_eq!(body, refusal);
                    false
                }
                other => panic!("GET /v1/auth/validate answered {other}: {body}"),
            }
        } else {
            let (status, _, body) = post_form(app, "/oauth/introspect", rs, &[("token", key)]).await;
            assert_eq!(status, 200, "{body}");
            if body == json!({"active": false}) {
                return false;
            }
            assert_eq!((&body["active"], &body["key_id"]), (&json!(true), &json!(id)), "{body}");
            true
        }
    };
    let revoke = || async move {
        let (s, b) = call(app, "DELETE", &format!("/v1/api-keys/{id}"), &admin, None).await;
        assert_eq!((s, &b["data"]["revoked_at"]), (200, &json!("2026-01-01T12:00:00Z")), "{b}");
    };
    revoke_while_in_use(use_once, revoke).await;
}

#[actix_web::test]
async fn an_access_token_revoked_while_introspected_is_inactive_to_every_introspection_sent_after() {
    let app = TestApp::spawn_with(unthrottled).await;
    let reg = app.oauth_client().await.create().await;
    let rs = app.oauth_client().await.in_org(&reg.client.organization_id).resource_server().create().await;
    let (_, access) = first_tokens(&app, &reg).await;
    let (app, reg, rs, access) = (&app, &reg, &rs, &access);

    // The client itself and a resource server of its organization look.
    let use_once = |i: usize| async move {
        let caller: &Registered = if i.is_multiple_of(2) { reg } else { rs };
        let (status, _, body) = post_form(app, "/oauth/introspect", caller, &[("token", access)]).await;
        assert_eq!(status, 200, "{body}");
        if body == json!({"active": false}) {
            return false;
        }
        assert_eq!((&body["active"], &body["client_id"]), (&json!(true), &json!(reg.client.client_id)), "{body}");
        true
    };
    let revoke = || async move {
        let (s, _, b) = post_form(app, "/oauth/revoke", reg, &[("token", access)]).await;
        assert_eq!(s, 200, "{b}");
    };
    revoke_while_in_use(use_once, revoke).await;
}
