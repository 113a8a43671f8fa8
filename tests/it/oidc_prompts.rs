//! The authentication request's parameters (OIDC Core §3.1.2.1): prompt,
//! max_age, login_hint, id_token_hint; and that a forced sign-in can be
//! neither skipped nor looped.

use chrono::Duration;
use openidconnect::TokenResponse;
use portcullis::clock::Clock;
use serde_json::json;

use crate::oauth_support::{REDIRECT, hidden_fields, query};
use crate::oidc_support::{
    OIDC_SCOPES, Rig, auth_request, exchange, payload, relying_party, sign_in_on, signed_in_user, verified_claims,
    verifier,
};
use crate::support::location;

/// GETs `url` and returns the response's status and Location.
async fn visit(browser: &reqwest::Client, url: &str) -> (u16, String) {
    let res = browser.get(url).send().await.unwrap();
    (res.status().as_u16(), location(&res))
}

fn error_of(location: &str) -> (Option<String>, Option<String>) {
    let back = url::Url::parse(location).unwrap_or_else(|_| panic!("not a redirect to the client: {location}"));
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    (query(&back, "error"), query(&back, "error_description"))
}

#[actix_web::test]
async fn prompt_none_without_a_session_is_login_required() {
    let rig = Rig::start().await;
    let (app, rp) = (&rig.app, &rig.rp);
    let req = auth_request(rp, &[], &[("prompt", "none")]);
    let (status, loc) = visit(&app.new_browser(), req.url.as_str()).await;
    assert_eq!(status, 303);
    assert_eq!(error_of(&loc).0.as_deref(), Some("login_required"));
    // none with another value is invalid_request.
    let req = auth_request(rp, &[], &[("prompt", "none login")]);
    let (_, loc) = visit(&app.new_browser(), req.url.as_str()).await;
    assert_eq!(
        error_of(&loc),
        (Some("invalid_request".into()), Some("prompt=none cannot be combined with other prompt values".into()))
    );
}

#[actix_web::test]
async fn prompt_none_with_a_session_and_remembered_consent_issues_silently() {
    let rig = Rig::start().await;
    let (app, rp) = (&rig.app, &rig.rp);
    let browser = &rig.browser;
    let user_id = &rig.user_id;
    let first = auth_request(rp, &[], &[]);
    app.authorize(browser, first.url.as_str(), "approve").await;
    let req = auth_request(rp, &[], &[("prompt", "none")]);
    let (status, loc) = visit(browser, req.url.as_str()).await;
    assert_eq!(status, 303);
    let back = url::Url::parse(&loc).unwrap();
    let tokens = exchange(rp, &back, req.verifier).await;
    assert_eq!(verified_claims(app, rp, &tokens, Some(&req.nonce)).subject().as_str(), user_id);
    // A session older than max_age: prompt=none cannot ask again.
    app.clock.advance(Duration::seconds(600));
    let req = auth_request(rp, &[], &[("prompt", "none"), ("max_age", "300")]);
    let (_, loc) = visit(browser, req.url.as_str()).await;
    assert_eq!(error_of(&loc).0.as_deref(), Some("login_required"));
}

#[actix_web::test]
async fn max_age_0_forces_the_login_page_once_and_auth_time_follows() {
    let rig = Rig::start().await;
    let (app, reg, rp) = (&rig.app, &rig.reg, &rig.rp);
    let browser = &rig.browser;
    let email = &rig.email;
    app.clock.advance(Duration::seconds(90));
    let req = auth_request(rp, &[], &[("max_age", "0")]);
    let (status, login) = visit(browser, req.url.as_str()).await;
    assert_eq!(status, 303);
    assert!(login.starts_with("/login?return_to=%2Foauth%2Fauthorize%3F") && login.ends_with("&reauth=1"), "{login}");
    // The page says who asks, though the browser is signed in.
    let html = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"<strong id="app-name">Example App</strong>"#), "{html}");
    assert!(html.contains(&format!(r#"<strong id="app-org">{}</strong>"#, reg.client.organization_name)));
    assert!(html.contains(r#"id="reauth""#));
    let signed_in_at = app.clock.now().timestamp();
    let back_to = sign_in_on(app, browser, &login, email).await;
    assert!(back_to.starts_with("/oauth/authorize?") && back_to.contains("reauth_ticket="), "{back_to}");
    // Back at /authorize: the new sign-in counts, no second login page.
    let back = app.authorize(browser, &app.url(&back_to), "approve").await;
    let tokens = exchange(rp, &back, req.verifier).await;
    let id_token = tokens.id_token().unwrap();
    let now = app.clock.now();
    let v = verifier(app, rp).set_auth_time_verifier_fn(move |auth_time| match auth_time {
        Some(t) if (now - t).num_seconds() <= 0 => Ok(()),
        other => Err(format!("auth_time {other:?} is older than max_age=0")),
    });
    let claims = id_token.claims(&v, &req.nonce).expect("auth_time satisfies max_age");
    assert_eq!(claims.auth_time().unwrap().timestamp(), signed_in_at);
}

#[actix_web::test]
async fn prompt_login_cannot_be_skipped_with_the_return_url() {
    let rig = Rig::start().await;
    let (app, rp) = (&rig.app, &rig.rp);
    let browser = &rig.browser;
    let email = &rig.email;
    app.clock.advance(Duration::milliseconds(1));
    let req = auth_request(rp, &[], &[("prompt", "login")]);
    let (_, login) = visit(browser, req.url.as_str()).await;
    assert!(login.starts_with("/login?"), "{login}");
    let return_to = url::Url::parse(&app.url(&login)).unwrap();
    let return_to = query(&return_to, "return_to").unwrap();
    // Following the return URL without signing in: the login page again,
    // though the session is only a millisecond older than the ticket.
    let (status, again) = visit(browser, &app.url(&return_to)).await;
    assert_eq!(status, 303);
    assert!(again.starts_with("/login?"), "the old session does not satisfy prompt=login: {again}");
    // A ticket edited to name a later time does not verify.
    let forged = return_to.replacen("reauth_ticket=1", "reauth_ticket=2", 1);
    let (_, again) = visit(browser, &app.url(&forged)).await;
    assert!(again.starts_with("/login?"), "{again}");
    // Signing in does; and a ticket made for another request does not carry over.
    let back_to = sign_in_on(app, browser, &login, email).await;
    let back = app.authorize(browser, &app.url(&back_to), "approve").await;
    assert!(query(&back, "code").is_some());
    let other = auth_request(rp, &[], &[("prompt", "login")]);
    let ticket = back_to.split("reauth_ticket=").nth(1).unwrap().split('&').next().unwrap();
    let (_, again) = visit(browser, &format!("{}&reauth_ticket={ticket}", other.url)).await;
    assert!(again.starts_with("/login?"), "{again}");
}

#[actix_web::test]
async fn login_hint_prefills_the_login_page_which_names_the_app() {
    let rig = Rig::start().await;
    let (app, rp) = (&rig.app, &rig.rp);
    let browser = app.new_browser();
    let req = auth_request(rp, &[], &[("login_hint", "ada@example.com")]);
    let (_, login) = visit(&browser, req.url.as_str()).await;
    let html = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"value="ada@example.com""#), "{html}");
    assert!(html.contains(r#"<strong id="app-name">Example App</strong>"#));
    assert!(!html.contains(r#"id="reauth""#), "not signed in: nothing to sign in again to");
}

#[actix_web::test]
async fn select_account_shows_who_is_signed_in_and_offers_another_account() {
    let rig = Rig::start().await;
    let (app, rp) = (&rig.app, &rig.rp);
    let browser = &rig.browser;
    let user_id = &rig.user_id;
    let email = &rig.email;
    let req = auth_request(rp, &[], &[("prompt", "select_account")]);
    let res = browser.get(req.url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!(r#"<strong id="signed-in-as">{email}</strong>"#)), "{html}");
    // Continue as this account: then the consent page, then the code.
    let mut form = hidden_fields(&html);
    form.push(("decision".into(), "continue".into()));
    let res = browser.post(app.url("/oauth/authorize")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 200, "the consent page");
    let mut form = hidden_fields(&res.text().await.unwrap());
    form.push(("decision".into(), "approve".into()));
    let res = browser.post(app.url("/oauth/authorize")).form(&form).send().await.unwrap();
    let back = url::Url::parse(&location(&res)).unwrap();
    let tokens = exchange(rp, &back, req.verifier).await;
    assert_eq!(verified_claims(app, rp, &tokens, Some(&req.nonce)).subject().as_str(), user_id);

    // Use another account: the login page, though signed in; then that account.
    let req = auth_request(rp, &[], &[("prompt", "select_account")]);
    let html = browser.get(req.url.as_str()).send().await.unwrap().text().await.unwrap();
    let link = html.split(r#"<a href=""#).find(|c| c.contains(r#"id="other-account""#)).unwrap();
    let login = link.split('"').next().unwrap().replace("&amp;", "&");
    let (other, _) = app.user().create().await;
    let back_to = sign_in_on(app, browser, &login, &other.email).await;
    let back = app.authorize(browser, &app.url(&back_to), "approve").await;
    let tokens = exchange(rp, &back, req.verifier).await;
    assert_eq!(verified_claims(app, rp, &tokens, Some(&req.nonce)).subject().as_str(), other.id);
}

#[actix_web::test]
async fn id_token_hint_names_the_expected_user() {
    let rig = Rig::start().await;
    let (app, reg, rp) = (&rig.app, &rig.reg, &rig.rp);
    let browser = &rig.browser;
    let req = auth_request(rp, &[], &[]);
    let back = app.authorize(browser, req.url.as_str(), "approve").await;
    let hint = exchange(rp, &back, req.verifier).await.id_token().unwrap().to_string();

    // The same user, an expired hint: prompt=none issues silently.
    app.clock.advance(Duration::hours(2));
    let req = auth_request(rp, &[], &[("prompt", "none"), ("id_token_hint", &hint)]);
    let (_, loc) = visit(browser, req.url.as_str()).await;
    assert!(query(&url::Url::parse(&loc).unwrap(), "code").is_some(), "{loc}");

    // Another user signed in: login_required with prompt=none, else the login page.
    let (stranger, _, stranger_email) = signed_in_user(app).await;
    let (_, loc) = visit(&stranger, req.url.as_str()).await;
    assert_eq!(error_of(&loc).0.as_deref(), Some("login_required"));
    let req = auth_request(rp, &[], &[("id_token_hint", &hint)]);
    let (_, loc) = visit(&stranger, req.url.as_str()).await;
    assert!(loc.starts_with("/login?"), "{loc}");
    // Signing in again, still not as the hinted user: no code, but
    // login_required (OIDC Core §3.1.2.1), rather than another login page.
    let back_to = sign_in_on(app, &stranger, &loc, &stranger_email).await;
    let (_, loc) = visit(&stranger, &app.url(&back_to)).await;
    assert_eq!(
        error_of(&loc),
        (Some("login_required".into()), Some("The user who signed in is not the one the id_token_hint names.".into())),
        "{loc}"
    );

    // Not an ID token of this server for this client: invalid_request.
    let other_client = app.oauth_client().await.scopes(&OIDC_SCOPES).create().await;
    let other_rp = relying_party(app, &other_client).await;
    // One character in the middle of the signature changed.
    let at = hint.len() - 20;
    let flipped = if &hint[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{flipped}{}", &hint[..at], &hint[at + 1..]);
    for (rp, bad) in [(rp, "not.a.jwt".to_owned()), (rp, forged), (&other_rp, hint.clone())] {
        let req = auth_request(rp, &[], &[("id_token_hint", &bad)]);
        let (_, loc) = visit(browser, req.url.as_str()).await;
        assert_eq!(
            error_of(&loc),
            (
                Some("invalid_request".into()),
                Some("id_token_hint is not an ID token this server issued to this client".into())
            )
        );
    }
    // An access token is not an ID token.
    let (code, verifier) = crate::oauth_code::code_as(app, browser, reg, "openid").await;
    let (_, tokens) =
        crate::oauth_support::redeem(app, reg, &code, verifier.secret(), Some(crate::oauth_support::REDIRECT)).await;
    let req = auth_request(rp, &[], &[("id_token_hint", tokens["access_token"].as_str().unwrap())]);
    let (_, loc) = visit(browser, req.url.as_str()).await;
    assert_eq!(error_of(&loc).0.as_deref(), Some("invalid_request"));
    assert_eq!(payload(&hint)["aud"], json!([reg.client.client_id]));
}

#[actix_web::test]
async fn a_nonce_longer_than_1024_bytes_is_refused_and_one_of_1024_is_echoed() {
    let rig = Rig::start().await;
    let (app, rp, browser) = (&rig.app, &rig.rp, &rig.browser);
    // The crate's request with its nonce replaced by one of `len` bytes.
    let with_nonce = |url: &url::Url, len: usize| {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.to_string(), if k == "nonce" { "n".repeat(len) } else { v.into_owned() }))
            .collect();
        let mut url = url.clone();
        url.query_pairs_mut().clear().extend_pairs(&pairs);
        url
    };
    let req = auth_request(rp, &[], &[]);
    let (_, loc) = visit(browser, with_nonce(&req.url, 1025).as_str()).await;
    assert_eq!(error_of(&loc), (Some("invalid_request".into()), Some("nonce must be at most 1024 bytes".into())));
    let back = app.authorize(browser, with_nonce(&req.url, 1024).as_str(), "approve").await;
    let tokens = exchange(rp, &back, req.verifier).await;
    assert_eq!(payload(&tokens.id_token().unwrap().to_string())["nonce"], "n".repeat(1024));
}
