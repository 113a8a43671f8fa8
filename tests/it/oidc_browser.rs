//! OpenID Connect's pages in headless Chromium: the select-account page,
//! "Use another account", the login page asked for again though signed in,
//! and the code back at the app. `#[ignore]`d like every browser test.

use fantoccini::Locator;

use crate::browser::{AppCallback, click, fill, open_browser, submit, text_of, wait_for};
use crate::oidc_support::OIDC_SCOPES;
use crate::support::{PASSWORD, TestApp};

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn select_account_and_sign_in_again_in_chromium() {
    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;
    let app_callback = AppCallback::start();
    let callback = app_callback.url.clone();
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
    let email = wait_for(&b, Locator::Id("email")).await.prop("value").await.unwrap();
    assert_eq!(email.as_deref(), Some(first.email.as_str()));
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    // Signing in chose the account: the consent page, then the app.
    click(&b, Locator::Id("approve")).await;
    assert!(app_callback.landed(&b).await.contains_key("code"));

    // Signed in: who it is, "Use another account" leads to the login page.
    b.goto(&authorize("select_account", "s2")).await.unwrap();
    assert_eq!(text_of(&b, "signed-in-as").await, first.email);
    click(&b, Locator::Id("other-account")).await;
    assert_eq!(text_of(&b, "reauth").await, "The app asks you to sign in again.");
    wait_for(&b, Locator::Id("email")).await.clear().await.unwrap();
    fill(&b, "email", &second.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    click(&b, Locator::Id("approve")).await;
    let q = app_callback.landed(&b).await;
    assert_eq!(q.get("state").map(String::as_str), Some("s2"));

    // prompt=login: the login page again, once, then straight to the app
    // (this user approved it before, and it is a confidential client).
    b.goto(&authorize("login", "s3")).await.unwrap();
    assert_eq!(text_of(&b, "reauth").await, "The app asks you to sign in again.");
    wait_for(&b, Locator::Id("email")).await.clear().await.unwrap();
    fill(&b, "email", &second.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    let q = app_callback.landed(&b).await;
    assert_eq!(q.get("state").map(String::as_str), Some("s3"));
    assert!(q.contains_key("code"));
    b.close().await.unwrap();
}
