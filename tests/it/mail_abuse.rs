//! The account and email flows as an abuser would use them (attacker round
//! 12): invitations as a mail relay, reset links that outlive a reset,
//! display-name addresses, forgot-password's answer and sign-up notices.

use std::time::Duration;

use chrono::Duration as Span;
use diesel::RunQueryDsl;
use serde_json::json;

use crate::email::{SmtpSink, post_form, sign_up, token_of};
use crate::support::{PASSWORD, TestApp, call, csrf_token, form_token, location, on_postgres};

/// The app sending through `sink`, with the test's changes to its config.
async fn app_with(sink: &SmtpSink, change: impl FnOnce(&mut portcullis::config::Config)) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(move |c| {
        c.smtp_url = Some(url);
        change(c);
    })
    .await
}

/// The id of the user with `email` and of their (first) organization.
async fn ids_of(app: &TestApp, email: &str) -> (String, String) {
    let user = app.state.accounts.user_by_email(email).await.unwrap().expect("the user exists").user;
    let org = app.state.accounts.memberships(&user.id).await.unwrap()[0].organization.id.clone();
    (user.id, org)
}

/// Posts the members page's invite form: the status, `Retry-After` and page.
async fn invite_on_page(
    app: &TestApp,
    browser: &reqwest::Client,
    org: &str,
    email: &str,
) -> (u16, Option<String>, String) {
    let token = form_token(browser, &app.url(&format!("/dashboard/orgs/{org}/members"))).await;
    let res = browser
        .post(app.url(&format!("/dashboard/orgs/{org}/invitations")))
        .form(&[("csrf_token", token.as_str()), ("email", email), ("role", "VIEWER")])
        .send()
        .await
        .unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), retry, res.text().await.unwrap())
}

/// `POST /v1/invitations`: the status, `Retry-After` and body.
async fn invite_on_v1(app: &TestApp, key: &str, email: &str) -> (u16, Option<String>, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(app.url("/v1/invitations"))
        .bearer_auth(key)
        .json(&json!({"email": email, "role": "VIEWER"}))
        .send()
        .await
        .unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (res.status().as_u16(), retry, res.json().await.unwrap())
}

/// The text of the page's invite error.
fn invite_error(html: &str) -> &str {
    let start = html.find("id=\"invite-error\">").unwrap_or_else(|| panic!("no invite error in:\n{html}")) + 18;
    &html[start..start + html[start..].find("</p>").unwrap()]
}

const UNVERIFIED: &str = "Confirm your email address before inviting people: follow the link we emailed you, or \
                          send a new one from the banner at the top of the page.";

/// Many senders, each within their own limits (every one in an organization
/// of their own), cannot flood one mailbox: invitations emailed to one
/// address are counted together, however it is spelled. Beyond the count an
/// invitation is still made, and its sender told to pass the link on, so
/// no one can use the count up to keep the address from being invited.
#[actix_web::test]
async fn invitations_emailed_to_one_address_are_limited_across_organizations_and_the_rest_made_unsent() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, |c| c.login_throttle.invitations_per_recipient = 2).await;
    let mut senders = Vec::new();
    for _ in 0..3 {
        let (owner, org) = app.user().create().await;
        let key = app.secret_key(&org.id, &owner.id, &["read", "admin"]).await.1;
        senders.push((owner, org, key));
    }
    for (spelled, (_, _, key)) in ["Victim@Example.com", "victim@example.com"].iter().zip(&senders) {
        let (status, _, body) = invite_on_v1(&app, key, spelled).await;
        assert_eq!((status, &body["data"]["emailed"]), (201, &json!(true)), "{body}");
    }
    let (_, third_org, third_key) = &senders[2];
    let (status, retry, body) = invite_on_v1(&app, third_key, "victim@EXAMPLE.com").await;
    assert_eq!((status, &body["data"]["emailed"], retry), (201, &json!(false), None), "{body}");
    assert!(body["data"]["url"].as_str().is_some_and(|u| u.contains("/invitations/")), "{body}");
    let (_, pending) = call(&app, "GET", "/v1/invitations", third_key, None).await;
    assert_eq!(pending["data"][0]["id"], body["data"]["id"], "it was made: {pending}");
    // On the page the same: made, the link shown, and said not to be emailed.
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &senders[2].0.email, PASSWORD).await.status(), 303);
    let (status, _, page) = invite_on_page(&app, &browser, &third_org.id, "victim@example.com").await;
    assert_eq!(status, 201);
    assert!(page.contains("but not emailed: this address has received several invitations recently"), "{page}");
    assert!(page.contains("id=\"invitation-link\""), "{page}");
    // Still emailed to another address.
    let (status, _, body) = invite_on_v1(&app, third_key, "someone@example.com").await;
    assert_eq!((status, &body["data"]["emailed"]), (201, &json!(true)), "{body}");
    sink.message_to("someone@example.com").await;
    // Two invitations reached the address, no more.
    sink.message_to("victim@example.com").await;
    sink.message_to("victim@example.com").await;
    sink.assert_none_to("victim@example.com", Duration::from_millis(300)).await;

    app.clock.advance(Span::seconds(901));
    let (status, _, body) = invite_on_v1(&app, third_key, "victim@example.com").await;
    assert_eq!((status, &body["data"]["emailed"]), (201, &json!(true)), "{body}");
    sink.message_to("victim@example.com").await;
}

#[actix_web::test]
async fn invitations_need_a_verified_sender_and_are_throttled_per_inviter_and_organization() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, |c| {
        c.login_throttle.invitations_per_inviter = 3;
        c.login_throttle.invitations_per_organization = 5;
    })
    .await;
    // A self-made account, never verified, cannot send invitations.
    let browser = app.new_browser();
    assert_eq!(sign_up(&app, &browser, "mallory@example.com", None).await.status(), 303);
    let verify = sink.message_to("mallory@example.com").await.link("/verify-email");
    assert_eq!(app.login(&browser, "mallory@example.com", PASSWORD).await.status(), 303);
    let (mallory, org) = ids_of(&app, "mallory@example.com").await;
    let key = app.secret_key(&org, &mallory, &["read", "admin"]).await.1;

    let (status, _, page) = invite_on_page(&app, &browser, &org, "victim@example.com").await;
    assert_eq!((status, invite_error(&page)), (403, UNVERIFIED));
    let (status, _, body) = invite_on_v1(&app, &key, "victim@example.com").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["message"].as_str()),
        (Some("EMAIL_NOT_VERIFIED"), Some(UNVERIFIED))
    );
    let (_, pending) = call(&app, "GET", "/v1/invitations", &key, None).await;
    assert_eq!(pending["data"], json!([]), "no invitation was made");
    sink.assert_none_to("victim@example.com", Duration::from_millis(300)).await;

    // Verified, they invite: 3 within the window, pages and /v1 together.
    let page = browser.get(app.url(&verify)).send().await.unwrap().text().await.unwrap();
    let res = browser
        .post(app.url("/verify-email"))
        .form(&[("csrf_token", csrf_token(&page)), ("token", token_of(&verify))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(invite_on_page(&app, &browser, &org, "v1@example.com").await.0, 201);
    assert_eq!(invite_on_v1(&app, &key, "v2@example.com").await.0, 201);
    assert_eq!(invite_on_v1(&app, &key, "v3@example.com").await.0, 201);
    let (status, retry, body) = invite_on_v1(&app, &key, "v4@example.com").await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("RATE_LIMITED")), "{body}");
    let retry: i64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(body["error"]["details"]["retry_after_seconds"], json!(retry));
    let (status, retry, page) = invite_on_page(&app, &browser, &org, "v4@example.com").await;
    assert_eq!(status, 429);
    assert!(retry.is_some(), "the page says when too");
    assert!(invite_error(&page).starts_with("Too many invitations were sent recently. Try again in "), "{page}");
    sink.assert_none_to("v4@example.com", Duration::from_millis(300)).await;

    // A member an operator made (`user create`) counts as vouched for: they
    // invite before verifying, and their address stays unverified for apps.
    let (admin, _) = app.user().org(&org).role(portcullis::accounts::Role::Admin).create().await;
    assert!(!admin.email_verified);
    let admin_key = app.secret_key(&org, &admin.id, &["read", "admin"]).await.1;
    assert_eq!(invite_on_v1(&app, &admin_key, "v5@example.com").await.0, 201);
    assert_eq!(invite_on_v1(&app, &admin_key, "v6@example.com").await.0, 201);
    // The organization's 5 are sent, though this member sent 2 of their 3.
    let (status, _, body) = invite_on_v1(&app, &admin_key, "v7@example.com").await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("RATE_LIMITED")), "{body}");

    // Each sent one was emailed; after the window they may send again.
    for n in [1, 2, 3, 5, 6] {
        sink.message_to(&format!("v{n}@example.com")).await;
    }
    app.clock.advance(Span::seconds(901));
    assert_eq!(invite_on_v1(&app, &key, "v7@example.com").await.0, 201);
}

/// The reset page's status for a link's token.
async fn reset_page(app: &TestApp, token: &str) -> u16 {
    app.new_browser().get(app.url(&format!("/reset-password?token={token}"))).send().await.unwrap().status().as_u16()
}

#[actix_web::test]
async fn every_reset_link_ends_with_a_reset_a_password_change_or_sign_out_everywhere() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let link = || async { app.state.accounts.create_password_reset(&user.id).await.unwrap().0 };

    // A reset through one link ends the other.
    let (first, second) = (link().await, link().await);
    let browser = app.new_browser();
    let page = browser.get(app.url(&format!("/reset-password?token={first}"))).send().await.unwrap();
    let page = page.text().await.unwrap();
    let new_password = "a brand new passphrase";
    let res = browser
        .post(app.url("/reset-password"))
        .form(&[("csrf_token", csrf_token(&page)), ("token", first.clone()), ("new_password", new_password.into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!((reset_page(&app, &first).await, reset_page(&app, &second).await), (400, 400));

    // So does a password change, signed in.
    let third = link().await;
    assert_eq!(reset_page(&app, &third).await, 200);
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, new_password).await.status(), 303);
    let fields = [("current_password", new_password), ("new_password", PASSWORD)];
    let res = post_form(&app, &browser, "/account/password", "/account/password", &fields).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account/password?done=1".to_owned()));
    assert_eq!(reset_page(&app, &third).await, 400);

    // And "sign out everywhere".
    let fourth = link().await;
    assert_eq!(reset_page(&app, &fourth).await, 200);
    let res = post_form(&app, &browser, "/account", "/account/sign-out-everywhere", &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(reset_page(&app, &fourth).await, 400);
    // The password is the one the owner chose last.
    assert_eq!(app.login(&app.new_browser(), &user.email, PASSWORD).await.status(), 303);
    // A link asked for afterwards works.
    assert_eq!(reset_page(&app, &link().await).await, 200);
}

#[actix_web::test]
async fn display_name_and_bracketed_addresses_are_refused_at_sign_up_on_v1_and_in_invitations() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let key = app.secret_key(&org.id, &owner.id, &["read", "admin"]).await.1;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &owner.email, PASSWORD).await.status(), 303);
    let message = "Email must look like name@example.com.";
    for bad in ["n0<victim@example.com>", "victim@example.com>", "Victim <victim@example.com>", "\"a<b\"@example.com"] {
        let res = sign_up(&app, &app.new_browser(), bad, None).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert!(res.text().await.unwrap().contains(message), "{bad}");
        assert!(app.state.accounts.user_by_email(bad).await.unwrap().is_none(), "{bad}: no account");

        let (status, _, body) = invite_on_v1(&app, &key, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["message"], message);

        let (status, _, page) = invite_on_page(&app, &browser, &org.id, bad).await;
        assert_eq!((status, invite_error(&page)), (400, message), "{bad}");
    }
    let (_, pending) = call(&app, "GET", "/v1/invitations", &key, None).await;
    assert_eq!(pending["data"], json!([]), "no invitation was made");
    // The plain address still works.
    assert_eq!(invite_on_v1(&app, &key, "victim@example.com").await.0, 201);
}

/// Makes every new reset link fail to be stored (a trigger), or lifts that.
async fn reset_rows_fail(app: &TestApp, fail: bool) {
    let sql: &[&str] = match (on_postgres(), fail) {
        (true, true) => &[
            "CREATE FUNCTION refuse_resets() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ \
             LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_resets BEFORE INSERT ON password_resets FOR EACH ROW EXECUTE FUNCTION refuse_resets()",
        ],
        (true, false) => &["DROP TRIGGER refuse_resets ON password_resets", "DROP FUNCTION refuse_resets()"],
        (false, true) => &[
            "CREATE TRIGGER refuse_resets BEFORE INSERT ON password_resets BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        (false, false) => &["DROP TRIGGER refuse_resets"],
    };
    let sql: Vec<String> = sql.iter().map(|s| (*s).to_owned()).collect();
    app.state
        .store
        .run(move |c| {
            for s in &sql {
                diesel::sql_query(s).execute(c)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

#[actix_web::test]
async fn forgot_password_answers_without_waiting_for_its_work_and_the_link_still_arrives() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, |_| {}).await;
    app.user().email("cy@example.com").create().await;
    let browser = app.new_browser();
    let ask = |email: &'static str| {
        let browser = browser.clone();
        let app = &app;
        async move {
            let res = post_form(app, &browser, "/forgot-password", "/forgot-password", &[("email", email)]).await;
            (res.status().as_u16(), location(&res))
        }
    };
    let answer = (303, "/forgot-password?sent=1".to_owned());
    assert_eq!(ask("nobody@example.com").await, answer);
    assert_eq!(ask("cy@example.com").await, answer);
    sink.message_to("cy@example.com").await.link("/reset-password");

    // The work (storing the link, queueing its message) is not what the
    // answer waits for: while it cannot be done, a known address is
    // answered as an unknown one is, and no message leaves.
    reset_rows_fail(&app, true).await;
    assert_eq!(ask("cy@example.com").await, answer);
    sink.assert_none_to("cy@example.com", Duration::from_millis(500)).await;
    reset_rows_fail(&app, false).await;
    assert_eq!(ask("cy@example.com").await, answer);
    let link = sink.message_to("cy@example.com").await.link("/reset-password");
    assert_eq!(reset_page(&app, &token_of(&link)).await, 200, "the link arrived works");
}

/// Signs up with `email` from client IP `ip` (behind a trusted proxy).
async fn sign_up_from(app: &TestApp, email: &str, ip: &str) -> reqwest::Response {
    let browser = app.new_browser();
    let token = form_token(&browser, &app.url("/signup")).await;
    let form = [("csrf_token", token.as_str()), ("email", email), ("password", PASSWORD), ("organization", "Acme")];
    browser.post(app.url("/signup")).header("x-forwarded-for", ip).form(&form).send().await.unwrap()
}

#[actix_web::test]
async fn an_address_gets_one_sign_up_notice_a_window_whatever_the_client_ips() {
    let sink = SmtpSink::start().await;
    let app = app_with(&sink, |c| {
        c.trusted_proxies = vec!["127.0.0.1".to_owned()].try_into().unwrap();
    })
    .await;
    let (hal, org) = app.user().email("hal@example.com").create().await;
    for ip in ["203.0.113.1", "203.0.113.2", "198.51.100.7"] {
        let res = sign_up_from(&app, "HAL@example.com", ip).await;
        assert_eq!((res.status().as_u16(), location(&res)), (303, "/login?notice=signed-up".to_owned()), "{ip}");
    }
    let notice = sink.message_to("hal@example.com").await;
    assert_eq!(notice.subject(), "Someone tried to sign up with your address");
    sink.assert_none_to("hal@example.com", Duration::from_millis(500)).await;
    // Each attempt is still in the owner's audit log.
    let mut audited = 0;
    for _ in 0..100 {
        let events = portcullis::audit::list(&app.state.store, &org.id, None, 100).await.unwrap().unwrap();
        audited = events.iter().filter(|e| e.action == "user.signup_email_in_use").count();
        if audited == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(audited, 3);
    // The next window, the next notice.
    app.clock.advance(Span::seconds(901));
    sign_up_from(&app, &hal.email, "203.0.113.1").await;
    assert_eq!(sink.message_to("hal@example.com").await.subject(), "Someone tried to sign up with your address");
}
