//! The pages worth framing or forging — consent, dashboard, invitation —
//! forbid framing, and their forms take only their own session's token.

use diesel::prelude::*;
use oauth2::{CsrfToken, PkceCodeChallenge, Scope};
use portcullis::store::schema::consents;
use serde_json::json;

use crate::api_members::key_for;
use crate::oauth_code::signed_in;
use crate::oauth_support::{Registered, hidden_fields, query};
use crate::support::{PASSWORD, TestApp, call, location};

fn assert_unframeable(res: &reqwest::Response, page: &str) {
    assert_eq!(res.status(), 200, "{page}");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{page}: {csp}");
    assert_eq!(res.headers()["x-frame-options"], "DENY", "{page}");
}

/// An authorization URL of `reg` for `read`, with a fresh PKCE challenge.
fn authorization_url(app: &TestApp, reg: &Registered) -> String {
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (url, _) = app
        .oauth2_client(reg)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read".into()))
        .set_pkce_challenge(challenge)
        .url();
    url.to_string()
}

#[actix_web::test]
async fn consent_dashboard_and_invitation_pages_cannot_be_framed() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let (owner, _) = app.user().create().await;
    let (invitee, _) = app.user().create().await;
    let key = key_for(&app, &owner, &["admin"]).await;
    let (s, b) =
        call(&app, "POST", "/v1/invitations", &key, Some(json!({"email": invitee.email, "role": "VIEWER"}))).await;
    assert_eq!(s, 201, "{b}");
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &invitee.email, PASSWORD).await.status(), 303);

    let consent = browser.get(authorization_url(&app, &reg)).send().await.unwrap();
    assert_unframeable(&consent, "consent");
    assert_unframeable(&browser.get(app.url("/dashboard")).send().await.unwrap(), "dashboard");
    assert_unframeable(&browser.get(b["data"]["url"].as_str().unwrap()).send().await.unwrap(), "invitation");
}

#[actix_web::test]
async fn a_consent_with_another_sessions_csrf_token_is_refused_and_grants_nothing() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let url = authorization_url(&app, &reg);
    let (victim, attacker) = (signed_in(&app).await, signed_in(&app).await);
    let attackers_page = attacker.get(&url).send().await.unwrap().text().await.unwrap();
    let victims_page = victim.get(&url).send().await.unwrap().text().await.unwrap();

    // The victim's consent form, posted with the attacker's (valid, but other) token.
    let mut form: Vec<(String, String)> = hidden_fields(&victims_page);
    let attackers_token = crate::support::csrf_token(&attackers_page);
    assert_ne!(crate::support::csrf_token(&victims_page), attackers_token);
    for (name, value) in &mut form {
        if name == "csrf_token" {
            *value = attackers_token.clone();
        }
    }
    form.push(("decision".into(), "approve".into()));
    let res = victim.post(app.url("/oauth/authorize")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(location(&res).is_empty(), "no code: {}", location(&res));
    let client_id = reg.client.client_id.clone();
    let stored: i64 = app
        .state
        .store
        .run(move |conn| Ok(consents::table.filter(consents::client_id.eq(client_id)).count().get_result(conn)?))
        .await
        .unwrap();
    assert_eq!(stored, 0, "no consent stored");
    let res = victim.get(format!("{url}&prompt=none")).send().await.unwrap();
    let back = url::Url::parse(&location(&res)).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("consent_required"));

    // The same form with the victim's own token is what works.
    let back = app.authorize(&victim, &url, "approve").await;
    assert!(query(&back, "code").is_some(), "{back}");
}

/// A route as the router declares it: method and path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Declared {
    method: &'static str,
    path: String,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The quoted string at the start of `s` (after whitespace), and the rest.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start().strip_prefix('"')?;
    let end = s.find('"')?;
    Some((&s[..end], &s[end + 1..]))
}

/// The rest of `s` after the parenthesized group it starts with.
fn after_parens(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 1 => return &s[i + 1..],
            ')' => depth -= 1,
            _ => {}
        }
    }
    ""
}

/// Every route declared in `src/http` outside the `/v1` scope (whose
/// credentials are bearer tokens, never cookies): `.route("P", web::M())`
/// and `web::resource("P").m(…).n(…)`. Read from the source, so a route
/// added later is covered by the tests below without anyone listing it.
fn declared_routes() -> Vec<Declared> {
    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.ends_with("api") {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"), &mut paths);
    let mut routes = Vec::new();
    for file in paths {
        let source = std::fs::read_to_string(&file).unwrap();
        for (i, _) in source.match_indices(".route(") {
            let Some((path, rest)) = quoted(&source[i + ".route(".len()..]) else { continue };
            let rest = rest.trim_start().trim_start_matches(',').trim_start();
            if let Some(method) = METHODS.into_iter().find(|m| rest.starts_with(&format!("web::{m}()"))) {
                routes.push(Declared { method, path: path.to_owned() });
            }
        }
        for (i, _) in source.match_indices("web::resource(") {
            let Some((path, mut rest)) = quoted(&source[i + "web::resource(".len()..]) else { continue };
            rest = rest.trim_start().strip_prefix(')').unwrap_or(rest);
            while let Some(method) = METHODS.into_iter().find(|m| rest.trim_start().starts_with(&format!(".{m}("))) {
                routes.push(Declared { method, path: path.to_owned() });
                rest = after_parens(rest.trim_start());
            }
        }
    }
    routes
}

/// The POST routes that read no cookie: the client or the bearer token
/// authenticates the request (RFC 6749 §2.3, RFC 7662, RFC 7009, OpenID
/// Connect Core §5.3), so a forged cross-site request proves nothing.
const NO_COOKIE: [&str; 4] = ["/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/userinfo"];

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2) may
/// come as an app's cross-site form post: without a token it ends nothing
/// and asks the user to confirm; a wrong token is refused as anywhere.
const ASKS_WITHOUT_TOKEN: [&str; 1] = ["/oauth/logout"];

/// `pattern` with its segments filled in: the organization's real id (a
/// page checks membership before anything), other ids made up.
fn concrete(pattern: &str, org: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment {
            "{org}" => org.to_owned(),
            "{action}" => "revoke".to_owned(),
            s if s.starts_with('{') => "0190d6f2-0000-7000-8000-000000000000".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Issue 11: CSRF on EVERY form. Each POST route the router declares (read
/// from the source, so a new form is covered the day it is added) refuses a
/// signed-in browser's post with a forged token: 403 and the page that says
/// so; and none of them acted (the session, the account, the password are
/// as they were).
#[actix_web::test]
async fn every_post_route_with_a_cookie_refuses_a_forged_csrf_token() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &owner.email, PASSWORD).await.status(), 303);
    app.dashboard(&browser).await;

    let posts: Vec<Declared> = declared_routes().into_iter().filter(|r| r.method == "post").collect();
    for known in ["/login", "/oauth/authorize", "/dashboard/orgs/{org}/keys", "/dashboard/orgs/{org}/apps/{id}/delete"]
    {
        assert!(posts.iter().any(|r| r.path == known), "the reader of the router missed {known}: {posts:?}");
    }
    let mut checked = 0;
    for route in posts.iter().filter(|r| !NO_COOKIE.contains(&r.path.as_str())) {
        let path = concrete(&route.path, &org.id);
        for forged in [None, Some(""), Some("forged-token-forged-token-forged-token-xx")] {
            let mut form = vec![("email", owner.email.as_str()), ("password", PASSWORD), ("role", "VIEWER")];
            if let Some(t) = forged {
                form.push(("csrf_token", t));
            }
            let res = browser.post(app.url(&path)).form(&form).send().await.unwrap();
            let status = res.status();
            let page = res.text().await.unwrap();
            if forged.is_none() && ASKS_WITHOUT_TOKEN.contains(&route.path.as_str()) {
                assert_eq!(status, 200, "POST {}: {page}", route.path);
                assert!(page.contains("name=\"csrf_token\""), "it asks, with a form of its own: {page}");
                continue;
            }
            assert_eq!(status, 403, "POST {} with token {forged:?}: {page}", route.path);
            assert!(page.contains("The form expired or was not sent by this site."), "POST {}: {page}", route.path);
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} forms found (24 on 2026-12-05): {posts:?}");
    // Nothing happened: still signed in, the account and password as they were.
    app.dashboard(&browser).await;
    assert_eq!(app.login(&app.new_browser(), &owner.email, PASSWORD).await.status(), 303);
}

/// Issue 11: clickjacking on EVERY page. Each GET route the router declares
/// answers, signed in or not, with `frame-ancestors 'none'` and
/// `X-Frame-Options: DENY`, whatever its status (a redirect or an error
/// page can be framed too), and never a 5xx.
#[actix_web::test]
async fn every_page_forbids_framing_signed_in_or_not() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let signed_in = app.new_browser();
    assert_eq!(app.login(&signed_in, &owner.email, PASSWORD).await.status(), 303);

    let gets: Vec<Declared> = declared_routes().into_iter().filter(|r| r.method == "get").collect();
    for known in ["/login", "/dashboard", "/oauth/authorize", "/account/apps", "/dashboard/orgs/{org}/keys"] {
        assert!(gets.iter().any(|r| r.path == known), "the reader of the router missed {known}: {gets:?}");
    }
    assert!(gets.len() >= 25, "{gets:?}");
    for browser in [&signed_in, &app.new_browser()] {
        for route in &gets {
            let res = browser.get(app.url(&concrete(&route.path, &org.id))).send().await.unwrap();
            let what = format!("GET {} ({})", route.path, res.status());
            assert!(!res.status().is_server_error(), "{what}");
            let csp = res.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_owned());
            assert!(csp.as_deref().is_some_and(|c| c.contains("frame-ancestors 'none'")), "{what}: {csp:?}");
            assert_eq!(res.headers().get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"), "{what}");
        }
    }
}
