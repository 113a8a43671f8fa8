//! OpenID Connect's pages in headless Chromium: the select-account page,
//! "Use another account", the login page asked for again though signed in,
//! and the code back at the app. `#[ignore]`d like every browser test.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::browser::{fill, open_browser, submit, text_of};
use crate::oidc_support::OIDC_SCOPES;
use crate::support::{PASSWORD, TestApp};

/// Waits until the browser is at the app's callback; its query.
async fn landed(b: &Client, callback: &str) -> std::collections::HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = b.current_url().await.unwrap();
        if url.as_str().starts_with(callback) {
            return url.query_pairs().into_owned().collect();
        }
        assert!(Instant::now() < deadline, "browser is at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn select_account_and_sign_in_again_in_chromium() {
    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let callback = format!("http://127.0.0.1:{port}/callback");
    let reg = app.oauth_client().await.scopes(&OIDC_SCOPES).redirect_uris(&[&callback]).create().await;
    let (first, _) = app.user().create().await;
    let (second, _) = app.user().create().await;
    let authorize = |prompt: &str, state: &str| {
        format!(
            "{}?response_type=code&client_id={}&redirect_uri={}&scope=openid%20email&state={state}&nonce=n-1\
             &prompt={prompt}&login_hint={}\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
            app.url("/oauth/authorize"),
            reg.client.client_id,
            crate::support::urlencode(&callback),
            crate::support::urlencode(&first.email),
        )
    };

    // Not signed in: the login page names the app, the hint is filled in.
    b.goto(&authorize("select_account", "s1")).await.unwrap();
    assert_eq!(text_of(&b, "app-name").await, "Example App");
    let email = b.find(Locator::Id("email")).await.unwrap().prop("value").await.unwrap();
    assert_eq!(email.as_deref(), Some(first.email.as_str()));
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    // Signing in chose the account: the consent page, then the app.
    b.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("approve")).await.unwrap().click().await.unwrap();
    assert!(landed(&b, &callback).await.contains_key("code"));

    // Signed in: who it is, "Use another account" leads to the login page.
    b.goto(&authorize("select_account", "s2")).await.unwrap();
    assert_eq!(text_of(&b, "signed-in-as").await, first.email);
    b.find(Locator::Id("other-account")).await.unwrap().click().await.unwrap();
    assert_eq!(text_of(&b, "reauth").await, "The app asks you to sign in again.");
    b.find(Locator::Id("email")).await.unwrap().clear().await.unwrap();
    fill(&b, "email", &second.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    b.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("approve")).await.unwrap().click().await.unwrap();
    let q = landed(&b, &callback).await;
    assert_eq!(q.get("state").map(String::as_str), Some("s2"));

    // prompt=login: the login page again, once, then straight to the app
    // (this user approved it before, and it is a confidential client).
    b.goto(&authorize("login", "s3")).await.unwrap();
    assert_eq!(text_of(&b, "reauth").await, "The app asks you to sign in again.");
    b.find(Locator::Id("email")).await.unwrap().clear().await.unwrap();
    fill(&b, "email", &second.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    let q = landed(&b, &callback).await;
    assert_eq!(q.get("state").map(String::as_str), Some("s3"));
    assert!(q.contains_key("code"));
    b.close().await.unwrap();
}
