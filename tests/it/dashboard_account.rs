//! A person's own account pages: `/account/apps` (the apps they authorized,
//! and revoking one, which ends its tokens), and `/account` (signing out
//! everywhere, the password change's reach, deleting the account).

use fantoccini::Locator;
use portcullis::accounts::Role;
use serde_json::json;

use crate::api_session::post;
use crate::authorized_apps::{access_only, third_party, userinfo};
use crate::browser::{
    AppCallback, assert_fits_a_phone, click, fill, open_browser, screenshot, submit, text_of, wait_for, wait_for_path,
};
use crate::oauth_code::tokens_as;
use crate::oauth_support::{Registered, redeem};
use crate::oidc_support::signed_in_user;
use crate::refresh_race::{active, refresh, revoked};
use crate::support::{PASSWORD, TestApp, audit_events_eventually, call, csrf_token, form_token, location};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// A `/v1/auth/login` session of `email`: (access token, refresh token).
async fn dashboard_tokens(app: &TestApp, email: &str) -> (String, String) {
    let (s, _, b) = post(app, "/v1/auth/login", None, json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(s, 200, "{b}");
    (b["data"]["access_token"].as_str().unwrap().to_owned(), b["data"]["refresh_token"].as_str().unwrap().to_owned())
}

async fn me(app: &TestApp, token: &str) -> u16 {
    call(app, "GET", "/v1/auth/me", token, None).await.0
}

async fn dashboard_refresh(app: &TestApp, refresh_token: &str) -> u16 {
    post(app, "/v1/auth/refresh", None, json!({"refresh_token": refresh_token})).await.0
}

async fn page(browser: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let res = browser.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// POSTs a form: status, Location and body.
async fn send(browser: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let res = browser.post(app.url(path)).form(form).send().await.unwrap();
    let (status, to) = (res.status().as_u16(), location(&res));
    (status, to, res.text().await.unwrap())
}

fn revoke_path(reg: &Registered) -> String {
    format!("/account/apps/{}/revoke", reg.client.client_id)
}

#[actix_web::test]
async fn authorized_apps_page_lists_the_apps_and_revoking_one_ends_its_tokens() {
    let app = TestApp::spawn().await;
    let reg = third_party(&app).await;
    let (browser, user_id, _) = signed_in_user(&app).await;
    let (refresh_token, access) = tokens_as(&app, &browser, &reg, "openid read offline_access").await;
    let without_refresh = access_only(&app, &browser, &reg, "openid read").await;

    // The consent page's approval was told to the app's organization.
    let granted = audit_events_eventually(&app, &reg.client.organization_id, "consent.granted").await;
    assert!(!granted.is_empty());
    assert_eq!(granted[0].target.as_deref(), Some(reg.client.client_id.as_str()));
    assert_eq!(granted[0].actor, format!("user:{user_id}"));
    assert_eq!(granted[0].details["user_id"], json!(user_id));

    let (s, html) = page(&browser, &app, "/account/apps").await;
    assert_eq!(s, 200);
    assert!(html.contains(r#"<h2 id="app-"#) && html.contains(">Example App</h2>"), "{html}");
    assert!(html.contains(&format!("by {}", reg.client.organization_name)), "{html}");
    assert!(html.contains("<strong>Read your data</strong> <code>read</code>"), "scopes with descriptions: {html}");
    assert!(html.contains("Stay connected when you are not using the app"), "{html}");
    assert!(html.contains(">app.example</a>"), "the homepage: {html}");
    assert!(html.contains("<dt>Authorized</dt>") && html.contains(" UTC</dd>"), "{html}");
    assert!(!html.contains("Not known"), "the tokens it got tell when it was last used: {html}");
    assert!(html.contains(&format!(r#"action="{}""#, revoke_path(&reg))), "{html}");
    assert!(html.contains("will lose access to your account now"), "the confirmation says what happens: {html}");

    // Without the form's token nothing happens.
    let (s, _, _) = send(&browser, &app, &revoke_path(&reg), &[("csrf_token", "")]).await;
    assert_eq!(s, 403);
    assert!(active(&app, &reg, &access).await);

    let csrf = csrf_token(&html);
    let (s, to, _) = send(&browser, &app, &revoke_path(&reg), &[("csrf_token", &csrf)]).await;
    assert_eq!((s, to.as_str()), (303, format!("/account/apps?revoked={}", reg.client.client_id).as_str()));
    let (_, html) = page(&browser, &app, &to).await;
    assert!(html.contains("Access revoked: Example App can no longer use your account."), "{html}");
    assert!(html.contains(r#"id="no-apps""#), "{html}");

    // The consent's refresh-token family ended and its access tokens are dead.
    assert_eq!(refresh(&app, &reg, &refresh_token).await, (400, revoked()));
    for token in [&without_refresh, &access] {
        assert!(!active(&app, &reg, token).await, "introspection says inactive");
        assert_eq!(userinfo(&app, token).await, 401, "userinfo refuses it");
    }
    let events = audit_events_eventually(&app, &reg.client.organization_id, "consent.revoked").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, format!("user:{user_id}"));
    assert_eq!(events[0].target.as_deref(), Some(reg.client.client_id.as_str()));

    // Gone now, and an app the person never authorized is no one's here.
    let (s, _, _) = send(&browser, &app, &revoke_path(&reg), &[("csrf_token", &csrf)]).await;
    assert_eq!(s, 404);
    let other = third_party(&app).await;
    let (other_browser, _, _) = signed_in_user(&app).await;
    let (other_refresh, _) = tokens_as(&app, &other_browser, &other, "read offline_access").await;
    let (s, _, _) = send(&browser, &app, &revoke_path(&other), &[("csrf_token", &csrf)]).await;
    assert_eq!(s, 404, "another person's authorization is not found");
    assert_eq!(refresh(&app, &other, &other_refresh).await.0, 200, "and stays");

    // Signed out: the sign-in page, coming back here.
    let res = app.new_browser().get(app.url("/account/apps")).send().await.unwrap();
    assert_eq!(location(&res), "/login?return_to=%2Faccount%2Fapps");
}

#[actix_web::test]
async fn account_page_shows_the_email_and_organizations_and_links_back() {
    let app = TestApp::spawn().await;
    let (user, org) = app.user().role(Role::Admin).create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let (s, html) = page(&browser, &app, "/account").await;
    assert_eq!(s, 200);
    assert!(html.contains(&format!(r#"<dd id="account-email">{}</dd>"#, user.email)), "{html}");
    assert!(html.contains(&format!(
        r#"<a href="/dashboard/orgs/{}">{}</a> <span class="badge">ADMIN</span>"#,
        org.id, org.name
    )));
    for link in [r#"href="/dashboard""#, r#"href="/account/password""#, r#"href="/account/apps""#] {
        assert!(html.contains(link), "{link}: {html}");
    }
    // The organization pages' header leads here.
    let (_, html) = page(&browser, &app, &format!("/dashboard/orgs/{}", org.id)).await;
    assert!(html.contains(r#"<a href="/account">Account</a>"#), "{html}");
}

#[actix_web::test]
async fn sign_out_everywhere_ends_every_session_and_dashboard_token() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let (laptop, phone) = (app.new_browser(), app.new_browser());
    assert_eq!(app.login(&laptop, &user.email, PASSWORD).await.status(), 303);
    assert_eq!(app.login(&phone, &user.email, PASSWORD).await.status(), 303);
    let (access, refresh_token) = dashboard_tokens(&app, &user.email).await;
    assert_eq!(me(&app, &access).await, 200);

    let (s, _, _) = send(&laptop, &app, "/account/sign-out-everywhere", &[("csrf_token", "")]).await;
    assert_eq!(s, 403, "a POST without the form's token is refused");
    assert_eq!(me(&app, &access).await, 200);
    app.dashboard(&phone).await;

    let csrf = form_token(&laptop, &app.url("/account")).await;
    let res = laptop.post(app.url("/account/sign-out-everywhere")).form(&[("csrf_token", &csrf)]).send().await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/login?notice=signed-out-everywhere".to_owned()));
    let (_, html) = page(&laptop, &app, "/login?notice=signed-out-everywhere").await;
    assert!(html.contains("You are signed out everywhere."), "{html}");

    for browser in [&laptop, &phone] {
        let res = browser.get(app.url("/dashboard")).send().await.unwrap();
        assert_eq!(res.status(), 303, "every session ended, this one too");
    }
    assert_eq!(me(&app, &access).await, 401, "the /v1 token ended");
    assert_eq!(dashboard_refresh(&app, &refresh_token).await, 401, "and its refresh token");
    // Signing in again works.
    assert_eq!(app.login(&laptop, &user.email, PASSWORD).await.status(), 303);
}

#[actix_web::test]
async fn a_password_change_ends_the_dashboard_tokens_and_says_what_is_wrong_next_to_the_field() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let (access, refresh_token) = dashboard_tokens(&app, &user.email).await;
    let csrf = form_token(&browser, &app.url("/account/password")).await;

    let (s, _, html) = send(
        &browser,
        &app,
        "/account/password",
        &[("csrf_token", &csrf), ("current_password", "not my password"), ("new_password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        html.contains(r#"<p class="error field-error" id="current_password-error" role="alert">The current password is not correct.</p>"#),
        "{html}"
    );
    let (s, _, html) = send(
        &browser,
        &app,
        "/account/password",
        &[("csrf_token", &csrf), ("current_password", PASSWORD), ("new_password", "short")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(html.contains(r#"id="new_password-error""#), "{html}");
    assert!(!html.contains(r#"id="current_password-error""#), "{html}");
    assert_eq!(me(&app, &access).await, 200, "nothing changed yet");

    let (s, to, _) = send(
        &browser,
        &app,
        "/account/password",
        &[("csrf_token", &csrf), ("current_password", PASSWORD), ("new_password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!((s, to.as_str()), (303, "/account/password?done=1"));
    assert_eq!(me(&app, &access).await, 401, "the /v1 token ended with the old password");
    assert_eq!(dashboard_refresh(&app, &refresh_token).await, 401);
    app.dashboard(&browser).await;
}

#[actix_web::test]
async fn deleting_the_account_is_refused_to_the_last_owner_of_a_team_and_otherwise_ends_everything() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (member, _) = app.user().org(&org.id).role(Role::Developer).create().await;
    let owner_browser = app.new_browser();
    assert_eq!(app.login(&owner_browser, &owner.email, PASSWORD).await.status(), 303);

    // The last OWNER of an organization with another member: told before
    // trying, refused when trying, and told which.
    let (_, html) = page(&owner_browser, &app, "/account").await;
    assert!(
        html.contains(&format!(
            r#"<p class="error" id="delete-blocked">You are the last OWNER of “{}”, which has other members or data."#,
            org.name
        )),
        "{html}"
    );
    let csrf = csrf_token(&html);
    let (s, _, html) =
        send(&owner_browser, &app, "/account/delete", &[("csrf_token", &csrf), ("current_password", PASSWORD)]).await;
    assert_eq!(s, 400);
    assert!(html.contains(&format!("You are the last OWNER of “{}”", org.name)), "{html}");
    assert!(html.contains(r#"id="delete-refused""#) && html.contains("<details class=\"confirm\" open>"), "{html}");
    assert_eq!(app.login(&app.new_browser(), &owner.email, PASSWORD).await.status(), 303, "nothing was deleted");

    // The member deletes their own account.
    let browser = app.new_browser();
    let other_session = app.new_browser();
    assert_eq!(app.login(&browser, &member.email, PASSWORD).await.status(), 303);
    assert_eq!(app.login(&other_session, &member.email, PASSWORD).await.status(), 303);
    let (_, key) = app.secret_key(&org.id, &member.id, &["read"]).await;
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 200);
    let (access, _) = dashboard_tokens(&app, &member.email).await;
    let reg = third_party(&app).await;
    let app_token = access_only(&app, &browser, &reg, "openid read").await;
    assert!(active(&app, &reg, &app_token).await);

    let csrf = form_token(&browser, &app.url("/account")).await;
    // Without the form's token, without a password, with a wrong one: nothing happens.
    let (s, _, _) =
        send(&browser, &app, "/account/delete", &[("csrf_token", ""), ("current_password", PASSWORD)]).await;
    assert_eq!(s, 403);
    let (s, _, html) =
        send(&browser, &app, "/account/delete", &[("csrf_token", &csrf), ("current_password", "")]).await;
    assert_eq!(s, 400);
    assert!(html.contains("Enter your current password to delete your account."), "{html}");
    let (s, _, html) =
        send(&browser, &app, "/account/delete", &[("csrf_token", &csrf), ("current_password", "not my password")])
            .await;
    assert_eq!(s, 400);
    assert!(
        html.contains(r#"<p class="error field-error" id="delete_password-error" role="alert">The current password is not correct.</p>"#),
        "{html}"
    );
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 200);

    let (s, to, _) =
        send(&browser, &app, "/account/delete", &[("csrf_token", &csrf), ("current_password", PASSWORD)]).await;
    assert_eq!((s, to.as_str()), (303, "/login?notice=account-deleted"));
    let (_, html) = page(&owner_browser, &app, "/account").await;
    assert!(!html.contains("delete-blocked"), "alone in the organization now, the owner may go: {html}");
    let (_, html) = page(&browser, &app, &to).await;
    assert!(html.contains("Your account was deleted."), "{html}");

    assert_eq!(app.login(&app.new_browser(), &member.email, PASSWORD).await.status(), 400, "sign-in fails");
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 401, "the key they made is dead");
    assert_eq!(me(&app, &access).await, 401, "their /v1 token too");
    assert!(!active(&app, &reg, &app_token).await, "and an app's token for them");
    assert_eq!(userinfo(&app, &app_token).await, 401);
    assert_eq!(other_session.get(app.url("/dashboard")).send().await.unwrap().status(), 303);
    assert!(app.state.accounts.user(&member.id).await.unwrap().is_none(), "the user is gone");
    let events = audit_events_eventually(&app, &org.id, "user.deleted").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].target.as_deref(), Some(member.id.as_str()));
    assert_eq!(events[0].details["role"], "DEVELOPER");

    // Now alone in it, the owner may go, and the organization (holding
    // nothing else) with them.
    let csrf = form_token(&owner_browser, &app.url("/account")).await;
    let (s, to, _) =
        send(&owner_browser, &app, "/account/delete", &[("csrf_token", &csrf), ("current_password", PASSWORD)]).await;
    assert_eq!((s, to.as_str()), (303, "/login?notice=account-deleted"));
    assert_eq!(app.login(&app.new_browser(), &owner.email, PASSWORD).await.status(), 400);
    assert!(
        app.state.accounts.rename_organization(&org.id, "Anything").await.unwrap().is_none(),
        "the organization went with its only member"
    );
}

#[actix_web::test]
async fn the_last_owner_of_an_organization_with_data_cannot_delete_the_account() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    app.secret_key(&org.id, &owner.id, &["read"]).await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &owner.email, PASSWORD).await.status(), 303);
    let csrf = form_token(&browser, &app.url("/account")).await;
    let (s, _, html) =
        send(&browser, &app, "/account/delete", &[("csrf_token", &csrf), ("current_password", PASSWORD)]).await;
    assert_eq!(s, 400);
    assert!(html.contains(&format!("You are the last OWNER of “{}”, which has other members or data", org.name)));
    app.dashboard(&browser).await;
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn revoking_an_authorized_app_in_chromium_ends_its_refresh_token() {
    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;
    let app_callback = AppCallback::start();
    let callback = app_callback.url.clone();
    let (maker, maker_org) = app.user().org("Northwind Apps").create().await;
    let reg = app
        .client_in(&maker_org.id, &maker.id)
        .redirect_uris(&[&callback])
        .scopes(&["openid", "read", "write", "offline_access"])
        .create()
        .await;
    let (user, _) = app.user().email("ada@example.com").org("Lovelace Analytics").create().await;
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (url, _) = app
        .oauth2_client(&reg)
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("read".into()))
        .add_scope(oauth2::Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The code flow in the browser: sign in, approve.
    b.goto(url.as_str()).await.unwrap();
    fill(&b, "email", &user.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    click(&b, Locator::Id("approve")).await;
    let q = app_callback.landed(&b).await;
    let code = q.get("code").expect("a code").clone();
    let (s, tokens) = redeem(&app, &reg, &code, verifier.secret(), Some(&callback)).await;
    assert_eq!(s, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The account page, then its authorized apps.
    b.goto(&app.url("/account")).await.unwrap();
    assert_eq!(text_of(&b, "account-email").await, user.email);
    screenshot(&b, "account").await;
    assert_fits_a_phone(&b, "account").await;
    // The delete confirmation, opened (nothing is sent).
    click(&b, Locator::Css("details.confirm > summary")).await;
    b.execute("document.getElementById('delete-title').scrollIntoView()", vec![]).await.unwrap();
    wait_for(&b, Locator::Id("delete_password")).await;
    screenshot(&b, "account-delete").await;
    click(&b, Locator::Css("a[href='/account/apps'].button")).await;
    wait_for_path(&b, "/account/apps").await;
    let name_id = format!("app-{}-name", reg.client.client_id);
    assert_eq!(text_of(&b, &name_id).await, "Example App");
    click(&b, Locator::Id(&format!("revoke-{}", reg.client.client_id))).await;
    wait_for(&b, Locator::Css("details.confirm[open]")).await;
    screenshot(&b, "authorized-apps").await;
    assert_fits_a_phone(&b, "authorized-apps").await;
    submit(&b, &revoke_path(&reg)).await;
    wait_for_path(&b, &format!("/account/apps?revoked={}", reg.client.client_id)).await;
    assert_eq!(text_of(&b, "notice").await, "Access revoked: Example App can no longer use your account.");
    assert_eq!(refresh(&app, &reg, &refresh_token).await, (400, revoked()));
    b.close().await.unwrap();
}

/// An inviter who deletes their account takes their pending invitations
/// with them: the rows would lose their sender, and an acceptance could no
/// longer check that the sender may still invite to that role.
#[actix_web::test]
async fn deleting_an_account_revokes_the_invitations_it_sent() {
    let app = TestApp::spawn().await;
    let (_, org) = app.user().create().await;
    let (admin, _) = app.user().org(&org.id).role(Role::Admin).create().await;
    let (access, _) = dashboard_tokens(&app, &admin.email).await;
    let invite = json!({"email": "alt@example.com", "role": "ADMIN"});
    let (status, body) = call(&app, "POST", "/v1/invitations", &access, Some(invite)).await;
    assert_eq!(status, 201, "{body}");
    let token = body["data"]["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let (alt, _) = app.user().email("alt@example.com").create().await;

    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &admin.email, PASSWORD).await.status(), 303);
    let csrf = form_token(&browser, &app.url("/account")).await;
    let (s, _, _) =
        send(&browser, &app, "/account/delete", &[("csrf_token", &csrf), ("current_password", PASSWORD)]).await;
    assert_eq!(s, 303);

    let err = app.state.accounts.accept_invitation(&token, &alt, "127.0.0.1").await.unwrap_err();
    assert_eq!(err.to_string(), "This invitation is no longer valid: it was used, revoked or has expired.");
    let memberships = app.state.accounts.memberships(&alt.id).await.unwrap();
    assert!(memberships.iter().all(|m| m.organization.id != org.id), "alt did not join");
}
