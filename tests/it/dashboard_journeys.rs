//! Whole journeys of new people, clicked through in Chromium: a newcomer
//! from a third-party app's sign-in, a newcomer who registers an app of
//! their own, and an invitation read from the email it came in.

use fantoccini::{Client, Locator};
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, Scope, TokenResponse};
use portcullis::accounts::Role;

use crate::browser::{
    AppCallback, assert_fits_a_phone, click, fill, open_browser, screenshot, sign_in, submit, text_of, wait_for,
    wait_for_path,
};
use crate::email::SmtpSink;
use crate::oauth_support::Registered;
use crate::support::{PASSWORD, TestApp, urlencode};

/// An app sending its email to `sink`.
async fn app_sending_to(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(move |c| c.smtp_url = Some(url)).await
}

/// GET /oauth/userinfo with `token`: status and claims.
async fn userinfo(app: &TestApp, token: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new().get(app.url("/oauth/userinfo")).bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// The browser's path and query.
async fn here(b: &Client) -> String {
    let url = b.current_url().await.unwrap();
    format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default())
}

/// The app's authorization request for `scopes`, made by the oauth2
/// crate with PKCE: its URL, state and code verifier.
fn authorization(app: &TestApp, reg: &Registered, scopes: &[&str]) -> (url::Url, CsrfToken, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = app
        .oauth2_client(reg)
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
        .set_pkce_challenge(challenge)
        .url();
    (url, state, verifier)
}

/// Exchanges the code through the oauth2 crate, as the app would; the
/// access token.
async fn exchange(app: &TestApp, reg: &Registered, code: &str, verifier: PkceCodeVerifier) -> String {
    let token = app
        .oauth2_client(reg)
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(verifier)
        .request_async(&crate::oauth_code::http())
        .await
        .unwrap_or_else(|e| panic!("the code exchange failed: {e:?}"));
    token.access_token().secret().clone()
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn a_newcomer_from_an_apps_sign_in_creates_an_account_and_the_app_gets_a_working_token_in_chromium() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let (_driver, b) = open_browser().await;
    let app_callback = AppCallback::start();
    let callback = app_callback.url.clone();
    let (maker, maker_org) = app.user().org("Northwind Apps").create().await;
    let reg = app
        .client_in(&maker_org.id, &maker.id)
        .redirect_uris(&[&callback])
        .scopes(&["openid", "email", "read"])
        .create()
        .await;
    let (url, state, verifier) = authorization(&app, &reg, &["openid", "email", "read"]);

    // The app sends a newcomer to sign in; they have no account yet.
    b.goto(url.as_str()).await.unwrap();
    wait_for(&b, Locator::Id("signup-link")).await;
    let login = b.current_url().await.unwrap();
    assert_eq!(login.path(), "/login");
    // The sign-in page goes back to the request (with what the server added to it).
    let return_to = login.query_pairs().find(|(k, _)| k == "return_to").expect("a return_to").1.into_owned();
    assert!(return_to.starts_with(&format!("{}?{}", url.path(), url.query().unwrap())), "{login}");
    let return_to = urlencode(&return_to);
    screenshot(&b, "journey-login-from-app").await;
    click(&b, Locator::Id("signup-link")).await;
    wait_for_path(&b, &format!("/signup?return_to={return_to}")).await;
    screenshot(&b, "journey-signup-from-app").await;
    assert_fits_a_phone(&b, "journey-signup-from-app").await;
    // An account to use the app with: no organization asked for or made.
    assert!(text_of(&b, "for-app").await.contains("Example App"));
    assert!(b.find(Locator::Id("organization")).await.is_err(), "no organization field");
    fill(&b, "email", "grace@example.com").await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/signup").await;

    // Back on the sign-in page, still on the way to the app.
    wait_for(&b, Locator::Id("notice")).await;
    let after = here(&b).await;
    assert!(after.starts_with("/login?notice=signed-up"), "{after}");
    assert!(after.ends_with(&format!("return_to={return_to}")), "{after}");
    assert_eq!(text_of(&b, "notice").await, "If this email was new, your account is ready: sign in.");
    sign_in(&b, "grace@example.com").await;

    // The consent page of the app that sent them.
    let approve = wait_for(&b, Locator::Id("approve")).await;
    assert_eq!(text_of(&b, "app-name").await, "Example App");
    assert_eq!(text_of(&b, "app-org").await, "Northwind Apps");
    assert_eq!(text_of(&b, "redirect-to").await, callback);
    approve.click().await.unwrap();

    // The app gets its code, exchanges it, and the token speaks for the newcomer.
    let q = app_callback.landed(&b).await;
    assert_eq!(q.get("state"), Some(state.secret()));
    let access = exchange(&app, &reg, q.get("code").expect("a code"), verifier).await;
    let (status, claims) = userinfo(&app, &access).await;
    assert_eq!(status, 200, "{claims}");
    let user = app.state.accounts.user_by_email("grace@example.com").await.unwrap().expect("the account was made");
    assert_eq!(claims["email"], "grace@example.com");
    assert_eq!(claims["email_verified"], false, "not confirmed yet");
    assert!(app.state.accounts.memberships(&user.user.id).await.unwrap().is_empty(), "no organization was made");

    // The confirmation email, opened in the same browser: the app sees the address confirmed.
    let message = sink.message_to("grace@example.com").await;
    let link = message.link("/verify-email");
    b.goto(&app.url(&link)).await.unwrap();
    screenshot(&b, "journey-verify-email").await;
    assert_fits_a_phone(&b, "journey-verify-email").await;
    submit(&b, "/verify-email").await;
    assert_eq!(text_of(&b, "verify-done").await, "Thank you: your email address is confirmed.");
    let (status, claims) = userinfo(&app, &access).await;
    assert_eq!((status, &claims["email_verified"]), (200, &serde_json::json!(true)), "{claims}");
    b.close().await.unwrap();
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn a_newcomer_signs_up_registers_an_app_and_signs_in_through_it_in_chromium() {
    let app = TestApp::spawn().await;
    let (_driver, b) = open_browser().await;
    let app_callback = AppCallback::start();
    let callback = app_callback.url.clone();

    b.goto(&app.url("/signup")).await.unwrap();
    fill(&b, "email", "mae@example.com").await;
    fill(&b, "password", PASSWORD).await;
    fill(&b, "organization", "Jemison Orbital").await;
    submit(&b, "/signup").await;
    wait_for_path(&b, "/login?notice=signed-up").await;
    sign_in(&b, "mae@example.com").await;
    wait_for_path(&b, "/dashboard").await;
    assert_eq!(text_of(&b, "organization").await, "Jemison Orbital");

    // The apps tab: register an app by clicking.
    click(&b, Locator::Css("nav.tabs a[href$='/apps']")).await;
    let apps_path = wait_for(&b, Locator::Id("register-app")).await;
    drop(apps_path);
    let apps_path = here(&b).await;
    fill(&b, "name", "Orbital Console").await;
    fill(&b, "redirect_uris", &callback).await;
    click(&b, Locator::Id("scope-openid")).await;
    click(&b, Locator::Id("scope-email")).await;
    // What the browser would post again on a reload of the answer: the form as it is now.
    b.execute("sessionStorage.setItem('form', document.querySelector('form.app-form').outerHTML)", vec![])
        .await
        .unwrap();
    click(&b, Locator::Id("register")).await;
    let client_id = text_of(&b, "client-id").await;
    let secret = text_of(&b, "client-secret").await;

    // The same form posted again (a reload of this page): nothing new, the secret not shown again.
    b.execute(
        "document.body.insertAdjacentHTML('beforeend', sessionStorage.getItem('form'));\
         document.body.lastElementChild.submit();",
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(text_of(&b, "already-title").await, "This app was already registered");
    screenshot(&b, "already-made").await;
    assert_fits_a_phone(&b, "already-made").await;
    click(&b, Locator::Id("to-list")).await;
    wait_for_path(&b, &apps_path).await;
    let listed = wait_for(&b, Locator::Id("apps")).await.text().await.unwrap();
    assert_eq!(listed.matches("Orbital Console").count(), 1, "{listed}");
    assert!(listed.contains(&client_id), "{listed}");

    // The code flow with the new app through the consent page, same browser.
    let client = (*app.state.oauth.clients.get(&client_id).await.unwrap().expect("registered")).clone();
    let reg = Registered { client, secret: Some(secret) };
    let (url, state, verifier) = authorization(&app, &reg, &["openid", "email"]);
    b.goto(url.as_str()).await.unwrap();
    assert_eq!(text_of(&b, "app-name").await, "Orbital Console");
    assert_eq!(text_of(&b, "app-org").await, "Jemison Orbital");
    click(&b, Locator::Id("approve")).await;
    let q = app_callback.landed(&b).await;
    assert_eq!(q.get("state"), Some(state.secret()));
    let access = exchange(&app, &reg, q.get("code").expect("a code"), verifier).await;
    let (status, claims) = userinfo(&app, &access).await;
    assert_eq!(status, 200, "{claims}");
    assert_eq!(claims["email"], "mae@example.com");

    // The list counts the one person who authorized it.
    b.goto(&app.url(&apps_path)).await.unwrap();
    let users = wait_for(&b, Locator::Css(&format!("#app-{client_id} .authorized-users"))).await;
    assert_eq!(users.text().await.unwrap(), "1 user");
    b.close().await.unwrap();
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn an_emailed_invitation_is_accepted_in_a_second_browser_and_the_switcher_goes_between_both_in_chromium() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let (owner, org) = app.user().org("Globex").create().await;
    let (invitee, own) = app.user().org("Initech").email("sam@initech.example").create().await;
    let members = format!("/dashboard/orgs/{}/members", org.id);

    // The owner invites from the members page.
    let (_driver, b) = open_browser().await;
    b.goto(&app.url(&members)).await.unwrap();
    sign_in(&b, &owner.email).await;
    wait_for_path(&b, &members).await;
    fill(&b, "invite-email", &invitee.email).await;
    click(&b, Locator::Css("#invite-role option[value='DEVELOPER']")).await;
    submit(&b, &format!("/dashboard/orgs/{}/invitations", org.id)).await;
    assert_eq!(text_of(&b, "invited-email").await, invitee.email);
    let shown = wait_for(&b, Locator::Id("invitation-link")).await.prop("value").await.unwrap().unwrap();

    // The email, as the SMTP server got it: the same link.
    let message = sink.message_to(&invitee.email).await;
    assert!(message.subject().contains("Globex"), "{}", message.subject());
    let link = app.url(&message.link("/invitations/"));
    assert_eq!(link, shown);

    // A second browser: the invited person opens the emailed link, signs
    // in (a minute later: their own organization stays their first), accepts.
    app.clock.advance(chrono::Duration::minutes(1));
    let (_driver2, b2) = open_browser().await;
    b2.goto(&link).await.unwrap();
    sign_in(&b2, &invitee.email).await;
    assert_eq!(text_of(&b2, "invitation-org").await, "Globex");
    screenshot(&b2, "invitation").await;
    assert_fits_a_phone(&b2, "invitation").await;
    click(&b2, Locator::Id("accept")).await;
    wait_for_path(&b2, "/dashboard").await;
    assert_eq!(text_of(&b2, "organization").await, "Initech");

    // The switcher lists both organizations, with the role in each.
    click(&b2, Locator::Css("details.switcher summary")).await;
    let listed = wait_for(&b2, Locator::Css("details.switcher ul")).await.text().await.unwrap();
    assert_eq!(listed.lines().collect::<Vec<_>>(), ["Initech OWNER", "Globex DEVELOPER"], "{listed}");
    screenshot(&b2, "switcher").await;
    assert_fits_a_phone(&b2, "switcher").await;
    click(&b2, Locator::Css(&format!("details.switcher a[href='/dashboard/orgs/{}']", org.id))).await;
    wait_for_path(&b2, &format!("/dashboard/orgs/{}", org.id)).await;
    assert_eq!(text_of(&b2, "organization").await, "Globex");
    assert_eq!(text_of(&b2, "role").await, "DEVELOPER");

    // Each page acts for the chosen organization; switching keeps the section.
    click(&b2, Locator::Css(&format!("nav.tabs a[href='/dashboard/orgs/{}/keys']", org.id))).await;
    wait_for_path(&b2, &format!("/dashboard/orgs/{}/keys", org.id)).await;
    click(&b2, Locator::Css("details.switcher summary")).await;
    click(&b2, Locator::Css(&format!("details.switcher a[href='/dashboard/orgs/{}/keys']", own.id))).await;
    wait_for_path(&b2, &format!("/dashboard/orgs/{}/keys", own.id)).await;
    assert_eq!(text_of(&b2, "organization").await, "Initech");
    assert_eq!(text_of(&b2, "role").await, "OWNER");
    b2.close().await.unwrap();

    assert_eq!(app.state.accounts.member(&org.id, &invitee.id).await.unwrap().map(|m| m.role), Some(Role::Developer));
    b.goto(&app.url(&members)).await.unwrap();
    assert!(text_of(&b, "members").await.contains(&invitee.email));
    b.close().await.unwrap();
}
