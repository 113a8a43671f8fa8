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
