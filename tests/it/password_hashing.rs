//! The bound on password hashing: at most `max_concurrent` argon2
//! computations, a queue with a deadline, then 503 with `Retry-After` (the
//! /v1 envelope, or the form again); hashes made at another cost verify and
//! are upgraded at the next sign-in.

use std::sync::mpsc;

use diesel::prelude::*;
use portcullis::accounts::passwords::PasswordHashing;
use portcullis::config::{Config, PasswordHashConfig};
use portcullis::store::schema::users;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, form_token};

/// A small cost, one slot, a short queue deadline, and throttles out of the way.
fn bounded(c: &mut Config) {
    c.password_hash = PasswordHashConfig {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        max_concurrent: Some(1),
        max_queued: 16,
        queue_timeout_ms: 50,
    };
    c.login_throttle.per_ip = 1000;
    c.login_throttle.per_account = 1000;
    c.login_throttle.signup_per_ip = 1000;
}

/// Occupies every hashing slot until the returned sender is dropped or sent to.
async fn hold_the_slot(app: &TestApp) -> mpsc::Sender<()> {
    let hashing = app.state.accounts.password_hashing().clone();
    let (tx, rx) = mpsc::channel::<()>();
    let h = hashing.clone();
    actix_web::rt::spawn(async move { h.run(move |_| rx.recv()).await });
    while hashing.running() == 0 {
        actix_web::rt::task::yield_now().await;
    }
    tx
}

async fn v1_login(app: &TestApp, email: &str, password: &str) -> (u16, Option<String>, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), retry_after, res.json().await.unwrap_or(Value::Null))
}

async fn stored_hash(app: &TestApp, id: &str) -> (String, chrono::NaiveDateTime) {
    let id = id.to_owned();
    app.state
        .store
        .run(move |conn| {
            Ok(users::table.find(&id).select((users::password_hash, users::password_changed_at)).first(conn)?)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn v1_logins_beyond_the_bound_get_503_with_retry_after_in_the_envelope_and_none_a_500() {
    let app = TestApp::spawn_with(bounded).await;
    let (user, _) = app.user().create().await;
    let release = hold_the_slot(&app).await;
    // Right, wrong and unknown alike: each would need a hash.
    let attempts =
        [(user.email.as_str(), PASSWORD), (user.email.as_str(), "wrong password"), ("nobody@example.com", PASSWORD)];
    let answers = futures_util::future::join_all(
        (0..4).flat_map(|_| attempts).map(|(email, password)| v1_login(&app, email, password)),
    )
    .await;
    for (status, retry_after, body) in answers {
        assert_eq!((status, retry_after.as_deref()), (503, Some("1")), "{body}");
        let request_id = body["error"]["request_id"].as_str().unwrap_or_default().to_owned();
        assert!(request_id.starts_with("req_"), "{body}");
        assert_eq!(
            body,
            json!({"success": false, "error": {
                "code": "SERVICE_UNAVAILABLE",
                "message": "Too many sign-ins are being checked right now. Try again shortly.",
                "details": {"retry_after_seconds": 1},
                "request_id": request_id,
            }})
        );
    }
    release.send(()).unwrap();
    // The slot is free again: sign-ins in parallel queue for it and are answered.
    let answers =
        futures_util::future::join_all((0..6).flat_map(|_| attempts).map(|(e, p)| v1_login(&app, e, p))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert!(statuses.iter().all(|s| [200, 401, 503].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&200) && statuses.contains(&401), "{statuses:?}");
    assert_eq!(v1_login(&app, &user.email, PASSWORD).await.0, 200);
}

#[actix_web::test]
async fn pages_beyond_the_bound_show_the_form_again_with_503_and_retry_after() {
    let app = TestApp::spawn_with(bounded).await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let release = hold_the_slot(&app).await;

    let stranger = app.new_browser();
    let res = app.login(&stranger, &user.email, PASSWORD).await;
    assert_eq!((res.status().as_u16(), res.headers()["retry-after"].to_str().unwrap()), (503, "1"));
    let html = res.text().await.unwrap();
    assert!(html.contains("Many people are signing in right now. Please try again in a few seconds."), "{html}");
    assert!(html.contains("name=\"csrf_token\"") && html.contains(&user.email), "the form again, email kept: {html}");

    let token = form_token(&stranger, &app.url("/signup")).await;
    let res = stranger
        .post(app.url("/signup"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "new@example.com"),
            ("password", PASSWORD),
            ("organization", "New"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["retry-after"].to_str().unwrap()), (503, "1"));
    assert!(res.text().await.unwrap().contains("Many people are signing in right now."));

    let token = form_token(&browser, &app.url("/account/password")).await;
    let res = browser
        .post(app.url("/account/password"))
        .form(&[("csrf_token", token.as_str()), ("current_password", PASSWORD), ("new_password", "another passphrase")])
        .send()
        .await
        .unwrap();
    assert_eq!((res.status().as_u16(), res.headers()["retry-after"].to_str().unwrap()), (503, "1"));
    assert!(res.text().await.unwrap().contains("Many people are signing in right now."));

    release.send(()).unwrap();
    assert_eq!(app.login(&stranger, &user.email, PASSWORD).await.status(), 303);
}

#[actix_web::test]
async fn a_hash_made_at_another_cost_verifies_and_is_upgraded_at_the_next_sign_in() {
    let app = TestApp::spawn_with(bounded).await;
    let (user, _) = app.user().create().await;
    let older = PasswordHashConfig { memory_kib: 128, iterations: 2, ..app.state.config.password_hash.clone() };
    let old_hash = PasswordHashing::new(&older).unwrap().hash(PASSWORD).await.unwrap();
    let (id, h) = (user.id.clone(), old_hash.clone());
    app.state
        .store
        .run(move |conn| Ok(diesel::update(users::table.find(&id)).set(users::password_hash.eq(&h)).execute(conn)?))
        .await
        .unwrap();
    let (_, changed_at) = stored_hash(&app, &user.id).await;

    assert_eq!(v1_login(&app, &user.email, "wrong password").await.0, 401);
    assert_eq!(stored_hash(&app, &user.id).await.0, old_hash, "a wrong password changes nothing");

    let (status, _, body) = v1_login(&app, &user.email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let (upgraded, changed_at_after) = stored_hash(&app, &user.id).await;
    assert!(upgraded.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{upgraded}");
    assert_eq!(changed_at_after, changed_at, "the password did not change, and its sessions live on");
    let access = body["data"]["access_token"].as_str().unwrap();
    let me = reqwest::Client::new().get(app.url("/v1/auth/me")).bearer_auth(access).send().await.unwrap();
    assert_eq!(me.status(), 200);

    assert_eq!(v1_login(&app, &user.email, PASSWORD).await.0, 200);
    assert_eq!(stored_hash(&app, &user.id).await.0, upgraded, "at the configured cost: not hashed again");
    assert_eq!(app.login(&app.new_browser(), &user.email, PASSWORD).await.status(), 303);
}

#[actix_web::test]
async fn unknown_emails_and_wrong_passwords_still_answer_alike_at_a_configured_cost() {
    let app = TestApp::spawn_with(bounded).await;
    let (user, _) = app.user().create().await;
    let (known, unknown) = (
        v1_login(&app, &user.email, "wrong password").await,
        v1_login(&app, "nobody@example.com", "wrong password").await,
    );
    let without_id = |mut b: Value| {
        b["error"]["request_id"] = Value::Null;
        b
    };
    assert_eq!((known.0, known.1.clone()), (unknown.0, unknown.1.clone()));
    assert_eq!(known.0, 401);
    assert_eq!(without_id(known.2), without_id(unknown.2));
}

/// A sign-in turned away because every slot is busy checked no password:
/// it uses up none of the account's or the address's attempts.
#[actix_web::test]
async fn sign_ins_turned_away_busy_use_up_no_attempts() {
    let app = TestApp::spawn_with(|c| {
        bounded(c);
        c.login_throttle.per_account = 2;
        c.login_throttle.per_ip = 2;
    })
    .await;
    let (user, _) = app.user().create().await;
    let release = hold_the_slot(&app).await;
    for _ in 0..4 {
        assert_eq!(v1_login(&app, &user.email, PASSWORD).await.0, 503);
    }
    release.send(()).unwrap();
    let (status, _, body) = v1_login(&app, &user.email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // The throttle still counts real failures.
    for _ in 0..2 {
        assert_eq!(v1_login(&app, &user.email, "wrong password").await.0, 401);
    }
    assert_eq!(v1_login(&app, &user.email, PASSWORD).await.0, 429);
}

/// A password longer than any password may be is refused at once, like a
/// wrong one: it waits for no slot (none is free here), counts no attempt
/// and holds nothing while others hash.
#[actix_web::test]
async fn an_overlong_password_is_refused_at_once_without_waiting_or_counting() {
    let app = TestApp::spawn_with(|c| {
        bounded(c);
        c.login_throttle.per_account = 1;
    })
    .await;
    let (user, _) = app.user().create().await;
    let release = hold_the_slot(&app).await;
    let huge = "A".repeat(portcullis::accounts::passwords::MAX_LENGTH + 1);
    for email in [user.email.as_str(), "nobody@example.com"] {
        let (status, _, body) = v1_login(&app, email, &huge).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("INVALID_CREDENTIALS")), "{body}");
    }
    release.send(()).unwrap();
    assert_eq!(v1_login(&app, &user.email, PASSWORD).await.0, 200, "no attempt was counted");
}
