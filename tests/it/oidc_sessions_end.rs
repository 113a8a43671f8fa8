//! What apps see of a browser session, and what its end takes along: each
//! app its own `sid` (never the session's id), and at the end of the
//! session the refresh tokens issued without `offline_access` (Back-Channel
//! Logout 1.0 §2.7), while an offline_access family lives on without a
//! `sid`.

use chrono::Duration;
use openidconnect::core::CoreTokenResponse;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use portcullis::accounts::User;
use portcullis::oauth::clients::SubjectType;
use serde_json::json;

use crate::oauth_support::{ClientBuilder, REDIRECT, Registered, post_form, query, redeem};
use crate::oidc_logout::{Listener, id_token_hint, logout_url, session_ids, the_token, verified_logout_token};
use crate::oidc_support::{OIDC_SCOPES, Rp, auth_request, http, payload, relying_party, sign_in_with, verified_claims};
use crate::support::{PASSWORD, TestApp, form_token};

/// A user signed in in a new browser, and the id of that browser's session.
async fn signed_in_browser(app: &TestApp, user: &User) -> (reqwest::Client, String) {
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let sessions = session_ids(app, &user.id).await;
    assert_eq!(sessions.len(), 1);
    (browser, sessions[0].clone())
}

/// An app registered for OpenID Connect, and the crate as its relying party.
async fn oidc_app(app: &TestApp, builder: ClientBuilder<'_>) -> (Registered, Rp) {
    let reg = builder.scopes(&OIDC_SCOPES).create().await;
    let rp = relying_party(app, &reg).await;
    (reg, rp)
}

fn sid_of(tokens: &CoreTokenResponse) -> Option<String> {
    payload(&tokens.id_token().expect("an ID token").to_string())["sid"].as_str().map(str::to_owned)
}

async fn refresh(rp: &Rp, tokens: &CoreTokenResponse) -> CoreTokenResponse {
    rp.exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http())
        .await
        .expect("the refresh succeeds")
}

async fn active(app: &TestApp, reg: &Registered, access_token: &str) -> bool {
    let (status, _, body) = post_form(app, "/oauth/introspect", reg, &[("token", access_token)]).await;
    assert_eq!(status, 200, "{body}");
    body["active"] == json!(true)
}

/// Signs out on the /logout page.
async fn sign_out(app: &TestApp, browser: &reqwest::Client) {
    let token = form_token(browser, &app.url("/logout")).await;
    let res = browser.post(app.url("/logout")).form(&[("csrf_token", token)]).send().await.unwrap();
    assert_eq!(res.status(), 303);
}

#[actix_web::test]
async fn two_apps_of_one_browser_session_each_get_their_own_sid_kept_at_refresh_and_named_by_their_logout_token() {
    let app = TestApp::spawn().await;
    let listeners = [Listener::start(&[]).await, Listener::start(&[]).await];
    let (user, org) = app.user().create().await;
    let mut apps = Vec::new();
    // A public app and a pairwise one: the pairwise `sub` must not be
    // undone by a `sid` the two share.
    for (listener, subject_type) in listeners.iter().zip([SubjectType::Public, SubjectType::Pairwise]) {
        let mut builder = app.client_in(&org.id, &user.id);
        builder.new_mut().oidc.backchannel_logout_uri = Some(listener.url.clone());
        builder.new_mut().oidc.subject_type = subject_type;
        apps.push(oidc_app(&app, builder).await);
    }
    let (browser, session_id) = signed_in_browser(&app, &user).await;

    let mut sids = Vec::new();
    for (reg, rp) in &apps {
        let (nonce, tokens) = sign_in_with(&app, &browser, rp, &["offline_access"], &[]).await;
        verified_claims(&app, rp, &tokens, Some(&nonce));
        let sid = sid_of(&tokens).expect("a sid while the session lasts");
        app.clock.advance(Duration::seconds(60));
        let refreshed = refresh(rp, &tokens).await;
        verified_claims(&app, rp, &refreshed, None);
        assert_eq!(sid_of(&refreshed).as_deref(), Some(sid.as_str()), "{}: the same sid at refresh", reg.client.name);
        assert_ne!(sid, session_id, "not the session's id");
        assert!(!sid.contains(&session_id));
        sids.push(sid);
    }
    assert_ne!(sids[0], sids[1], "one sid per app");

    sign_out(&app, &browser).await;
    for ((listener, (reg, _)), sid) in listeners.iter().zip(&apps).zip(&sids) {
        let received = listener.wait_for(1).await;
        assert_eq!(received.len(), 1);
        let claims = verified_logout_token(&app, the_token(&received[0]), &reg.client).await;
        assert_eq!(claims["sid"], sid.as_str(), "the sid of the app's ID tokens");
    }
    for listener in listeners {
        listener.stop().await;
    }
}

#[actix_web::test]
async fn a_hint_with_the_apps_own_sid_signs_out_at_once_and_one_with_another_apps_sid_asks_first() {
    let app = TestApp::spawn().await;
    let (user, org) = app.user().create().await;
    let (a, rp_a) = oidc_app(&app, app.client_in(&org.id, &user.id)).await;
    let (_, rp_b) = oidc_app(&app, app.client_in(&org.id, &user.id)).await;
    let (browser, _) = signed_in_browser(&app, &user).await;
    let (_, tokens_a) = sign_in_with(&app, &browser, &rp_a, &[], &[]).await;
    let (_, tokens_b) = sign_in_with(&app, &browser, &rp_b, &[], &[]).await;
    let sid_b = sid_of(&tokens_b).unwrap();
    assert_eq!(payload(&tokens_b.id_token().unwrap().to_string())["sub"], user.id.as_str(), "the same sub");

    // App A's hint for the same user, carrying the sid app B knows.
    let borrowed = id_token_hint(&app, &a.client.client_id, &user.id, Some(&sid_b));
    let res = browser.get(logout_url(&app, &[("id_token_hint", &borrowed)])).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Sign out of portcullis?"), "confirmation asked");
    app.dashboard(&browser).await;

    let own = tokens_a.id_token().unwrap().to_string();
    let res = browser.get(logout_url(&app, &[("id_token_hint", &own)])).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("<h1>You are signed out</h1>"));
    assert!(session_ids(&app, &user.id).await.is_empty());
}

// ---- Back-Channel Logout §2.7: what the end of a session takes along ----

/// One app with two refresh-token families signed in through one browser
/// session: one without offline_access (the app is issued refresh tokens
/// regardless), one with.
struct Families {
    app: TestApp,
    reg: Registered,
    rp: Rp,
    user: User,
    browser: reqwest::Client,
    online: CoreTokenResponse,
    offline: CoreTokenResponse,
}

async fn families() -> Families {
    families_telling(None).await
}

/// The same, the app registered with `backchannel` as its back-channel URI.
async fn families_telling(backchannel: Option<&str>) -> Families {
    families_on(TestApp::spawn().await, backchannel).await
}

async fn families_on(app: TestApp, backchannel: Option<&str>) -> Families {
    let (user, org) = app.user().create().await;
    let mut builder = app.client_in(&org.id, &user.id).always_refresh();
    builder.new_mut().oidc.backchannel_logout_uri = backchannel.map(str::to_owned);
    let (reg, rp) = oidc_app(&app, builder).await;
    let (browser, _) = signed_in_browser(&app, &user).await;
    let (_, online) = sign_in_with(&app, &browser, &rp, &["read"], &[]).await;
    let (_, offline) = sign_in_with(&app, &browser, &rp, &["offline_access"], &[]).await;
    for tokens in [&online, &offline] {
        assert!(sid_of(tokens).is_some());
        assert!(active(&app, &reg, tokens.access_token().secret()).await);
    }
    Families { app, reg, rp, user, browser, online, offline }
}

impl Families {
    /// Refused at refresh as revoked, and its access token dead.
    async fn assert_revoked(&self, tokens: &CoreTokenResponse) {
        let refresh_token = tokens.refresh_token().unwrap().secret().as_str();
        let (status, _, body) = post_form(
            &self.app,
            "/oauth/token",
            &self.reg,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        )
        .await;
        assert_eq!(
            (status, body),
            (400, json!({ "error": "invalid_grant", "error_description": "The refresh token was revoked." }))
        );
        assert!(!active(&self.app, &self.reg, tokens.access_token().secret()).await, "its access token is inactive");
    }

    /// The offline_access family lives on: its access token is active, and
    /// a refresh gives an ID token of the same sign-in but without a `sid`.
    async fn assert_lives_on_without_sid(&self) {
        let app = &self.app;
        assert!(active(app, &self.reg, self.offline.access_token().secret()).await);
        let before = payload(&self.offline.id_token().unwrap().to_string());
        app.clock.advance(Duration::seconds(30));
        let refreshed = refresh(&self.rp, &self.offline).await;
        verified_claims(app, &self.rp, &refreshed, None);
        let after = payload(&refreshed.id_token().unwrap().to_string());
        assert_eq!(after.get("sid"), None, "the ended session is named no more: {after}");
        for claim in ["iss", "sub", "aud", "azp", "auth_time"] {
            assert_eq!(after[claim], before[claim], "{claim}");
        }
        assert!(active(app, &self.reg, refreshed.access_token().secret()).await);
    }
}

#[actix_web::test]
async fn signing_out_revokes_the_family_without_offline_access_and_the_offline_one_refreshes_without_sid() {
    let f = families().await;
    sign_out(&f.app, &f.browser).await;
    f.assert_revoked(&f.online).await;
    f.assert_lives_on_without_sid().await;
}

#[actix_web::test]
async fn rp_initiated_logout_revokes_the_family_without_offline_access_and_the_offline_one_refreshes_without_sid() {
    let f = families().await;
    let hint = f.online.id_token().unwrap().to_string();
    let res = f.browser.get(logout_url(&f.app, &[("id_token_hint", &hint)])).send().await.unwrap();
    assert!(res.text().await.unwrap().contains("<h1>You are signed out</h1>"));
    f.assert_revoked(&f.online).await;
    f.assert_lives_on_without_sid().await;
}

#[actix_web::test]
async fn signing_in_over_an_old_session_revokes_its_family_without_offline_access() {
    let f = families().await;
    // The signed-in form token is the session's: this sign-in replaces it.
    let token = form_token(&f.browser, &f.app.url("/logout")).await;
    let form = [("csrf_token", token.as_str()), ("email", f.user.email.as_str()), ("password", PASSWORD)];
    let res = f.browser.post(f.app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    f.assert_revoked(&f.online).await;
    f.assert_lives_on_without_sid().await;
}

#[actix_web::test]
async fn a_password_change_ends_the_other_sessions_and_every_family_with_them() {
    let f = families().await;
    let second = f.app.new_browser();
    assert_eq!(f.app.login(&second, &f.user.email, PASSWORD).await.status(), 303);
    let token = form_token(&second, &f.app.url("/account/password")).await;
    let form = [
        ("csrf_token", token.as_str()),
        ("current_password", PASSWORD),
        ("new_password", "a new passphrase, long enough"),
    ];
    assert_eq!(second.post(f.app.url("/account/password")).form(&form).send().await.unwrap().status(), 303);
    assert_eq!(session_ids(&f.app, &f.user.id).await.len(), 1, "the first session ended");
    f.assert_revoked(&f.online).await;
    // A password change ends every token of the user, offline ones too.
    f.assert_revoked(&f.offline).await;
}

#[actix_web::test]
async fn a_code_approved_in_a_session_that_has_ended_is_not_redeemed() {
    let f = families().await;
    let req = auth_request(&f.rp, &["read"], &[]);
    let back = f.app.authorize(&f.browser, req.url.as_str(), "approve").await;
    let code = query(&back, "code").expect("a code");
    sign_out(&f.app, &f.browser).await;
    let (status, body) = redeem(&f.app, &f.reg, &code, req.verifier.secret(), Some(REDIRECT)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[actix_web::test]
async fn an_offline_family_outliving_its_session_by_expiry_names_it_no_more() {
    let f = families().await;
    f.app.clock.advance(Duration::seconds(f.app.state.config.session_ttl_secs + 1));
    let refreshed = refresh(&f.rp, &f.offline).await;
    let claims = payload(&refreshed.id_token().unwrap().to_string());
    assert_eq!(claims.get("sid"), None, "{claims}");
    assert_eq!(claims["auth_time"], payload(&f.offline.id_token().unwrap().to_string())["auth_time"]);
}

#[actix_web::test]
async fn an_expired_session_ends_at_the_next_poll_as_a_sign_out_does_and_its_apps_hear_of_it() {
    let listener = Listener::start(&[]).await;
    let f = families_telling(Some(&listener.url)).await;
    let session_id = session_ids(&f.app, &f.user.id).await.remove(0);
    let sid = sid_of(&f.online).unwrap();
    f.app.clock.advance(Duration::seconds(f.app.state.config.session_ttl_secs + 1));
    // The background poll ends it; asking here too only makes it sooner.
    for _ in 0..100 {
        let accounts = f.app.state.clone();
        tokio::task::spawn_blocking(move || accounts.accounts.end_expired_sessions().unwrap()).await.unwrap();
        if session_ids(&f.app, &f.user.id).await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(session_ids(&f.app, &f.user.id).await.is_empty(), "the session {session_id} is gone");
    let received = listener.wait_for(1).await;
    assert_eq!(received.len(), 1, "one app, told once");
    let claims = verified_logout_token(&f.app, the_token(&received[0]), &f.reg.client).await;
    assert_eq!((claims["sub"].as_str(), claims["sid"].as_str()), (Some(f.user.id.as_str()), Some(sid.as_str())));
    f.assert_revoked(&f.online).await;
    // The offline family refreshes (its access token has long expired by
    // now), naming the session no more.
    let refreshed = refresh(&f.rp, &f.offline).await;
    assert_eq!(payload(&refreshed.id_token().unwrap().to_string()).get("sid"), None);
    listener.stop().await;
}

#[actix_web::test]
async fn a_refresh_after_the_session_expired_ends_the_online_family_before_any_poll_does() {
    // The first poll runs at start, the next in an hour: only the refresh can see the expiry.
    let app = TestApp::spawn_with(|c| c.change_poll_interval_ms = 3_600_000).await;
    let f = families_on(app, None).await;
    f.app.clock.advance(Duration::seconds(f.app.state.config.session_ttl_secs + 1));
    assert_eq!(session_ids(&f.app, &f.user.id).await.len(), 1, "no poll has ended it");
    f.assert_revoked(&f.online).await;
    let refreshed = refresh(&f.rp, &f.offline).await;
    assert_eq!(payload(&refreshed.id_token().unwrap().to_string()).get("sid"), None, "offline lives on");
}
