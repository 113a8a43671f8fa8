//! Security invariants of the foundation: CSRF, cookies, sessions, secrets
//! at rest, headers, bad input.

use diesel::prelude::*;
use portcullis::store::schema::{sessions, users};
use portcullis::tokens::opaque;

use crate::support::{PASSWORD, TestApp, csrf_token, form_token};

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

pub(crate) fn session_cookie_value(res: &reqwest::Response, name: &str) -> String {
    let prefix = format!("{name}=");
    set_cookies(res)
        .iter()
        .find_map(|c| c.strip_prefix(&prefix).map(|rest| rest.split(';').next().unwrap().to_owned()))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", set_cookies(res)))
}

#[actix_web::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    let token = form_token(&browser, &app.url("/login")).await;

    for sent in [None, Some(""), Some("forged-token-forged-token-forged-token-xx")] {
        let mut form = vec![("email", user.email.as_str()), ("password", PASSWORD)];
        if let Some(t) = sent {
            form.push(("csrf_token", t));
        }
        let res = browser.post(app.url("/login")).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 403, "login with token {sent:?}");
        assert!(res.text().await.unwrap().contains("The form expired or was not sent by this site."));
        let res = browser
            .post(app.url("/signup"))
            .form(&[
                ("email", "new@example.com"),
                ("password", PASSWORD),
                ("organization", "X"),
                ("csrf_token", sent.unwrap_or_default()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "signup with token {sent:?}");
    }
    // A token from another browser (its own cookie) does not work here.
    let other = form_token(&app.new_browser(), &app.url("/login")).await;
    let res = browser
        .post(app.url("/login"))
        .form(&[("csrf_token", other.as_str()), ("email", user.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The genuine token does.
    let res = browser
        .post(app.url("/login"))
        .form(&[("csrf_token", token.as_str()), ("email", user.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    // Signed in: logout and password change need the session's token.
    let anon_token = token;
    for (path, form) in [
        ("/logout", vec![("csrf_token", anon_token.as_str())]),
        (
            "/account/password",
            vec![("csrf_token", ""), ("current_password", PASSWORD), ("new_password", "another long password")],
        ),
    ] {
        let res = browser.post(app.url(path)).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
    app.dashboard(&browser).await; // still signed in, password unchanged
    assert_eq!(app.login(&app.new_browser(), &user.email, PASSWORD).await.status(), 303);
}

#[actix_web::test]
async fn session_cookie_is_httponly_lax_and_not_secure_over_http() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let res = app.login(&app.new_browser(), &user.email, PASSWORD).await;
    let cookie = set_cookies(&res).into_iter().find(|c| c.starts_with("portcullis_session=")).unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[actix_web::test]
async fn https_issuer_gets_secure_host_prefixed_cookies_and_hsts() {
    let app = TestApp::spawn_with(|c| {
        c.issuer = "https://auth.example.com".into();
        c.master_key = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    })
    .await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    let res = browser.get(app.url("/login")).send().await.unwrap();
    assert!(res.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    let csrf = set_cookies(&res).into_iter().find(|c| c.starts_with("__Host-portcullis_csrf=")).unwrap();
    assert!(csrf.contains("Secure") && csrf.contains("HttpOnly"), "{csrf}");
    // reqwest does not send Secure cookies over http, so send them by hand.
    let token = csrf_token(&res.text().await.unwrap());
    let csrf_value = csrf.split(';').next().unwrap().to_owned();
    let res = app
        .new_browser()
        .post(app.url("/login"))
        .header("cookie", csrf_value)
        .form(&[("csrf_token", token.as_str()), ("email", user.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookie = set_cookies(&res).into_iter().find(|c| c.starts_with("__Host-portcullis_session=")).unwrap();
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
}

#[actix_web::test]
async fn login_rotates_the_session_and_a_planted_one_is_worthless() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    let first = session_cookie_value(&app.login(&browser, &user.email, PASSWORD).await, "portcullis_session");
    // Signing in again (e.g. as someone else on a shared machine) gives a new id
    // and ends the old session on the server.
    let token = csrf_token(&app.dashboard(&browser).await);
    let res = browser
        .post(app.url("/login"))
        .form(&[("csrf_token", token.as_str()), ("email", user.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let second = session_cookie_value(&res, "portcullis_session");
    assert_ne!(first, second);
    let replay = app
        .new_browser()
        .get(app.url("/dashboard"))
        .header("cookie", format!("portcullis_session={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303, "the replaced session must be dead");
}

/// Session fixation (issue 11): a session id planted in the browser before
/// sign-in (made up, or the attacker's own session) is not the one the
/// browser is signed in with after: sign-in issues a new id, and the
/// planted one gives no access to the victim's account. The form token
/// changes with the session too.
#[actix_web::test]
async fn a_session_id_planted_before_sign_in_is_never_the_signed_in_one() {
    let app = TestApp::spawn().await;
    let (victim, _) = app.user().create().await;
    let (attacker, _) = app.user().create().await;
    let attackers =
        session_cookie_value(&app.login(&app.new_browser(), &attacker.email, PASSWORD).await, "portcullis_session");
    let victims_email = victim.email.clone();
    // A browser without a cookie jar: the cookies it sends are the ones set here.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let dashboard = async |session: &str| {
        let res = plain
            .get(app.url("/dashboard"))
            .header("cookie", format!("portcullis_session={session}"))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    };
    for planted in ["planted-by-the-attacker-0123456789abcdef".to_owned(), attackers.clone()] {
        // The sign-in page as the victim's browser shows it, the planted id sent along.
        let mut cookies = format!("portcullis_session={planted}");
        let login_page = plain.get(app.url("/login?reauth=1")).header("cookie", cookies.clone()).send().await.unwrap();
        if set_cookies(&login_page).iter().any(|c| c.starts_with("portcullis_csrf=")) {
            cookies.push_str(&format!("; portcullis_csrf={}", session_cookie_value(&login_page, "portcullis_csrf")));
        }
        let anonymous_token = csrf_token(&login_page.text().await.unwrap());
        let res = plain
            .post(app.url("/login"))
            .header("cookie", cookies)
            .form(&[
                ("csrf_token", anonymous_token.as_str()),
                ("email", victims_email.as_str()),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let issued = session_cookie_value(&res, "portcullis_session");
        assert_ne!(issued, planted, "sign-in issues a new session id");
        // The planted id does not open the victim's dashboard.
        let (status, page) = dashboard(&planted).await;
        if planted == attackers {
            assert!(!page.contains(&victims_email), "the attacker's session stays the attacker's");
        } else {
            assert_eq!(status, 303, "a made-up id is no session");
        }
        // The issued one does, with a form token of its own, not the one from before.
        let (status, page) = dashboard(&issued).await;
        assert_eq!(status, 200);
        assert!(page.contains(&victims_email), "signed in as the victim");
        assert_ne!(csrf_token(&page), anonymous_token);
    }
}

#[actix_web::test]
async fn logout_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    let value = session_cookie_value(&app.login(&browser, &user.email, PASSWORD).await, "portcullis_session");
    let token = csrf_token(&app.dashboard(&browser).await);
    let res = browser.post(app.url("/logout")).form(&[("csrf_token", token)]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let cleared = set_cookies(&res).into_iter().find(|c| c.starts_with("portcullis_session=")).unwrap();
    assert!(cleared.contains("Max-Age=0") || cleared.contains("expires=Thu, 01 Jan 1970"), "{cleared}");
    // Someone who copied the cookie before logout gets nothing.
    let replay = app
        .new_browser()
        .get(app.url("/dashboard"))
        .header("cookie", format!("portcullis_session={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
}

#[actix_web::test]
async fn sessions_expire_by_the_clock() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let browser = app.new_browser();
    app.login(&browser, &user.email, PASSWORD).await;
    app.clock.advance(chrono::Duration::seconds(app.state.config.session_ttl_secs - 1));
    app.dashboard(&browser).await;
    app.clock.advance(chrono::Duration::seconds(2));
    let res = browser.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 303);
}

#[actix_web::test]
async fn passwords_are_argon2id_and_session_tokens_stored_as_digests() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let value = session_cookie_value(&app.login(&app.new_browser(), &user.email, PASSWORD).await, "portcullis_session");
    let id = user.id.clone();
    let (hash, digests) = app
        .state
        .store
        .run(move |conn| {
            let hash: String = users::table.find(&id).select(users::password_hash).first(conn)?;
            let digests: Vec<String> =
                sessions::table.filter(sessions::user_id.eq(&id)).select(sessions::token_digest).load(conn)?;
            Ok((hash, digests))
        })
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    assert_eq!(digests, vec![opaque::digest(&value)]);
    assert_ne!(digests[0], value);
}

#[actix_web::test]
async fn pages_send_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/login", "/signup", "/nope", "/healthz"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(h.get("strict-transport-security").is_none(), "no HSTS over plain http");
    }
    let res = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[actix_web::test]
async fn wrong_content_type_is_415_not_a_panic() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    form_token(&browser, &app.url("/login")).await;
    let res = browser
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(r#"{"email":"a@b.io","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert!(res.text().await.unwrap().contains("application/x-www-form-urlencoded"));
    let res = browser.post(app.url("/signup")).send().await.unwrap();
    assert_eq!(res.status(), 415);
}

#[actix_web::test]
async fn oversize_bodies_get_413() {
    let app = TestApp::spawn().await;
    let big = "a".repeat(app.state.config.max_body_bytes + 1);
    // Declared length over the limit: refused before reading.
    let res = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("email={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert!(res.headers().contains_key("x-request-id"));
    // No declared length (chunked): the form reader stops at the limit.
    let stream = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(format!("email={big}"))]);
    let res = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

#[actix_web::test]
async fn malformed_forms_are_400_pages_that_say_why() {
    let app = TestApp::spawn().await;
    let browser = app.new_browser();
    let token = form_token(&browser, &app.url("/login")).await;
    // A field given twice cannot be read as one value.
    let res = browser
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={token}&email=a%40b.io&email=c%40d.io&password=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("The form could not be read") && html.contains("duplicate field"), "{html}");
    // Bytes that are not UTF-8 are read leniently, then fail like any bad login.
    let mut body = format!("csrf_token={token}&password=x&email=").into_bytes();
    body.extend_from_slice(&[0xff, 0xfe, b'@', 0xfd]);
    let res = browser
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Invalid email or password."));
    // A query string that cannot be read is a 400 page too.
    let res = browser.get(app.url("/login?return_to=a&return_to=b")).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("The query string could not be read"));
}

/// Finding 9: one body limit, whether the length is declared or the body is
/// chunked, in each surface's own error shape.
#[actix_web::test]
async fn oversize_bodies_get_413_in_each_surfaces_shape_chunked_or_not() {
    use crate::support::chunked_body;
    let app = TestApp::spawn().await;
    let limit = app.state.config.max_body_bytes;
    let message = format!("The request body is larger than {limit} bytes.");
    // 1 MB of valid JSON: under actix's own 2 MB JSON default, over ours.
    let json =
        serde_json::to_vec(&serde_json::json!({ "email": "a@example.com", "password": "x".repeat(1 << 20) })).unwrap();
    for chunked in [true, false] {
        let req = app.client.post(app.url("/v1/auth/login")).header("content-type", "application/json");
        let req = if chunked { req.body(chunked_body(json.clone())) } else { req.body(json.clone()) };
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 413, "chunked: {chunked}");
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({ "success": false, "error": {
                "code": "PAYLOAD_TOO_LARGE", "message": message, "details": {}, "request_id": id } }),
            "chunked: {chunked}"
        );
    }

    // 100 kB: under actix's 256 kB default for raw bodies, over ours.
    let form = format!("grant_type=client_credentials&client_id=x&pad={}", "a".repeat(100_000)).into_bytes();
    for chunked in [true, false] {
        let req = app.client.post(app.url("/oauth/token")).header("content-type", "application/x-www-form-urlencoded");
        let req = if chunked { req.body(chunked_body(form.clone())) } else { req.body(form.clone()) };
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 413, "chunked: {chunked}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body, serde_json::json!({ "error": "invalid_request", "error_description": message }));
    }

    let browser = app.new_browser();
    let token = form_token(&browser, &app.url("/login")).await;
    let form = format!("csrf_token={token}&email=a%40example.com&password={}", "a".repeat(1 << 20)).into_bytes();
    let res = browser
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(chunked_body(form))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    assert!(res.text().await.unwrap().contains("The request body is larger than this server accepts."));
}

/// A chunked body under the limit reaches its handler intact.
#[actix_web::test]
async fn chunked_bodies_under_the_limit_are_served() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    let json = serde_json::to_vec(&serde_json::json!({ "email": user.email, "password": PASSWORD })).unwrap();
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("content-type", "application/json")
        .body(crate::support::chunked_body(json))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"]["user"]["email"], user.email.as_str());
}

/// Finding 10: the access log names the route, never a path that carries
/// a secret.
#[actix_web::test]
async fn invitation_tokens_never_reach_the_log() {
    let logs = crate::support::captured_logs();
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (invitee, _) = app.user().create().await;
    let (_, token) = app
        .state
        .accounts
        .invite(
            &org.id,
            &invitee.email,
            portcullis::accounts::Role::Viewer,
            Some(owner.id),
            Some(portcullis::accounts::Role::Owner),
        )
        .await
        .unwrap();
    let url = app.url(&format!("/invitations/{token}"));
    assert_eq!(app.new_browser().get(&url).send().await.unwrap().status(), 303, "anonymous: to the login page");
    let browser = app.new_browser();
    app.login(&browser, &invitee.email, PASSWORD).await;
    let html = browser.get(&url).send().await.unwrap().text().await.unwrap();
    let res = browser.post(&url).form(&[("csrf_token", csrf_token(&html))]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();

    let text = logs.text();
    let line = text.lines().find(|l| l.contains(&id) && l.contains("served")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("method=POST route=/invitations/{token}"), "{line}");
    assert!(!text.contains(&token), "the invitation token is in the log");
}

#[actix_web::test]
async fn an_unreadable_body_at_the_token_endpoint_is_an_rfc_6749_error() {
    let app = TestApp::spawn().await;
    let res = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-encoding", "gzip")
        .body("grant_type=client_credentials (not gzip at all)")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "invalid_request", "error_description": "The request body could not be read."})
    );
}

/// A body sent too slowly: the declared length, one byte, then nothing.
/// The answer is what the server wrote before it closed the connection.
async fn trickle(app: &TestApp, path: &str, content_type: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\n{{");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The server's deadline is 1 s; 30 s only keeps a broken server from
    // hanging the suite.
    tokio::time::timeout(std::time::Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection after its deadline")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[actix_web::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_in_each_surfaces_shape_and_the_connection_closes() {
    let app = TestApp::spawn_with(|c| c.request_body_timeout_secs = 1).await;
    let answer = trickle(&app, "/v1/auth/login", "application/json").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"REQUEST_TIMEOUT""#), "{answer}");
    let answer = trickle(&app, "/oauth/token", "application/x-www-form-urlencoded").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"invalid_request""#), "{answer}");
    let answer = trickle(&app, "/login", "application/x-www-form-urlencoded").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("The request body did not arrive in time."), "{answer}");
    // A whole body in time is served as before.
    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
