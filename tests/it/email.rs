//! Email, end to end: a real SMTP server on 127.0.0.1 (a small sink
//! written here) receives what portcullis sends; the tests read each
//! message and follow its link as the person would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Duration as Span;
use portcullis::clock::Clock;
use portcullis::store::email_outbox;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::api_members::key_for;
use crate::support::{PASSWORD, TestApp, call, csrf_token, form_token, location, urlencode};

/// One message as the SMTP server received it.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The decoded text/plain part.
    pub fn text(&self) -> String {
        mime_part(&self.data, "text/plain")
    }

    pub fn subject(&self) -> String {
        self.data.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned()
    }

    /// The first link in the text that goes to `path`, as a path with query.
    pub fn link(&self, path: &str) -> String {
        let text = self.text();
        let start = text
            .find(&format!("{path}?"))
            .or_else(|| text.find(path))
            .unwrap_or_else(|| panic!("no {path} link in:\n{text}"));
        let end = text[start..].find(char::is_whitespace).map_or(text.len(), |e| start + e);
        text[start..end].to_owned()
    }
}

/// A tiny SMTP server (RFC 5321's EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT)
/// that keeps every message, or refuses every recipient with one reply.
pub(crate) struct SmtpSink {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
    /// The address of every RCPT it was sent, accepted or refused.
    recipients: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// A server that answers every RCPT with `reply` (e.g. `550 5.1.1 no
    /// such user`), so no message is ever accepted.
    pub async fn refusing(reply: &'static str) -> Self {
        Self::serving(TcpListener::bind("127.0.0.1:0").await.unwrap(), Some(reply))
    }

    fn on(listener: TcpListener) -> Self {
        Self::serving(listener, None)
    }

    fn serving(listener: TcpListener, refusal: Option<&'static str>) -> Self {
        let addr = listener.local_addr().unwrap();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let recipients: Arc<Mutex<Vec<String>>> = Arc::default();
        let (kept, asked) = (messages.clone(), recipients.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, asked) = (kept.clone(), asked.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, kept, asked, refusal).await;
                });
            }
        });
        Self { addr, messages, recipients, task }
    }

    /// How many times a recipient was asked for (each attempt asks once).
    pub fn recipients_asked(&self) -> usize {
        self.recipients.lock().unwrap().len()
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message received so far.
    pub fn all(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// The next message to `to` not taken yet, waiting up to 10 s.
    pub async fn message_to(&self, to: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let mut messages = self.messages.lock().unwrap();
                if let Some(i) = messages.iter().position(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to))) {
                    return messages.remove(i);
                }
            }
            assert!(Instant::now() < deadline, "no message to {to} within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// No message to `to` arrives within `wait`.
    pub async fn assert_none_to(&self, to: &str, wait: Duration) {
        tokio::time::sleep(wait).await;
        let to_them = self.all().into_iter().filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to))).count();
        assert_eq!(to_them, 0, "a message went to {to}");
    }
}

async fn serve(
    stream: tokio::net::TcpStream,
    kept: Arc<Mutex<Vec<Received>>>,
    asked: Arc<Mutex<Vec<String>>>,
    refusal: Option<&'static str>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
        let refused;
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
            "RCPT" => {
                let addr = line.split(['<', '>']).nth(1).unwrap_or_default().to_owned();
                asked.lock().unwrap().push(addr.clone());
                match refusal {
                    Some(reply) => {
                        refused = format!("{reply}\r\n");
                        refused.as_bytes()
                    }
                    None => {
                        to.push(addr);
                        b"250 OK\r\n"
                    }
                }
            }
            "DATA" => {
                write.write_all(b"354 go on\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // RFC 5321 §4.5.2: a leading dot was doubled.
                    data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
                }
                kept.lock().unwrap().push(Received { to: std::mem::take(&mut to), data });
                b"250 kept\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not here\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The body of the part of `content_type`, decoded from quoted-printable or
/// base64.
fn mime_part(raw: &str, content_type: &str) -> String {
    let start = raw
        .to_ascii_lowercase()
        .find(&format!("content-type: {content_type}"))
        .unwrap_or_else(|| panic!("no {content_type} part in:\n{raw}"));
    let headers_end = raw[start..].find("\r\n\r\n").unwrap() + start;
    let headers = raw[start..headers_end].to_ascii_lowercase();
    let body_start = headers_end + 4;
    let body_end = raw[body_start..].find("\r\n--").map_or(raw.len(), |e| body_start + e);
    let body = &raw[body_start..body_end];
    if headers.contains("quoted-printable") {
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 3 <= bytes.len()
                && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8(out).unwrap()
    } else if headers.contains("base64") {
        let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap()
    } else {
        body.to_owned()
    }
}

/// Waits until the outbox has sent everything.
async fn all_sent(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state.store.run(email_outbox::pending_count).await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "the outbox did not empty");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The app sending through `sink`.
async fn app_sending_to(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(move |c| c.smtp_url = Some(url)).await
}

/// Signs up through the form; the response (303).
pub(crate) async fn sign_up(
    app: &TestApp,
    browser: &reqwest::Client,
    email: &str,
    return_to: Option<&str>,
) -> reqwest::Response {
    let page = match return_to {
        Some(r) => app.url(&format!("/signup?return_to={}", urlencode(r))),
        None => app.url("/signup"),
    };
    let token = form_token(browser, &page).await;
    let mut form = vec![("csrf_token", token.as_str()), ("email", email), ("password", PASSWORD)];
    if let Some(r) = return_to {
        form.push(("return_to", r));
    }
    form.push(("organization", "Acme"));
    browser.post(app.url("/signup")).form(&form).send().await.unwrap()
}

/// Posts a form that carries the CSRF token of the page at `page`.
pub(crate) async fn post_form(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let token = form_token(browser, &app.url(page)).await;
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    browser.post(app.url(action)).form(&form).send().await.unwrap()
}

pub(crate) fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

#[actix_web::test]
async fn sign_up_sends_a_verification_link_that_works_once_and_the_banner_goes() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let browser = app.new_browser();
    assert_eq!(sign_up(&app, &browser, "ada@example.com", None).await.status(), 303);
    let message = sink.message_to("ada@example.com").await;
    assert_eq!(message.subject(), "Confirm your email address");
    assert!(message.data.contains("text/html"), "an HTML version too");
    let link = message.link("/verify-email");

    // Only the token's digest is stored, and the outbox keeps no body once sent.
    let token = token_of(&link);
    all_sent(&app).await;
    let rows = app
        .state
        .store
        .run(|c| {
            use diesel::prelude::*;
            use portcullis::store::schema::{email_outbox, email_verifications};
            let digests: Vec<String> = email_verifications::table.select(email_verifications::token_digest).load(c)?;
            let bodies: Vec<String> = email_outbox::table.select(email_outbox::body_sealed).load(c)?;
            Ok((digests, bodies))
        })
        .await
        .unwrap();
    assert!(rows.0.iter().all(|d| d != &token) && !rows.0.is_empty());
    assert!(rows.1.iter().all(|b| b.is_empty() && !b.contains(&token)), "{:?}", rows.1);

    // Until verified, the dashboard says so.
    assert_eq!(app.login(&browser, "ada@example.com", PASSWORD).await.status(), 303);
    assert!(app.dashboard(&browser).await.contains("id=\"verify-banner\""));

    // The link shows a button (a mail scanner opening it uses nothing up).
    let page = browser.get(app.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Confirm my address"));
    // Without the form token: refused, nothing used.
    let forged = browser.post(app.url("/verify-email")).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    let used = browser
        .post(app.url("/verify-email"))
        .form(&[("csrf_token", csrf_token(&page).as_str()), ("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), 200);
    assert!(used.text().await.unwrap().contains("id=\"verify-done\""));
    assert!(!app.dashboard(&browser).await.contains("verify-banner"), "the banner goes once verified");

    // Single use.
    let again = browser.get(app.url(&link)).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("id=\"verify-invalid\""));
}

#[actix_web::test]
async fn a_verification_link_expires_after_a_day_and_resend_sends_another() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let browser = app.new_browser();
    sign_up(&app, &browser, "bea@example.com", None).await;
    let first = sink.message_to("bea@example.com").await.link("/verify-email");
    assert_eq!(app.login(&browser, "bea@example.com", PASSWORD).await.status(), 303);

    // A link went out a moment ago: resend waits.
    let dashboard = app.dashboard(&browser).await;
    let res =
        post_form(&app, &browser, "/dashboard", "/account/verify-email/resend", &[("return_to", "/dashboard")]).await;
    assert_eq!(location(&res), "/dashboard?verification=wait");
    assert!(dashboard.contains("Send a new link"));
    // Without the form token: refused.
    let forged = browser.post(app.url("/account/verify-email/resend")).send().await.unwrap();
    assert!(forged.status().is_client_error(), "{}", forged.status());

    app.clock.advance(Span::hours(24) + Span::seconds(1));
    assert_eq!(browser.get(app.url(&first)).send().await.unwrap().status(), 400, "expired after 24 h");
    // The session lived on the test clock too: sign in again.
    assert_eq!(app.login(&browser, "bea@example.com", PASSWORD).await.status(), 303);
    let res = post_form(&app, &browser, "/dashboard", "/account/verify-email/resend", &[]).await;
    assert_eq!(location(&res), "/dashboard?verification=sent");
    let second = sink.message_to("bea@example.com").await.link("/verify-email");
    assert_ne!(first, second);
    let page = browser.get(app.url(&second)).send().await.unwrap().text().await.unwrap();
    let res = browser
        .post(app.url("/verify-email"))
        .form(&[("csrf_token", csrf_token(&page)), ("token", token_of(&second))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn forgot_password_emails_a_link_that_resets_once_and_ends_every_session() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let (user, _) = app.user().email("cy@example.com").create().await;
    let old_session = app.new_browser();
    assert_eq!(app.login(&old_session, &user.email, PASSWORD).await.status(), 303);

    let browser = app.new_browser();
    let login = browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("href=\"/forgot-password\""), "the login page links to it");

    // Bad input: the form again with the message and the value kept.
    let res = post_form(&app, &browser, "/forgot-password", "/forgot-password", &[("email", "not-an-email")]).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"email-error\"") && html.contains("value=\"not-an-email\""), "{html}");
    // Without the form token: refused, nothing sent.
    let forged = browser.post(app.url("/forgot-password")).form(&[("email", "cy@example.com")]).send().await.unwrap();
    assert_eq!(forged.status(), 403);

    // Known and unknown addresses get the same answer.
    let known = post_form(&app, &browser, "/forgot-password", "/forgot-password", &[("email", "CY@example.com")]).await;
    let unknown =
        post_form(&app, &browser, "/forgot-password", "/forgot-password", &[("email", "nobody@example.com")]).await;
    assert_eq!((known.status(), location(&known)), (unknown.status(), location(&unknown)));
    assert_eq!(location(&known), "/forgot-password?sent=1");
    let sent = browser.get(app.url("/forgot-password?sent=1")).send().await.unwrap().text().await.unwrap();
    assert!(sent.contains("id=\"reset-sent\""));

    let message = sink.message_to("cy@example.com").await;
    assert_eq!(message.subject(), "Reset your password");
    let link = message.link("/reset-password");
    sink.assert_none_to("nobody@example.com", Duration::from_millis(300)).await;

    let page = browser.get(app.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    let new_password = "a brand new passphrase";
    let res = browser
        .post(app.url("/reset-password"))
        .form(&[("csrf_token", csrf_token(&page)), ("token", token_of(&link)), ("new_password", new_password.into())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("id=\"reset-done\""));

    // Every old session ended; the new password works, the old one does not.
    let res = old_session.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 303, "the old session is dead");
    assert!(location(&res).starts_with("/login"));
    assert_eq!(app.login(&app.new_browser(), &user.email, PASSWORD).await.status(), 400);
    assert_eq!(app.login(&app.new_browser(), &user.email, new_password).await.status(), 303);
    // Single use.
    assert_eq!(browser.get(app.url(&link)).send().await.unwrap().status(), 400);

    // A link expires after 30 minutes.
    post_form(&app, &browser, "/forgot-password", "/forgot-password", &[("email", "cy@example.com")]).await;
    let late = sink.message_to("cy@example.com").await.link("/reset-password");
    app.clock.advance(Span::minutes(30) + Span::seconds(1));
    assert_eq!(browser.get(app.url(&late)).send().await.unwrap().status(), 400);
}

/// An invitation sent through /v1: its link as the email carries it.
async fn invite_by_email(app: &TestApp, sink: &SmtpSink, key: &str, email: &str) -> String {
    let (s, b) = call(app, "POST", "/v1/invitations", key, Some(json!({"email": email, "role": "DEVELOPER"}))).await;
    assert_eq!(s, 201, "{b}");
    let message = sink.message_to(email).await;
    assert!(message.subject().starts_with("You are invited to "), "{}", message.subject());
    let link = message.link("/invitations/");
    assert_eq!(app.url(&link), b["data"]["url"].as_str().unwrap(), "the email carries the invitation's link");
    link
}

#[actix_web::test]
async fn an_invitation_is_emailed_and_its_link_accepts() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let (owner, org) = app.user().create().await;
    let (guest, _) = app.user().email("dee@example.com").create().await;
    let key = key_for(&app, &owner, &["admin"]).await;
    let link = invite_by_email(&app, &sink, &key, "dee@example.com").await;
    let text = sink.all();
    assert!(text.is_empty(), "one message per invitation");

    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &guest.email, PASSWORD).await.status(), 303);
    let page = browser.get(app.url(&link)).send().await.unwrap().text().await.unwrap();
    let res = browser.post(app.url(&link)).form(&[("csrf_token", csrf_token(&page))]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let member = app.state.accounts.member(&org.id, &guest.id).await.unwrap();
    assert_eq!(member.map(|m| m.role.as_str().to_owned()).as_deref(), Some("DEVELOPER"));
}

#[actix_web::test]
async fn sign_up_from_an_invitation_joins_its_organization_without_making_another() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let (owner, org) = app.user().org("Invitors").create().await;
    let key = key_for(&app, &owner, &["admin"]).await;
    let link = invite_by_email(&app, &sink, &key, "eve@example.com").await;

    // Signed out, the link leads to sign-in, whose "create an account" keeps the way back.
    let browser = app.new_browser();
    let res = browser.get(app.url(&link)).send().await.unwrap();
    let login = location(&res);
    assert_eq!(login, format!("/login?return_to={}", urlencode(&link)));
    let html = browser.get(app.url(&login)).send().await.unwrap().text().await.unwrap();
    let signup = format!("/signup?return_to={}", urlencode(&link));
    assert!(html.contains(&format!("href=\"{}\"", signup.replace('&', "&amp;"))), "{html}");
    let page = browser.get(app.url(&signup)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"joining\"") && page.contains("Invitors"), "{page}");
    assert!(!page.contains("name=\"organization\""), "no organization to name");
    assert!(page.contains("value=\"eve@example.com\""), "the invited address is filled in");

    let res = browser
        .post(app.url("/signup"))
        .form(&[
            ("csrf_token", csrf_token(&page).as_str()),
            ("email", "eve@example.com"),
            ("password", PASSWORD),
            ("return_to", link.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let after = location(&res);
    assert_eq!(after, format!("/login?notice=signed-up&return_to={}", urlencode(&link)));
    sink.message_to("eve@example.com").await; // the verification link

    // Signing in comes back to the link, which leads into the organization.
    let html = browser.get(app.url(&after)).send().await.unwrap().text().await.unwrap();
    let res = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("email", "eve@example.com"),
            ("password", PASSWORD),
            ("return_to", link.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), link);
    let res = browser.get(app.url(&link)).send().await.unwrap();
    assert_eq!(location(&res), format!("/dashboard/orgs/{}", org.id));

    let eve = app
        .state
        .store
        .run(|c| portcullis::store::users::find_user_by_email(c, "eve@example.com"))
        .await
        .unwrap()
        .unwrap();
    let memberships = app.state.accounts.memberships(&eve.id).await.unwrap();
    assert_eq!(memberships.len(), 1, "no organization of her own");
    assert_eq!((memberships[0].organization.id.as_str(), memberships[0].role.as_str()), (org.id.as_str(), "DEVELOPER"));
}

#[actix_web::test]
async fn sign_up_from_an_authorization_request_returns_to_it() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    let browser = app.new_browser();
    let authorize = "/oauth/authorize?client_id=app&response_type=code&state=s1";
    let html = browser.get(app.url(&format!("/login?return_to={}", urlencode(authorize)))).send().await.unwrap();
    let html = html.text().await.unwrap();
    let signup = format!("/signup?return_to={}", urlencode(authorize));
    assert!(html.contains(&signup.replace('&', "&amp;")), "{html}");

    let res = sign_up(&app, &browser, "fay@example.com", Some(authorize)).await;
    let after = location(&res);
    assert_eq!(after, format!("/login?notice=signed-up&return_to={}", urlencode(authorize)));
    let page = browser.get(app.url(&after)).send().await.unwrap().text().await.unwrap();
    let res = browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", csrf_token(&page).as_str()),
            ("email", "fay@example.com"),
            ("password", PASSWORD),
            ("return_to", authorize),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), authorize);
    // Someone who came to use an app gets an account, not an organization.
    let fay = app.state.accounts.user_by_email("fay@example.com").await.unwrap().expect("the account");
    assert!(app.state.accounts.memberships(&fay.user.id).await.unwrap().is_empty());

    // A return_to that leaves the site is dropped, as sign-in drops it.
    let res = sign_up(&app, &app.new_browser(), "gus@example.com", Some("https://evil.example/")).await;
    assert_eq!(location(&res), "/login?notice=signed-up");
}

#[actix_web::test]
async fn sign_up_with_an_address_in_use_answers_alike_and_tells_its_owner() {
    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    app.user().email("hal@example.com").create().await;
    let new = sign_up(&app, &app.new_browser(), "ida@example.com", None).await;
    let in_use = sign_up(&app, &app.new_browser(), "HAL@example.com", None).await;
    assert_eq!((new.status(), location(&new)), (in_use.status(), location(&in_use)));
    let notice = sink.message_to("hal@example.com").await;
    assert_eq!(notice.subject(), "Someone tried to sign up with your address");
    assert!(notice.text().contains(&app.url("/forgot-password")));
    assert_eq!(sink.message_to("ida@example.com").await.subject(), "Confirm your email address");
}

#[actix_web::test]
async fn without_smtp_messages_are_written_to_the_outbox_folder() {
    let app = TestApp::spawn().await;
    app.user().email("jo@example.com").create().await;
    let browser = app.new_browser();
    post_form(&app, &browser, "/forgot-password", "/forgot-password", &[("email", "jo@example.com")]).await;
    let dir = app.state.config.data_dir.join("outbox");
    let deadline = Instant::now() + Duration::from_secs(10);
    let file = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|mut d| d.next()).and_then(Result::ok);
        if let Some(entry) = found {
            break entry.path();
        }
        assert!(Instant::now() < deadline, "no .eml in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(file.extension().and_then(|e| e.to_str()), Some("eml"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let eml = std::fs::read_to_string(&file).unwrap();
    let message = Received { to: vec!["jo@example.com".into()], data: eml.replace("\r\n", "\n").replace('\n', "\r\n") };
    assert_eq!(message.subject(), "Reset your password");
    assert!(message.data.contains("To: jo@example.com"), "{}", message.data);
    let link = message.link("/reset-password");
    assert_eq!(browser.get(app.url(&link)).send().await.unwrap().status(), 200, "the link works");
}

#[actix_web::test]
async fn a_message_waits_while_smtp_is_down_and_is_delivered_when_it_is_back() {
    // A port nobody listens on, for now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(move |c| c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
    app.user().email("kim@example.com").create().await;
    let browser = app.new_browser();
    let res = post_form(&app, &browser, "/forgot-password", "/forgot-password", &[("email", "kim@example.com")]).await;
    assert_eq!(res.status(), 303, "the request does not wait for SMTP");

    // The attempt fails and the message stays, due again later.
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let later = (app.clock.now() + Span::days(1)).naive_utc();
        let rows = app.state.store.run(move |c| email_outbox::due(c, later, 10)).await.unwrap();
        if let Some(row) = rows.into_iter().find(|r| r.last_error.is_some()) {
            break row;
        }
        assert!(Instant::now() < deadline, "the first attempt did not fail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((row.attempts, row.sent_at), (1, None));
    assert!(!row.body_sealed.is_empty());

    // SMTP comes back on that port; the retry is due 30 s later (test clock).
    let sink = SmtpSink::on(TcpListener::bind(("127.0.0.1", port)).await.unwrap());
    app.clock.advance(Span::seconds(31));
    app.state.mail.deliver_due().await.unwrap();
    let message = sink.message_to("kim@example.com").await;
    assert_eq!(message.subject(), "Reset your password");
    let id = row.id.clone();
    let sent = app.state.store.run(move |c| email_outbox::find(c, &id)).await.unwrap().unwrap();
    assert!(sent.sent_at.is_some() && sent.body_sealed.is_empty(), "{sent:?}");
    assert_eq!(app.state.store.run(email_outbox::pending_count).await.unwrap(), 0);
}

/// Every row of the outbox, once `done` holds for the one to `to`
/// (waiting up to 10 s: the background sender works on its own time).
async fn outbox_row_once(
    app: &TestApp,
    to: &str,
    done: impl Fn(&email_outbox::OutboxRow) -> bool,
) -> email_outbox::OutboxRow {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = app
            .state
            .store
            .run(|c| {
                use diesel::prelude::*;
                use portcullis::store::schema::email_outbox as t;
                Ok(t::table.select(email_outbox::OutboxRow::as_select()).load(c)?)
            })
            .await
            .unwrap();
        if let Some(row) = rows.into_iter().find(|r| r.recipient == to && done(r)) {
            return row;
        }
        assert!(Instant::now() < deadline, "the message to {to} did not come to the awaited state");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const METRICS_TOKEN: &str = "metrics-token-for-the-outbox-0123";

/// An app (metrics behind `METRICS_TOKEN`) whose SMTP server answers
/// every recipient with `reply`, and a reset link asked for `email`.
async fn reset_link_refused_with(reply: &'static str, email: &str) -> (SmtpSink, TestApp) {
    let sink = SmtpSink::refusing(reply).await;
    let url = sink.url();
    let app = TestApp::spawn_with(move |c| {
        c.smtp_url = Some(url);
        c.metrics.bearer_token = Some(METRICS_TOKEN.into());
    })
    .await;
    app.user().email(email).create().await;
    let browser = app.new_browser();
    post_form(&app, &browser, "/forgot-password", "/forgot-password", &[("email", email)]).await;
    (sink, app)
}

/// The outbox gauge of `state` in a scrape of `/metrics`.
async fn outbox_gauge(app: &TestApp, state: &str) -> String {
    let res = app.client.get(app.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let series = format!("portcullis_email_outbox_messages{{state=\"{state}\"}} ");
    let line = text.lines().find(|l| l.starts_with(&series)).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    line[series.len()..].to_owned()
}

#[actix_web::test]
async fn a_recipient_refused_for_good_is_given_up_after_one_try_and_counted() {
    let (sink, app) = reset_link_refused_with("550 5.1.1 no such user here", "nemo@example.com").await;

    let dead = outbox_row_once(&app, "nemo@example.com", |r| r.failed_at.is_some()).await;
    assert_eq!((dead.attempts, dead.sent_at), (1, None));
    assert!(dead.body_sealed.is_empty(), "the link goes with the body");
    let reason = dead.last_error.clone().unwrap_or_default();
    assert!(reason.contains("550") && reason.contains("no such user here"), "{reason}");
    assert_eq!(sink.recipients_asked(), 1);

    // Hours later, nothing more is tried, and it is no longer waiting.
    app.clock.advance(Span::hours(2));
    assert_eq!(app.state.mail.deliver_due().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.recipients_asked(), 1, "a permanent refusal is final");
    let id = dead.id.clone();
    let after = app.state.store.run(move |c| email_outbox::find(c, &id)).await.unwrap().unwrap();
    assert_eq!((after.attempts, after.failed_at), (1, dead.failed_at));
    assert_eq!(app.state.store.run(email_outbox::pending_count).await.unwrap(), 0);
    assert_eq!(outbox_gauge(&app, "failed").await, "1");
    assert_eq!(outbox_gauge(&app, "waiting").await, "0");
}

#[actix_web::test]
async fn a_temporary_refusal_is_retried_with_backoff_and_given_up_after_three_days() {
    let (sink, app) = reset_link_refused_with("451 4.3.0 mailbox busy, try later", "tess@example.com").await;

    let first = outbox_row_once(&app, "tess@example.com", |r| r.last_error.is_some()).await;
    assert_eq!((first.attempts, first.failed_at), (1, None), "retried, not given up");
    assert!(first.last_error.as_deref().unwrap_or_default().contains("451"), "{first:?}");
    assert!(!first.body_sealed.is_empty());
    assert_eq!(outbox_gauge(&app, "waiting").await, "1");

    // The retry 30 s later (test clock) is refused again and waits longer.
    app.clock.advance(Span::seconds(31));
    app.state.mail.deliver_due().await.unwrap();
    let second =
        outbox_row_once(&app, "tess@example.com", |r| r.attempts == 2 && r.next_attempt_at > first.next_attempt_at)
            .await;
    assert_eq!(second.failed_at, None);
    assert!(sink.recipients_asked() >= 2);

    // Three days after it was queued, the next refusal is the last.
    app.clock.advance(Span::days(3));
    app.state.mail.deliver_due().await.unwrap();
    let dead = outbox_row_once(&app, "tess@example.com", |r| r.failed_at.is_some()).await;
    let reason = dead.last_error.clone().unwrap_or_default();
    assert!(
        reason.starts_with(&format!("given up after {} attempts over 3 days; the last: ", dead.attempts)),
        "{reason}"
    );
    assert!(reason.contains("451"), "{reason}");
    assert!(dead.body_sealed.is_empty());
    let tries = sink.recipients_asked();
    app.clock.advance(Span::hours(2));
    app.state.mail.deliver_due().await.unwrap();
    assert_eq!(sink.recipients_asked(), tries, "never tried again");
    assert_eq!(outbox_gauge(&app, "failed").await, "1");
    assert_eq!(outbox_gauge(&app, "waiting").await, "0");
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn forgot_password_and_reset_from_the_emailed_link_in_chromium() {
    use crate::browser::{assert_fits_a_phone, click, fill, open_browser, screenshot, submit, text_of, wait_for_path};
    use fantoccini::Locator;

    let sink = SmtpSink::start().await;
    let app = app_sending_to(&sink).await;
    app.user().email("lea@example.com").org("Lea's team").create().await;
    let (_driver, b) = open_browser().await;

    b.goto(&app.url("/login")).await.unwrap();
    click(&b, Locator::Id("forgot-link")).await;
    wait_for_path(&b, "/forgot-password").await;
    screenshot(&b, "forgot-password").await;
    assert_fits_a_phone(&b, "forgot-password").await;
    fill(&b, "email", "lea@example.com").await;
    submit(&b, "/forgot-password").await;
    wait_for_path(&b, "/forgot-password?sent=1").await;
    assert!(text_of(&b, "reset-sent").await.starts_with("If an account uses this address"));

    let link = sink.message_to("lea@example.com").await.link("/reset-password");
    b.goto(&app.url(&link)).await.unwrap();
    fill(&b, "new_password", "correct horse battery staple").await;
    screenshot(&b, "reset-password").await;
    assert_fits_a_phone(&b, "reset-password").await;
    submit(&b, "/reset-password").await;
    assert!(text_of(&b, "reset-done").await.starts_with("Your password has been changed"));

    b.goto(&app.url("/login")).await.unwrap();
    fill(&b, "email", "lea@example.com").await;
    fill(&b, "password", "correct horse battery staple").await;
    submit(&b, "/login").await;
    wait_for_path(&b, "/dashboard").await;
    assert!(text_of(&b, "verify-banner").await.contains("Confirm your email address"));
    screenshot(&b, "verify-banner").await;
    assert_fits_a_phone(&b, "verify-banner").await;
    b.close().await.unwrap();
}
