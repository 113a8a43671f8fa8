//! Sign-in throttling: per account and per client IP, the same answer for
//! unknown and known emails, lifted when the window passes.

use chrono::Duration;

use crate::support::{PASSWORD, TestApp};

async fn attempt(app: &TestApp, email: &str, password: &str) -> (u16, Option<String>, String) {
    let res = app.login(&app.new_browser(), email, password).await;
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), retry, res.text().await.unwrap())
}

#[actix_web::test]
async fn repeated_failures_lock_the_account_then_the_window_frees_it() {
    let app = TestApp::spawn_with(|c| c.login_throttle.per_ip = 100).await;
    let (user, _) = app.user().create().await;
    for _ in 0..5 {
        let (status, retry, html) = attempt(&app, &user.email, "wrong password").await;
        assert_eq!((status, retry), (400, None));
        assert!(html.contains("Invalid email or password."));
    }
    // Locked: even the right password waits, and is told how long.
    let (status, retry, html) = attempt(&app, &user.email, PASSWORD).await;
    assert_eq!(status, 429);
    assert_eq!(retry.as_deref(), Some("900"));
    assert!(html.contains("Too many failed sign-in attempts. Try again in 15 minute(s)."), "{html}");

    app.clock.advance(Duration::seconds(600));
    let (status, retry, _) = attempt(&app, &user.email, PASSWORD).await;
    assert_eq!((status, retry.as_deref()), (429, Some("300")));

    app.clock.advance(Duration::seconds(301));
    let (status, _, _) = attempt(&app, &user.email, PASSWORD).await;
    assert_eq!(status, 303, "the window has passed");
}

#[actix_web::test]
async fn success_clears_the_account_failures() {
    let app = TestApp::spawn_with(|c| c.login_throttle.per_ip = 100).await;
    let (user, _) = app.user().create().await;
    for _ in 0..4 {
        assert_eq!(attempt(&app, &user.email, "wrong password").await.0, 400);
    }
    assert_eq!(attempt(&app, &user.email, PASSWORD).await.0, 303);
    for _ in 0..4 {
        assert_eq!(attempt(&app, &user.email, "wrong password").await.0, 400);
    }
    assert_eq!(attempt(&app, &user.email, PASSWORD).await.0, 303);
}

#[actix_web::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    let app = TestApp::spawn_with(|c| c.login_throttle.per_ip = 100).await;
    let (user, _) = app.user().create().await;
    let strip = |html: String, email: &str| {
        let start = html.find("name=\"csrf_token\" value=\"").unwrap();
        let end = html[start..].find('>').unwrap() + start;
        html[..start].to_owned() + &html[end..].replace(email, "EMAIL")
    };
    let known = attempt(&app, &user.email, "wrong password").await;
    let unknown = attempt(&app, "nobody@example.com", "wrong password").await;
    assert_eq!((known.0, &known.1), (unknown.0, &unknown.1));
    assert_eq!(strip(known.2, &user.email), strip(unknown.2, "nobody@example.com"));
    // Unknown emails are throttled too, so a lockout does not reveal an account.
    for _ in 0..4 {
        attempt(&app, "nobody@example.com", "wrong password").await;
    }
    assert_eq!(attempt(&app, "nobody@example.com", "x").await.0, 429);
}

#[actix_web::test]
async fn one_client_ip_spraying_many_accounts_is_throttled() {
    let app = TestApp::spawn_with(|c| c.login_throttle.per_ip = 3).await;
    let (user, _) = app.user().create().await;
    for i in 0..3 {
        assert_eq!(attempt(&app, &format!("spray{i}@example.com"), "guess").await.0, 400);
    }
    let (status, retry, _) = attempt(&app, &user.email, PASSWORD).await;
    assert_eq!(status, 429);
    assert_eq!(retry.as_deref(), Some("900"));
}

/// Finding 5: the attempt is counted before the password is checked, so a
/// burst of parallel guesses gets no more checks than the limit.
#[actix_web::test]
async fn parallel_wrong_passwords_on_the_login_page_get_at_most_the_limit_of_checks() {
    let app = TestApp::spawn_with(|c| {
        c.login_throttle.per_ip = 1000;
        c.pool_size = 8;
    })
    .await;
    let (user, _) = app.user().create().await;
    let (app, email) = (&app, &user.email);
    let guesses = (0..30).map(|i| async move {
        let browser = app.new_browser();
        app.login(&browser, email, &format!("wrong password {i}")).await.status().as_u16()
    });
    let mut statuses = futures_util::future::join_all(guesses).await;
    statuses.sort_unstable();
    let wrong = statuses.iter().filter(|s| **s == 400).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((wrong, throttled), (5, 25), "{statuses:?}");
}

#[actix_web::test]
async fn parallel_wrong_passwords_on_v1_login_get_at_most_the_limit_of_checks() {
    let app = TestApp::spawn_with(|c| {
        c.login_throttle.per_ip = 1000;
        c.pool_size = 8;
    })
    .await;
    let (user, _) = app.user().create().await;
    let app = &app;
    let guesses = (0..30).map(|i| {
        let body = serde_json::json!({ "email": user.email, "password": format!("wrong password {i}") });
        async move {
            let res = app.client.post(app.url("/v1/auth/login")).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
        }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let wrong = answers.iter().filter(|a| *a == &(401, "INVALID_CREDENTIALS".to_owned())).count();
    let throttled = answers.iter().filter(|a| *a == &(429, "RATE_LIMITED".to_owned())).count();
    assert_eq!((wrong, throttled), (5, 25), "{answers:?}");
}

/// The reservation of a successful sign-in is released: failures under the
/// limit, even in parallel, never stop the right password.
#[actix_web::test]
async fn a_right_password_after_parallel_failures_under_the_limit_still_works() {
    let app = TestApp::spawn_with(|c| c.login_throttle.per_ip = 1000).await;
    let (user, _) = app.user().create().await;
    let guesses = (0..4).map(|_| async { app.login(&app.new_browser(), &user.email, "wrong").await.status().as_u16() });
    assert_eq!(futures_util::future::join_all(guesses).await, vec![400; 4]);
    assert_eq!(attempt(&app, &user.email, PASSWORD).await.0, 303);
    // The success cleared the account: five more failures before the lock.
    let guesses = (0..6).map(|_| async { app.login(&app.new_browser(), &user.email, "wrong").await.status().as_u16() });
    let mut statuses = futures_util::future::join_all(guesses).await;
    statuses.sort_unstable();
    assert_eq!(statuses, vec![400, 400, 400, 400, 400, 429]);
}

/// Finding 7: behind a trusted proxy, the client is the rightmost
/// `X-Forwarded-For` hop the proxy wrote, so varying the leftmost entry
/// neither escapes the per-IP throttle nor forges the audit IP.
#[actix_web::test]
async fn a_forged_leftmost_forwarded_for_neither_escapes_the_ip_throttle_nor_the_audit() {
    let app = TestApp::spawn_with(|c| {
        c.login_throttle.per_ip = 3;
        c.login_throttle.per_account = 100;
        c.trusted_proxies = vec!["127.0.0.0/8".to_owned()].try_into().unwrap();
    })
    .await;
    let (user, org) = app.user().create().await;
    let app = &app;
    let login_via_proxy = |forged: String, email: String, password: &'static str| async move {
        let browser = app.new_browser();
        let token = crate::support::form_token(&browser, &app.url("/login")).await;
        browser
            .post(app.url("/login"))
            .header("x-forwarded-for", format!("{forged}, 203.0.113.9"))
            .form(&[("csrf_token", token.as_str()), ("email", email.as_str()), ("password", password)])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(login_via_proxy("6.6.6.1".into(), user.email.clone(), "wrong").await, 400);
    let failed = crate::support::audit_events_eventually(app, &org.id, "login.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].ip.as_deref(), Some("203.0.113.9"), "the proxy's word, not the client's");
    for i in 2..=3 {
        assert_eq!(login_via_proxy(format!("6.6.6.{i}"), format!("spray{i}@example.com"), "guess").await, 400);
    }
    assert_eq!(login_via_proxy("6.6.6.4".into(), user.email.clone(), PASSWORD).await, 429);
    // Another client behind the same proxy is not affected.
    let browser = app.new_browser();
    let token = crate::support::form_token(&browser, &app.url("/login")).await;
    let res = browser
        .post(app.url("/login"))
        .header("x-forwarded-for", "198.51.100.20")
        .form(&[("csrf_token", token.as_str()), ("email", user.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

/// Without trusted proxies, a forwarding header is the client's own word:
/// ignored.
#[actix_web::test]
async fn without_trusted_proxies_forwarding_headers_are_ignored() {
    let app = TestApp::spawn_with(|c| c.login_throttle.per_ip = 2).await;
    for i in 0..2 {
        let browser = app.new_browser();
        let token = crate::support::form_token(&browser, &app.url("/login")).await;
        let res = browser
            .post(app.url("/login"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .header("forwarded", format!("for=198.51.100.{i}"))
            .form(&[("csrf_token", token.as_str()), ("email", "a@example.com"), ("password", "guess")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    }
    assert_eq!(attempt(&app, "b@example.com", "guess").await.0, 429);
}

/// Account enumeration by timing: an unknown email costs the same password
/// verification as a known one with a wrong password, so the two take the
/// same time. Measured against a sign-in that hashes nothing (an overlong
/// password, refused at once), so the test sees a missing hash: without it
/// an unknown email would answer as fast as that.
#[actix_web::test]
async fn unknown_and_known_emails_take_the_same_time_to_refuse() {
    use std::time::{Duration as Elapsed, Instant};
    let app = TestApp::spawn_with(|c| {
        // A cost well above the request's own (and its database work), below the default's.
        (c.password_hash.memory_kib, c.password_hash.iterations) = (16_384, 2);
        (c.login_throttle.per_ip, c.login_throttle.per_account) = (1000, 1000);
    })
    .await;
    let (user, _) = app.user().create().await;
    let client = reqwest::Client::new();
    let timed = async |email: &str, password: &str| {
        let started = Instant::now();
        let res = client
            .post(app.url("/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        started.elapsed()
    };
    // Signed in once: the stored hash is remade at the configured cost (the
    // builder's is made at another), as every active user's is.
    let res = client
        .post(app.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": user.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let overlong = "A".repeat(portcullis::accounts::passwords::MAX_LENGTH + 1);
    let (mut known, mut unknown, mut unhashed) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so the machine's load falls on all three alike.
    for i in 0..12 {
        known.push(timed(&user.email, "wrong password").await);
        unknown.push(timed(&format!("nobody{i}@example.com"), "wrong password").await);
        unhashed.push(timed(&user.email, &overlong).await);
    }
    let median = |mut v: Vec<Elapsed>| {
        v.sort();
        v[v.len() / 2]
    };
    let (known, unknown, unhashed) = (median(known), median(unknown), median(unhashed));
    eprintln!("sign-in refusals, medians: known email {known:?}, unknown {unknown:?}, no hash {unhashed:?}");
    assert!(
        known > unhashed * 3,
        "the hash must show in the time for the test to mean anything: {known:?} vs {unhashed:?}"
    );
    assert!(
        unknown * 2 > known && unknown < known * 2,
        "an unknown email answers in {unknown:?}, a known one in {known:?}: the difference tells them apart"
    );
}
