//! A creation form sent twice (a reload of the page that shows the new
//! secret makes the browser post it again) makes one thing: its single-use
//! token is claimed by the first POST, and the second is told, 409, that
//! it was made already and its secret is not shown again.

use portcullis::accounts::{Organization, User};
use portcullis::clock::Clock;

use crate::support::{PASSWORD, TestApp, csrf_token};

async fn signed_in(app: &TestApp, user: &User) -> reqwest::Client {
    let b = app.new_browser();
    assert_eq!(app.login(&b, &user.email, PASSWORD).await.status(), 303);
    b
}

/// The value of the hidden field `name` of a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in\n{html}")) + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The page at `path`: its CSRF token and its creation form's single-use token.
async fn form_of(app: &TestApp, b: &reqwest::Client, path: &str) -> (String, String) {
    let res = b.get(app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {path}");
    let html = res.text().await.unwrap();
    (csrf_token(&html), hidden(&html, "form_once"))
}

async fn send(app: &TestApp, b: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let res = b.post(app.url(path)).form(form).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn keys_path(org: &Organization) -> String {
    format!("/dashboard/orgs/{}/keys", org.id)
}

const AGAIN: &str = r#"<h1 id="already-title">"#;

#[actix_web::test]
async fn a_reposted_key_form_makes_one_key_and_does_not_show_a_secret_again() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let b = signed_in(&app, &owner).await;
    let (csrf, once) = form_of(&app, &b, &keys_path(&org)).await;
    let form = |name: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("form_once", once.clone()),
            ("name", name.to_owned()),
            ("environment", "live".to_owned()),
            ("type", "secret".to_owned()),
            ("scopes", "read".to_owned()),
        ]
    };
    let as_refs = |f: &Vec<(&'static str, String)>| f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();

    // A refused form makes nothing and gives its token back: corrected, it is sent again.
    let res = b.post(app.url(&keys_path(&org))).form(&as_refs(&form(""))).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(app.state.api_keys.list(&org.id, None, 10).await.unwrap().is_empty());

    let res = b.post(app.url(&keys_path(&org))).form(&as_refs(&form("Billing"))).send().await.unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.text().await.unwrap().contains(r#"<code id="new-key" class="secret">"#));

    // The reload: the same form again.
    let res = b.post(app.url(&keys_path(&org))).form(&as_refs(&form("Billing"))).send().await.unwrap();
    assert_eq!(res.status(), 409);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains(&format!("{AGAIN}This key was already created</h1>")), "{html}");
    assert!(html.contains("is not shown again"), "{html}");
    assert!(html.contains(&format!(r#"id="to-list" href="{}""#, keys_path(&org))), "{html}");
    assert!(!html.contains("id=\"new-key\""), "no secret on the answer: {html}");
    let keys = app.state.api_keys.list(&org.id, None, 10).await.unwrap();
    assert_eq!(keys.len(), 1, "one key: {keys:?}");
    assert_eq!(keys[0].name, "Billing");

    // A fresh form makes a second key, as asked.
    let (_, fresh) = form_of(&app, &b, &keys_path(&org)).await;
    assert_ne!(fresh, once);
    let mut again = as_refs(&form("Billing 2"));
    again[1].1 = fresh;
    assert_eq!(b.post(app.url(&keys_path(&org))).form(&again).send().await.unwrap().status(), 201);
    assert_eq!(app.state.api_keys.list(&org.id, None, 10).await.unwrap().len(), 2);
}

#[actix_web::test]
async fn the_same_key_form_posted_twice_at_once_makes_one_key() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let b = signed_in(&app, &owner).await;
    let (csrf, once) = form_of(&app, &b, &keys_path(&org)).await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("form_once", once.as_str()),
        ("name", "Twice"),
        ("environment", "test"),
        ("type", "secret"),
        ("scopes", "read"),
    ];
    let path = keys_path(&org);
    let (a, c) = tokio::join!(send(&app, &b, &path, &form), send(&app, &b, &path, &form));
    let mut statuses = [a.0, c.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} {}", a.1, c.1);
    assert_eq!(app.state.api_keys.list(&org.id, None, 10).await.unwrap().len(), 1);
}

#[actix_web::test]
async fn a_form_too_old_or_with_a_made_up_token_is_shown_again_and_makes_nothing() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let b = signed_in(&app, &owner).await;
    let (csrf, _) = form_of(&app, &b, &keys_path(&org)).await;
    let old = format!("{}.{}", (app.clock.now() - chrono::Duration::hours(13)).timestamp(), "a".repeat(43));
    for token in [old.as_str(), "made-up"] {
        let form = [
            ("csrf_token", csrf.as_str()),
            ("form_once", token),
            ("name", "Late"),
            ("environment", "live"),
            ("type", "secret"),
            ("scopes", "read"),
        ];
        let (status, html) = send(&app, &b, &keys_path(&org), &form).await;
        assert_eq!(status, 400, "{token}");
        assert!(html.contains("This form was open too long. Check it and send it again."), "{html}");
        // The values stay, with a new token to send them with.
        assert!(html.contains(r#"value="Late""#), "{html}");
        assert_ne!(hidden(&html, "form_once"), token);
    }
    assert!(app.state.api_keys.list(&org.id, None, 10).await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_reposted_app_registration_registers_one_app() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let b = signed_in(&app, &owner).await;
    let path = format!("/dashboard/orgs/{}/apps", org.id);
    let (csrf, once) = form_of(&app, &b, &path).await;
    let form = [
        ("csrf_token", csrf.as_str()),
        ("form_once", once.as_str()),
        ("name", "Portal"),
        ("client_type", "confidential"),
        ("redirect_uris", "https://portal.example/cb"),
        ("scopes", "read"),
        ("grant_types", "authorization_code"),
    ];
    let (status, html) = send(&app, &b, &path, &form).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"id="client-secret""#), "{html}");

    let (status, html) = send(&app, &b, &path, &form).await;
    assert_eq!(status, 409);
    assert!(html.contains(&format!("{AGAIN}This app was already registered</h1>")), "{html}");
    assert!(!html.contains(r#"id="client-secret""#), "{html}");
    assert!(html.contains(&format!(r#"id="to-list" href="{path}""#)), "{html}");
    let apps = app.state.oauth.clients.list(Some(org.id.clone())).await.unwrap();
    assert_eq!(apps.len(), 1, "one app");
    assert_eq!(apps[0].name, "Portal");
}

#[actix_web::test]
async fn a_reposted_invitation_makes_one_invitation() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let b = signed_in(&app, &owner).await;
    let members = format!("/dashboard/orgs/{}/members", org.id);
    let (csrf, once) = form_of(&app, &b, &members).await;
    let path = format!("/dashboard/orgs/{}/invitations", org.id);
    let form =
        [("csrf_token", csrf.as_str()), ("form_once", once.as_str()), ("email", "kim@example.com"), ("role", "VIEWER")];
    let (status, html) = send(&app, &b, &path, &form).await;
    assert_eq!(status, 201, "{html}");
    assert!(html.contains(r#"id="invitation-link""#), "{html}");

    let (status, html) = send(&app, &b, &path, &form).await;
    assert_eq!(status, 409);
    assert!(html.contains(&format!("{AGAIN}This invitation was already sent</h1>")), "{html}");
    assert!(!html.contains(r#"id="invitation-link""#), "{html}");
    assert!(html.contains(&format!(r#"id="to-list" href="{members}""#)), "{html}");
    let pending = app.state.accounts.pending_invitations(&org.id, None, 10).await.unwrap().unwrap();
    assert_eq!(pending.len(), 1, "one invitation");
    assert_eq!(pending[0].email, "kim@example.com");
}

#[actix_web::test]
async fn a_reposted_roll_rolls_once_and_a_reposted_rotation_rotates_once() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let b = signed_in(&app, &owner).await;
    let (id, _) = app.secret_key(&org.id, &owner.id, &["read"]).await;
    let roll = format!("{}/{id}/roll", keys_path(&org));
    let (csrf, once) = form_of(&app, &b, &roll).await;
    let form = [("csrf_token", csrf.as_str()), ("form_once", once.as_str()), ("overlap", "3600")];
    assert_eq!(send(&app, &b, &roll, &form).await.0, 201);
    let (status, html) = send(&app, &b, &roll, &form).await;
    assert_eq!(status, 409);
    assert!(html.contains(&format!("{AGAIN}This key was already rolled</h1>")), "{html}");
    assert_eq!(app.state.api_keys.list(&org.id, None, 10).await.unwrap().len(), 2, "the old key and one new one");

    let mut made = app.client_in(&org.id, &owner.id);
    made.new_mut().created_by = Some(owner.id.clone());
    let reg = made.create().await;
    let page = format!("/dashboard/orgs/{}/apps/{}", org.id, reg.client.client_id);
    let (csrf, once) = form_of(&app, &b, &page).await;
    let form = [("csrf_token", csrf.as_str()), ("form_once", once.as_str()), ("grace_period", "3600")];
    let rotate = format!("{page}/rotate-secret");
    let (status, html) = send(&app, &b, &rotate, &form).await;
    assert_eq!(status, 200, "{html}");
    let marker = r#"id="client-secret""#;
    let start = html.find(marker).unwrap_or_else(|| panic!("{html}"));
    let from = html[start..].find('>').unwrap() + start + 1;
    let new = html[from..from + html[from..].find('<').unwrap()].trim().to_owned();
    let (status, html) = send(&app, &b, &rotate, &form).await;
    assert_eq!(status, 409);
    assert!(html.contains(&format!("{AGAIN}This secret was already rotated</h1>")), "{html}");
    // The secret shown the first time still works: no second rotation replaced it.
    let (status, body) = crate::oauth_support::client_credentials_read(&app, &reg.client.client_id, &new).await;
    assert_eq!(status, 200, "{body}");
}
