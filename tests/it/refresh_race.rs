//! Refresh-token rotation under races and replays (RFC 9700 §4.14.2):
//! of two uses of one token, one wins; the loser gets `invalid_grant` and
//! revokes nothing while the winner's successor is unused and the race is
//! within the grace; any other reuse revokes the whole family.

use chrono::Duration;
use diesel::prelude::*;
use portcullis::store::schema::refresh_tokens;
use serde_json::{Value, json};

use crate::oauth_code::{signed_in, tokens_as};
use crate::oauth_support::{Registered, post_form};
use crate::support::{PASSWORD, TestApp};

/// `oauth.refresh_reuse_grace_secs` by default.
const GRACE_SECS: i64 = 5;

fn race_lost() -> Value {
    json!({"error": "invalid_grant", "error_description": "The refresh token was already used."})
}

fn replayed() -> Value {
    json!({
        "error": "invalid_grant",
        "error_description": "The refresh token was already used; its whole family is revoked."
    })
}

pub(crate) fn revoked() -> Value {
    json!({"error": "invalid_grant", "error_description": "The refresh token was revoked."})
}

/// A refresh token (and its access token) of a user, through the code flow.
pub(crate) async fn first_tokens(app: &TestApp, reg: &Registered) -> (String, String) {
    tokens_as(app, &signed_in(app).await, reg, "read offline_access").await
}

pub(crate) async fn refresh(app: &TestApp, reg: &Registered, token: &str) -> (u16, Value) {
    let (s, _, b) =
        post_form(app, "/oauth/token", reg, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await;
    (s, b)
}

pub(crate) async fn active(app: &TestApp, reg: &Registered, token: &str) -> bool {
    let (s, _, b) = post_form(app, "/oauth/introspect", reg, &[("token", token)]).await;
    assert_eq!(s, 200, "{b}");
    b["active"] == json!(true)
}

pub(crate) fn tokens(b: &Value) -> (String, String) {
    (b["refresh_token"].as_str().unwrap().to_owned(), b["access_token"].as_str().unwrap().to_owned())
}

/// Races `n` refreshes of one token (all sent before any answer is read):
/// exactly one wins, every loser gets the lost-race refusal and revokes
/// nothing, and the winner's session survives (its access token is active,
/// its new refresh token refreshes again). Returns the raced token and the
/// winner's session as it now stands (refresh token, access token).
async fn race_refreshes(app: &TestApp, reg: &Registered, n: usize) -> (String, String, String) {
    let (token, _) = first_tokens(app, reg).await;
    let attempts = (0..n).map(|_| {
        let (url, id, secret, token) =
            (app.url("/oauth/token"), reg.client.client_id.clone(), reg.secret.clone(), token.clone());
        tokio::spawn(async move {
            let res = reqwest::Client::new()
                .post(url)
                .basic_auth(id, secret)
                .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        })
    });
    let mut outcomes = Vec::new();
    for a in attempts.collect::<Vec<_>>() {
        outcomes.push(a.await.unwrap());
    }
    let (winners, losers): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|(s, _)| *s == 200);
    assert_eq!(winners.len(), 1, "exactly one winner: {losers:?}");
    assert_eq!(losers.len(), n - 1);
    for (s, b) in &losers {
        assert_eq!((*s, b), (400, &race_lost()), "a loser refuses and revokes nothing");
    }
    // The whole outcome: the winner's session survived the race.
    let (next, access) = tokens(&winners[0].1);
    assert!(active(app, reg, &access).await, "the winner's access token is still active");
    let (s, b) = refresh(app, reg, &next).await;
    assert_eq!(s, 200, "the winner's new refresh token still refreshes: {b}");
    let (latest, access) = tokens(&b);
    assert!(active(app, reg, &access).await);
    (token, latest, access)
}

#[actix_web::test]
async fn parallel_refreshes_have_one_winner_whose_tokens_keep_working() {
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let reg = app.oauth_client().await.create().await;
    race_refreshes(&app, &reg, 12).await;
}

#[actix_web::test]
async fn a_hundred_parallel_refreshes_have_one_winner_and_a_later_reuse_revokes_its_family() {
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let reg = app.oauth_client().await.create().await;
    let (raced, latest, access) = race_refreshes(&app, &reg, 100).await;
    // RFC 9700 §4.14.2 afterwards: the raced token's successor is spent, so
    // presenting it again (the clock unmoved, within the grace) is a replay,
    // and the family ends with the winner's latest tokens in it.
    assert_eq!(refresh(&app, &reg, &raced).await, (400, replayed()));
    assert_eq!(refresh(&app, &reg, &latest).await, (400, revoked()));
    assert!(!active(&app, &reg, &access).await, "the latest access token is denied with its family");
    assert!(!active(&app, &reg, &latest).await);
}

#[actix_web::test]
async fn a_reuse_within_the_grace_is_a_lost_race_and_after_it_revokes_the_family() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (r1, _) = first_tokens(&app, &reg).await;
    let (s, b) = refresh(&app, &reg, &r1).await;
    assert_eq!(s, 200, "{b}");
    let (r2, a2) = tokens(&b);

    // A retry a moment later (a lost response, a second tab): refused, no harm.
    assert_eq!(refresh(&app, &reg, &r1).await, (400, race_lost()));
    assert!(active(&app, &reg, &a2).await);

    // The same reuse after the grace is a replay: the family ends.
    app.clock.advance(Duration::seconds(GRACE_SECS + 1));
    assert_eq!(refresh(&app, &reg, &r1).await, (400, replayed()));
    assert_eq!(refresh(&app, &reg, &r2).await, (400, revoked()));
    assert!(!active(&app, &reg, &a2).await, "the winner's access token is denied with its family");
}

#[actix_web::test]
async fn a_reuse_after_the_successor_was_used_revokes_the_family_even_within_the_grace() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (r1, _) = first_tokens(&app, &reg).await;
    let (r2, _) = tokens(&refresh(&app, &reg, &r1).await.1);
    assert_eq!(refresh(&app, &reg, &r1).await, (400, race_lost()), "r2 is still unused");

    let (s, b) = refresh(&app, &reg, &r2).await;
    assert_eq!(s, 200, "a lost race left the family alone: {b}");
    let (r3, a3) = tokens(&b);
    // r1 again, the clock unmoved: its successor r2 is spent, so this is no race.
    assert_eq!(refresh(&app, &reg, &r1).await, (400, replayed()));
    assert_eq!(refresh(&app, &reg, &r3).await, (400, revoked()));
    assert!(!active(&app, &reg, &a3).await);
}

#[actix_web::test]
async fn a_rotated_dashboard_session_keeps_its_organization_and_links_its_parent() {
    let app = TestApp::spawn().await;
    let (user, org) = app.user().create().await;
    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": user.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let login: Value = res.json().await.unwrap();
    let refresh_token = login["data"]["refresh_token"].as_str().unwrap().to_owned();
    // The session acts for `org` (login sets it once organizations are chosen).
    let org_id = org.id.clone();
    app.state
        .store
        .run_blocking(|conn| {
            Ok(diesel::update(refresh_tokens::table).set(refresh_tokens::organization_id.eq(org_id)).execute(conn)?)
        })
        .unwrap();

    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let access = body["data"]["access_token"].as_str().unwrap();
    // Dashboard sessions are for /v1 alone (inactive at introspection).
    let res = reqwest::Client::new().get(app.url("/v1/auth/validate")).bearer_auth(access).send().await.unwrap();
    let b: Value = res.json().await.unwrap();
    assert_eq!(
        b["data"]["organization"]["id"],
        json!(org.id),
        "the new access token acts for the session's organization"
    );

    let rows: Vec<(String, Option<String>, Option<String>)> = app
        .state
        .store
        .run_blocking(|conn| {
            Ok(refresh_tokens::table
                .select((refresh_tokens::id, refresh_tokens::parent_id, refresh_tokens::organization_id))
                .load(conn)?)
        })
        .unwrap();
    assert_eq!(rows.len(), 2);
    let (parent, successor) = if rows[0].1.is_none() { (&rows[0], &rows[1]) } else { (&rows[1], &rows[0]) };
    assert_eq!(successor.1.as_deref(), Some(parent.0.as_str()), "the successor names its parent");
    assert_eq!(successor.2.as_deref(), Some(org.id.as_str()), "the successor keeps the organization");
}

/// A refresh and a revocation of the same family at the same moment
/// (RFC 7009 §2.1: revoking a refresh token ends its family): whichever
/// comes first, afterwards nothing of the family works. The refresh may
/// have won and answered with a new refresh token; that token must then be
/// dead too, its access token with it.
#[actix_web::test]
async fn a_refresh_racing_a_revocation_of_its_family_leaves_nothing_alive() {
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let reg = app.oauth_client().await.create().await;
    let browser = signed_in(&app).await;
    let (mut refreshed_first, mut revoked_first) = (0, 0);
    for round in 0..30 {
        let (token, _) = tokens_as(&app, &browser, &reg, "read offline_access").await;
        let form = [("token", token.as_str())];
        let revoke = post_form(&app, "/oauth/revoke", &reg, &form);
        let ((s, b), (revocation, _, _)) = tokio::join!(refresh(&app, &reg, &token), revoke);
        assert_eq!(revocation, 200, "round {round}");
        if s == 200 {
            refreshed_first += 1;
            let (next, access) = tokens(&b);
            assert_eq!(refresh(&app, &reg, &next).await, (400, revoked()), "round {round}: the successor lives on");
            assert!(!active(&app, &reg, &access).await, "round {round}: the successor's access token lives on");
        } else {
            revoked_first += 1;
            assert_eq!((s, b), (400, revoked()), "round {round}");
        }
    }
    eprintln!("refreshed first {refreshed_first}, revoked first {revoked_first}");
}
