//! The OAuth apps pages (`/dashboard/orgs/{org}/apps`): register (the
//! secret shown once, and working), edit, rotate, delete, the rules of
//! /v1/apps for each role, CSRF, other organizations' apps.

use portcullis::accounts::{Organization, Role, User};
use portcullis::oauth::clients::{Client, GrantType};

use crate::oauth_support::{REDIRECT, Registered, client_credentials_read as client_credentials};
use crate::support::{PASSWORD, TestApp, audit_events_eventually, csrf_token, location, urlencode};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A member of a new organization (or of `org` with `role`), signed in in
/// a browser of their own.
async fn member(app: &TestApp, org: Option<&Organization>, role: Role) -> (reqwest::Client, User, Organization) {
    let (user, own) = app.user().create().await;
    let org = match org {
        Some(org) => {
            app.state.accounts.add_member(&org.id, &user.id, role).await.unwrap();
            org.clone()
        }
        None => own,
    };
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    (browser, user, org)
}

fn apps_path(org: &Organization) -> String {
    format!("/dashboard/orgs/{}/apps", org.id)
}

async fn get(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, String) {
    let res = browser.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// POSTs a form to `path` with the browser's CSRF token (from its
/// dashboard) unless `fields` brings its own.
async fn post(app: &TestApp, browser: &reqwest::Client, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let token = csrf_token(&app.dashboard(browser).await);
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    browser.post(app.url(path)).form(&form).send().await.unwrap()
}

/// The text of the element with `id` (up to its first tag), unescaped.
fn text_by_id(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in\n{html}"));
    let from = html[start..].find('>').unwrap() + start + 1;
    let end = html[from..].find('<').unwrap() + from;
    html[from..end].replace("&quot;", "\"").replace("&#x27;", "'").replace("&amp;", "&").trim().to_owned()
}

const CONFIDENTIAL: [(&str, &str); 7] = [
    ("name", "Billing Sync"),
    ("client_type", "confidential"),
    ("redirect_uris", REDIRECT),
    ("scopes", "read"),
    ("grant_types", "authorization_code"),
    ("grant_types", "client_credentials"),
    ("homepage_url", "https://app.example/about"),
];

/// Registers an app through the page; its id and secret as the page showed them.
async fn register(app: &TestApp, browser: &reqwest::Client, org: &Organization) -> Registered {
    let res = post(app, browser, &apps_path(org), &CONFIDENTIAL).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let client_id = text_by_id(&html, "client-id");
    let secret = text_by_id(&html, "client-secret");
    let client = (*app.state.oauth.clients.get(&client_id).await.unwrap().expect("registered")).clone();
    Registered { client, secret: Some(secret) }
}

async fn apps_of(app: &TestApp, org: &Organization) -> Vec<Client> {
    app.state.oauth.clients.list(Some(org.id.clone())).await.unwrap()
}

#[actix_web::test]
async fn registering_shows_the_secret_once_and_it_works_at_the_token_endpoint() {
    let logs = crate::support::captured_logs();
    let app = TestApp::spawn().await;
    let (browser, owner, org) = member(&app, None, Role::Owner).await;
    let (status, html) = get(&app, &browser, &apps_path(&org)).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"no-apps\""), "{html}");
    assert!(html.contains(&format!("action=\"{}\"", apps_path(&org))), "an OWNER gets the register form: {html}");

    let res = post(&app, &browser, &apps_path(&org), &CONFIDENTIAL).await;
    // Rendered from the POST itself: no redirect, no cookie, never cached.
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    assert!(res.headers().get("location").is_none());
    assert!(res.headers().get("set-cookie").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("you won’t see the secret again"), "{html}");
    assert!(html.contains("data-copy=\"client-secret\""), "a copy button: {html}");
    assert!(html.contains("<script src=\"/static/copy.js\"></script>"), "{html}");
    let client_id = text_by_id(&html, "client-id");
    let secret = text_by_id(&html, "client-secret");
    assert!(secret.len() >= 43, "{secret}");

    // The secret works with the grant it was given.
    let (status, body) = client_credentials(&app, &client_id, &secret).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());

    // Registered as asked, for the person who registered it.
    let apps = apps_of(&app, &org).await;
    assert_eq!(apps.len(), 1);
    let a = &apps[0];
    assert_eq!((a.name.as_str(), a.created_by.as_deref()), ("Billing Sync", Some(owner.id.as_str())));
    assert_eq!(a.redirect_uris, vec![REDIRECT.to_owned()]);
    assert!(a.allows(GrantType::ClientCredentials) && a.allows(GrantType::AuthorizationCode));
    let events = audit_events_eventually(&app, &org.id, "app.created").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, format!("user:{}", owner.id));
    assert_eq!(events[0].target.as_deref(), Some(client_id.as_str()));

    // Never shown again: not in the list, not on the app page.
    let (_, list) = get(&app, &browser, &apps_path(&org)).await;
    assert!(list.contains(&client_id) && list.contains("Billing Sync") && list.contains(&owner.email), "{list}");
    assert!(list.contains("confidential") && list.contains("authorization_code, client_credentials"), "{list}");
    let (_, page) = get(&app, &browser, &format!("{}/{client_id}", apps_path(&org))).await;
    for html in [&list, &page, &logs.text()] {
        assert!(!html.contains(&secret));
    }
    let js = reqwest::get(app.url("/static/copy.js")).await.unwrap();
    assert_eq!(js.headers().get("content-type").unwrap(), "text/javascript; charset=utf-8");
}

#[actix_web::test]
async fn a_public_app_gets_no_secret_and_no_client_credentials() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let mut form = CONFIDENTIAL.to_vec();
    form[1] = ("client_type", "public");
    let res = post(&app, &browser, &apps_path(&org), &form).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert_eq!(
        text_by_id(&html, "grant_types-error"),
        "A public app cannot use client credentials: it keeps no secret."
    );
    assert!(apps_of(&app, &org).await.is_empty());

    form.retain(|(k, v)| !(*k == "grant_types" && *v == "client_credentials"));
    let res = post(&app, &browser, &apps_path(&org), &form).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(!html.contains("id=\"client-secret\""), "{html}");
    assert!(html.contains("A public app has no secret"), "{html}");
}

#[actix_web::test]
async fn bad_redirect_uris_are_named_by_line_and_the_values_are_kept() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let uris = "https://ok.example/cb\nhttp://plain.example/cb\n\nnot a uri";
    let mut form = CONFIDENTIAL.to_vec();
    form[2] = ("redirect_uris", uris);
    form.push(("logo_url", "https://app.example/logo.png"));
    let res = post(&app, &browser, &apps_path(&org), &form).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    let errors = html.split("id=\"redirect_uris-error\">").nth(1).expect("errors next to the field");
    let errors = errors.split("</ul>").next().unwrap().replace("&quot;", "\"");
    assert!(
        errors.contains(
            r#"<li>Line 2: redirect URI "http://plain.example/cb" must use https (http only for loopback)</li>"#
        ),
        "{errors}"
    );
    assert!(errors.contains(r#"<li>Line 4: redirect URI "not a uri" is not an absolute URI</li>"#), "{errors}");
    assert!(!errors.contains("Line 1") && !errors.contains("Line 3"), "{errors}");
    // Every value kept.
    assert!(html.contains("value=\"Billing Sync\""), "{html}");
    assert!(html.contains(">https://ok.example/cb\nhttp://plain.example/cb\n\nnot a uri</textarea>"), "{html}");
    assert!(html.contains("value=\"https://app.example/logo.png\""), "{html}");
    assert!(html.contains(r#"value="client_credentials" checked"#), "{html}");
    assert!(html.contains(r#"aria-invalid="true" aria-describedby="redirect_uris-error""#), "{html}");
    assert!(apps_of(&app, &org).await.is_empty(), "nothing registered");

    // A name the /v1 rules refuse, said next to the name.
    form[2] = ("redirect_uris", REDIRECT);
    form[0] = ("name", "   ");
    let res = post(&app, &browser, &apps_path(&org), &form).await;
    assert_eq!(res.status(), 400);
    assert_eq!(text_by_id(&res.text().await.unwrap(), "name-error"), "Enter a name of 1 to 100 characters.");
}

#[actix_web::test]
async fn each_refused_registration_is_worded_for_people_next_to_its_field() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let refused = |fields: Vec<(&'static str, &'static str)>| {
        let (app, browser, path) = (&app, &browser, apps_path(&org));
        async move {
            let res = post(app, browser, &path, &fields).await;
            assert_eq!(res.status(), 400);
            res.text().await.unwrap()
        }
    };
    let without = |name: &str, value: &str| -> Vec<(&'static str, &'static str)> {
        CONFIDENTIAL.iter().copied().filter(|(n, v)| (*n, *v) != (name, value)).collect()
    };

    let no_grant = CONFIDENTIAL.iter().copied().filter(|(n, _)| *n != "grant_types").collect();
    assert_eq!(text_by_id(&refused(no_grant).await, "grant_types-error"), "Tick at least one grant.");

    let mut nowhere_back = without("grant_types", "client_credentials");
    nowhere_back[2] = ("redirect_uris", "");
    let html = refused(nowhere_back).await;
    let errors = html.split("id=\"redirect_uris-error\">").nth(1).expect("errors next to the redirect URIs");
    assert!(
        errors.contains("<li>Add a redirect URI: the authorization code grant sends people back to one.</li>"),
        "{errors}"
    );

    let mut code_only_management = without("grant_types", "client_credentials");
    code_only_management.push(("management", "on"));
    assert_eq!(
        text_by_id(&refused(code_only_management).await, "management-error"),
        "A management app must be confidential and use client credentials."
    );

    let mut bad_logo = CONFIDENTIAL.to_vec();
    bad_logo.push(("logo_url", "ftp://app.example/logo.png"));
    assert_eq!(
        text_by_id(&refused(bad_logo).await, "logo_url-error"),
        "Enter the logo as a web address starting with https://."
    );
    assert!(apps_of(&app, &org).await.is_empty(), "nothing registered");
}

#[actix_web::test]
async fn another_members_management_app_is_taken_over_at_the_dashboard_by_a_rotation_without_grace() {
    let app = TestApp::spawn().await;
    let (owners_browser, owner, org) = member(&app, None, Role::Owner).await;
    let mut form = CONFIDENTIAL.to_vec();
    form.push(("management", "on"));
    let res = post(&app, &owners_browser, &apps_path(&org), &form).await;
    assert_eq!(res.status(), 200);
    let id = text_by_id(&res.text().await.unwrap(), "client-id");
    let (browser, admin, _) = member(&app, Some(&org), Role::Admin).await;
    let page = format!("{}/{id}", apps_path(&org));

    // An edit would hand the ADMIN's power to the owner's secret: the page
    // says what to do in its own words, /v1 in its own.
    let res = post(&app, &browser, &page, &form).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        text_by_id(&res.text().await.unwrap(), "management-error"),
        "This management app acts for another member. Rotate its secret with no grace period first: \
         then it acts for you, and only the new secret works."
    );
    let key = app.secret_key(&org.id, &admin.id, &["read", "write", "admin"]).await.1;
    let v1 = format!("/v1/apps/{id}");
    let (s, b) = crate::support::call(&app, "PATCH", &v1, &key, Some(serde_json::json!({ "name": "renamed" }))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str(), b["error"]["message"].as_str()),
        (
            400,
            Some("VALIDATION_ERROR"),
            Some(
                "This management app acts for another member. Rotate its secret without a grace period first \
                 (POST /v1/apps/{id}/rotate-secret): then it acts for you, and only the new secret works."
            )
        )
    );

    // A takeover keeps no old secret alive.
    let res = post(&app, &browser, &format!("{page}/rotate-secret"), &[("grace_period", "3600")]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        text_by_id(&res.text().await.unwrap(), "grace-error"),
        "Rotating another member's app makes it act for you, so its old secret cannot keep working: \
         choose no grace period."
    );
    let body = serde_json::json!({ "grace_period": 3600 });
    let (s, b) = crate::support::call(&app, "POST", &format!("{v1}/rotate-secret"), &key, Some(body)).await;
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (
            400,
            Some(
                "Rotating another member's app makes it act for you: the old secret cannot keep working \
                 (grace_period 0)."
            )
        )
    );
    assert_eq!(app.state.oauth.clients.get(&id).await.unwrap().unwrap().created_by.as_deref(), Some(&*owner.id));

    // Without grace it is the ADMIN's, and theirs to edit.
    let res = post(&app, &browser, &format!("{page}/rotate-secret"), &[("grace_period", "0")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.state.oauth.clients.get(&id).await.unwrap().unwrap().created_by.as_deref(), Some(&*admin.id));
    assert_eq!(post(&app, &browser, &page, &form).await.status(), 303);
}

#[actix_web::test]
async fn editing_an_app_changes_it_and_keeps_the_values_on_error() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let reg = register(&app, &browser, &org).await;
    let page = format!("{}/{}", apps_path(&org), reg.client.client_id);
    let (status, html) = get(&app, &browser, &page).await;
    assert_eq!(status, 200);
    assert!(html.contains("value=\"Billing Sync\"") && html.contains("id=\"save\""), "{html}");

    let mut form = CONFIDENTIAL.to_vec();
    form[0] = ("name", "Billing Sync v2");
    form[2] = ("redirect_uris", "https://app.example/callback\nhttps://app.example/other");
    let res = post(&app, &browser, &page, &form).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{page}?saved=1"));
    let changed = app.state.oauth.clients.get(&reg.client.client_id).await.unwrap().unwrap();
    assert_eq!(changed.name, "Billing Sync v2");
    assert_eq!(changed.redirect_uris.len(), 2);
    assert_eq!(audit_events_eventually(&app, &org.id, "app.updated").await.len(), 1);
    let (_, html) = get(&app, &browser, &format!("{page}?saved=1")).await;
    assert_eq!(text_by_id(&html, "notice"), "Changes saved.");

    // A bad homepage: said next to it, every value kept, nothing changed.
    form[0] = ("name", "Billing Sync v3");
    form[6] = ("homepage_url", "ftp://app.example");
    let res = post(&app, &browser, &page, &form).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert_eq!(text_by_id(&html, "homepage_url-error"), "Enter the homepage as a web address starting with https://.");
    assert!(html.contains("value=\"Billing Sync v3\"") && html.contains("value=\"ftp://app.example\""), "{html}");
    let unchanged = app.state.oauth.clients.get(&reg.client.client_id).await.unwrap().unwrap();
    assert_eq!(unchanged.name, "Billing Sync v2");
}

#[actix_web::test]
async fn rotating_keeps_the_old_secret_for_the_grace_period() {
    let app = TestApp::spawn().await;
    let (browser, owner, org) = member(&app, None, Role::Owner).await;
    let reg = register(&app, &browser, &org).await;
    let id = reg.client.client_id.clone();
    let old = reg.secret.unwrap();
    let (_, html) = get(&app, &browser, &format!("{}/{id}", apps_path(&org))).await;
    assert!(html.contains("<option value=\"3600\">1 hour</option>"), "{html}");

    let res =
        post(&app, &browser, &format!("{}/{id}/rotate-secret", apps_path(&org)), &[("grace_period", "3600")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let html = res.text().await.unwrap();
    let new = text_by_id(&html, "client-secret");
    assert_ne!(new, old);
    assert_eq!(text_by_id(&html, "previous-until"), "The previous secret keeps working until 2026-01-01 13:00 UTC.");
    let events = audit_events_eventually(&app, &org.id, "app.secret_rotated").await;
    assert_eq!(events[0].details["grace_period"], 3600);

    // Both work during the grace period; then only the new one.
    assert_eq!(client_credentials(&app, &id, &old).await.0, 200);
    assert_eq!(client_credentials(&app, &id, &new).await.0, 200);
    app.clock.advance(chrono::Duration::seconds(3601));
    let (status, body) = client_credentials(&app, &id, &old).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert_eq!(client_credentials(&app, &id, &new).await.0, 200);

    // A grace period beyond the /v1 bound is refused next to the choice.
    let res =
        post(&app, &browser, &format!("{}/{id}/rotate-secret", apps_path(&org)), &[("grace_period", "9999999")]).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert_eq!(text_by_id(&html, "grace-error"), "Choose one of the grace periods offered.");
    // /v1 keeps naming its field for programs.
    let key = app.secret_key(&org.id, &owner.id, &["read", "write"]).await.1;
    let (s, b) = crate::support::call(
        &app,
        "POST",
        &format!("/v1/apps/{id}/rotate-secret"),
        &key,
        Some(serde_json::json!({ "grace_period": 9999999 })),
    )
    .await;
    assert_eq!((s, b["error"]["message"].as_str()), (400, Some("grace_period must be between 0 and 2592000 seconds")));
    assert_eq!(client_credentials(&app, &id, &new).await.0, 200, "the secret did not change");
}

#[actix_web::test]
async fn deleting_an_app_says_what_ends_and_ends_it() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let reg = register(&app, &browser, &org).await;
    let id = reg.client.client_id.clone();
    let page = format!("{}/{id}", apps_path(&org));
    let (_, html) = get(&app, &browser, &page).await;
    assert!(html.contains(&format!("href=\"{page}/delete\"")), "{html}");
    let (status, html) = get(&app, &browser, &format!("{page}/delete")).await;
    assert_eq!(status, 200);
    assert!(html.contains("invalid_client") && html.contains("consent of the"), "{html}");
    assert_eq!(text_by_id(&html, "delete-users"), "0 users");

    let res = post(&app, &browser, &format!("{page}/delete"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{}?deleted=1", apps_path(&org)));
    let (status, body) = client_credentials(&app, &id, reg.secret.as_deref().unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(apps_of(&app, &org).await.is_empty());
    assert_eq!(audit_events_eventually(&app, &org.id, "app.deleted").await.len(), 1);
    let (status, _) = get(&app, &browser, &page).await;
    assert_eq!(status, 404);
}

/// The forged POSTs of someone who may not manage `reg`: each refused
/// with 403, nothing changed.
async fn forged_changes_are_refused(app: &TestApp, browser: &reqwest::Client, org: &Organization, reg: &Registered) {
    let page = format!("{}/{}", apps_path(org), reg.client.client_id);
    let mut form = CONFIDENTIAL.to_vec();
    form[0] = ("name", "Taken over");
    let edit = post(app, browser, &page, &form).await;
    let rotate = post(app, browser, &format!("{page}/rotate-secret"), &[("grace_period", "0")]).await;
    let delete = post(app, browser, &format!("{page}/delete"), &[]).await;
    let confirm = browser.get(app.url(&format!("{page}/delete"))).send().await.unwrap();
    for (what, res) in [("edit", edit), ("rotate", rotate), ("delete", delete), ("confirm", confirm)] {
        assert_eq!(res.status(), 403, "{what}");
    }
    let now = app.state.oauth.clients.get(&reg.client.client_id).await.unwrap().expect("not deleted");
    assert_eq!((now.name.as_str(), &now.created_by), (reg.client.name.as_str(), &reg.client.created_by));
    assert_eq!(client_credentials(app, &reg.client.client_id, reg.secret.as_deref().unwrap()).await.0, 200);
}

#[actix_web::test]
async fn a_viewer_sees_no_controls_and_its_forged_posts_change_nothing() {
    let app = TestApp::spawn().await;
    let (owner, _, org) = member(&app, None, Role::Owner).await;
    let reg = register(&app, &owner, &org).await;
    let (viewer, _, _) = member(&app, Some(&org), Role::Viewer).await;

    let (status, list) = get(&app, &viewer, &apps_path(&org)).await;
    assert_eq!(status, 200);
    assert!(list.contains(&reg.client.client_id), "a VIEWER sees the apps: {list}");
    assert!(!list.contains("Register") && !list.contains("method=\"post\" action=\"/dashboard"), "{list}");
    let (_, page) = get(&app, &viewer, &format!("{}/{}", apps_path(&org), reg.client.client_id)).await;
    for control in ["id=\"save\"", "id=\"rotate\"", "id=\"delete\"", "/rotate-secret", "/delete"] {
        assert!(!page.contains(control), "{control}: {page}");
    }

    let res = post(&app, &viewer, &apps_path(&org), &CONFIDENTIAL).await;
    assert_eq!(res.status(), 403);
    assert_eq!(apps_of(&app, &org).await.len(), 1, "nothing registered");
    forged_changes_are_refused(&app, &viewer, &org, &reg).await;
}

#[actix_web::test]
async fn a_developer_manages_only_its_own_apps() {
    let app = TestApp::spawn().await;
    let (owner, _, org) = member(&app, None, Role::Owner).await;
    let owners = register(&app, &owner, &org).await;
    let (dev, dev_user, _) = member(&app, Some(&org), Role::Developer).await;

    // The register form, without the management box or the admin scope.
    let (_, list) = get(&app, &dev, &apps_path(&org)).await;
    assert!(list.contains("id=\"register\""), "{list}");
    assert!(!list.contains("id=\"management\"") && !list.contains("value=\"admin\""), "{list}");
    // Its own app it manages.
    let own = register(&app, &dev, &org).await;
    assert_eq!(own.client.created_by.as_deref(), Some(dev_user.id.as_str()));
    let (_, page) = get(&app, &dev, &format!("{}/{}", apps_path(&org), own.client.client_id)).await;
    assert!(page.contains("id=\"save\"") && page.contains("id=\"rotate\"") && page.contains("id=\"delete\""));
    // Another member's: no controls, and the forged POSTs are refused.
    let (status, page) = get(&app, &dev, &format!("{}/{}", apps_path(&org), owners.client.client_id)).await;
    assert_eq!(status, 200);
    for control in ["id=\"save\"", "id=\"rotate\"", "id=\"delete\""] {
        assert!(!page.contains(control), "{control}: {page}");
    }
    forged_changes_are_refused(&app, &dev, &org, &owners).await;

    // A forged management app or admin scope: the /v1 rules, next to the field.
    let mut form = CONFIDENTIAL.to_vec();
    form.push(("management", "on"));
    let res = post(&app, &dev, &apps_path(&org), &form).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert_eq!(text_by_id(&html, "management-error"), "Only an ADMIN or OWNER makes management apps.");
    form.pop();
    form[3] = ("scopes", "admin");
    let res = post(&app, &dev, &apps_path(&org), &form).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert_eq!(text_by_id(&html, "scopes-error"), "This credential cannot grant \"admin\": it does not hold it.");
    assert_eq!(apps_of(&app, &org).await.len(), 2, "nothing more registered");
}

#[actix_web::test]
async fn an_owner_makes_a_management_app_and_the_list_flags_it() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let (_, list) = get(&app, &browser, &apps_path(&org)).await;
    assert!(list.contains("id=\"management\""), "{list}");
    let mut form = CONFIDENTIAL.to_vec();
    form.push(("management", "on"));
    let res = post(&app, &browser, &apps_path(&org), &form).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let id = text_by_id(&html, "client-id");
    assert!(app.state.oauth.clients.get(&id).await.unwrap().unwrap().management);
    let (_, list) = get(&app, &browser, &apps_path(&org)).await;
    assert!(list.contains("<span class=\"badge warn\">management</span>"), "{list}");
}

#[actix_web::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let reg = register(&app, &browser, &org).await;
    let page = format!("{}/{}", apps_path(&org), reg.client.client_id);
    let mut form = CONFIDENTIAL.to_vec();
    form[0] = ("name", "Changed");
    for (path, fields) in [
        (apps_path(&org), form.clone()),
        (page.clone(), form.clone()),
        (format!("{page}/rotate-secret"), vec![("grace_period", "0")]),
        (format!("{page}/delete"), vec![]),
    ] {
        for token in [None, Some("forged")] {
            let mut sent = fields.clone();
            if let Some(t) = token {
                sent.push(("csrf_token", t));
            }
            let res = browser.post(app.url(&path)).form(&sent).send().await.unwrap();
            assert_eq!(res.status(), 403, "{path} with {token:?}");
        }
    }
    let apps = apps_of(&app, &org).await;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].name, "Billing Sync");
    assert_eq!(client_credentials(&app, &reg.client.client_id, reg.secret.as_deref().unwrap()).await.0, 200);
}

#[actix_web::test]
async fn another_organizations_app_is_not_found() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let (other_browser, _, other_org) = member(&app, None, Role::Owner).await;
    let theirs = register(&app, &other_browser, &other_org).await;
    let id = &theirs.client.client_id;

    // Through one's own organization's pages: 404, whatever the method.
    let page = format!("{}/{id}", apps_path(&org));
    assert_eq!(get(&app, &browser, &page).await.0, 404);
    assert_eq!(get(&app, &browser, &format!("{page}/delete")).await.0, 404);
    let edit = post(&app, &browser, &page, &CONFIDENTIAL).await;
    let rotate = post(&app, &browser, &format!("{page}/rotate-secret"), &[("grace_period", "0")]).await;
    let delete = post(&app, &browser, &format!("{page}/delete"), &[]).await;
    for res in [edit, rotate, delete] {
        assert_eq!(res.status(), 404);
    }
    // Through the other organization's: not a member, 404.
    assert_eq!(get(&app, &browser, &format!("{}/{id}", apps_path(&other_org))).await.0, 404);
    assert_eq!(get(&app, &browser, &apps_path(&other_org)).await.0, 404);
    assert_eq!(client_credentials(&app, id, theirs.secret.as_deref().unwrap()).await.0, 200);
}

#[actix_web::test]
async fn the_list_counts_the_users_who_authorized_an_app() {
    let app = TestApp::spawn().await;
    let (browser, _, org) = member(&app, None, Role::Owner).await;
    let reg = register(&app, &browser, &org).await;
    let authorize = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s\
         &code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.url("/oauth/authorize"),
        reg.client.client_id,
        urlencode(REDIRECT),
    );
    for decision in ["approve", "approve", "deny"] {
        let (user_browser, _, _) = member(&app, None, Role::Owner).await;
        let back = app.authorize(&user_browser, &authorize, decision).await;
        assert_eq!(back.query_pairs().any(|(k, _)| k == "code"), decision == "approve", "{back}");
    }
    let (_, list) = get(&app, &browser, &apps_path(&org)).await;
    let item = list.split(&format!("id=\"app-{}\"", reg.client.client_id)).nth(1).unwrap();
    assert!(item.contains("<dd class=\"authorized-users\">2 users</dd>"), "{list}");
    let (_, page) = get(&app, &browser, &format!("{}/{}", apps_path(&org), reg.client.client_id)).await;
    assert_eq!(text_by_id(&page, "authorized-users"), "2 users");
}

#[actix_web::test]
async fn many_apps_are_listed_a_page_at_a_time_newest_first() {
    let app = TestApp::spawn().await;
    let (browser, owner, org) = member(&app, None, Role::Owner).await;
    let mut ids = Vec::new();
    for n in 0..23 {
        let mut builder = app.client_in(&org.id, &owner.id);
        builder.new_mut().name = format!("App {n:02}");
        ids.push(builder.create().await.client.client_id);
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let listed = |html: &str| html.matches(r#"<li class="app-item" id="app-"#).count();
    let (status, html) = get(&app, &browser, &apps_path(&org)).await;
    assert_eq!(status, 200);
    assert_eq!(listed(&html), 20, "{html}");
    // Newest first; the next page starts after the last one shown.
    assert!(html.contains(&format!(r#"id="app-{}""#, ids[22])) && !html.contains(&format!(r#"id="app-{}""#, ids[2])));
    let next = format!("{}?after={}", apps_path(&org), ids[3]);
    assert!(html.contains(&format!(r#"<a href="{next}" rel="next" id="next-page">"#)), "{html}");
    assert!(html.contains(r#"id="register-app""#), "the form stays on the first page");

    let (status, html) = get(&app, &browser, &next).await;
    assert_eq!(status, 200);
    assert_eq!(listed(&html), 3, "{html}");
    for id in &ids[..3] {
        assert!(html.contains(&format!(r#"id="app-{id}""#)), "{id}: {html}");
    }
    assert!(!html.contains("rel=\"next\"") && html.contains("← Newest apps"), "{html}");

    // A cursor that is not an app of this organization: no page.
    let (other, other_org) = app.user().create().await;
    let theirs = app.client_in(&other_org.id, &other.id).create().await.client.client_id;
    assert_eq!(get(&app, &browser, &format!("{}?after={theirs}", apps_path(&org))).await.0, 404);
    assert_eq!(get(&app, &browser, &format!("{}?after=nope", apps_path(&org))).await.0, 404);
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn register_an_app_by_clicking_then_sign_in_through_it_in_chromium() {
    use fantoccini::Locator;

    use crate::browser::{
        AppCallback, assert_fits_a_phone, click, fill, open_browser, screenshot, submit, text_of, wait_for,
        wait_for_path,
    };

    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;
    let app_callback = AppCallback::start();
    let callback = app_callback.url.clone();
    let (owner, org) = app.user().org("Initech").create().await;
    b.goto(&app.url("/login")).await.unwrap();
    fill(&b, "email", &owner.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    wait_for_path(&b, "/dashboard").await;

    // The apps tab, empty, with the register form.
    click(&b, Locator::Css(&format!("nav.tabs a[href='{}']", apps_path(&org)))).await;
    wait_for_path(&b, &apps_path(&org)).await;
    assert_eq!(text_of(&b, "no-apps").await.split('.').next(), Some("No apps yet"));
    assert_fits_a_phone(&b, "apps-register-form").await;
    fill(&b, "name", "Initech Portal").await;
    fill(&b, "redirect_uris", &callback).await;
    fill(&b, "homepage_url", "https://portal.initech.example").await;
    // `read` and the code and refresh grants are ticked already; add `openid`.
    click(&b, Locator::Id("scope-openid")).await;
    b.execute("document.getElementById('register-app').scrollIntoView()", vec![]).await.unwrap();
    screenshot(&b, "apps-register-form").await;
    click(&b, Locator::Id("register")).await;

    // The id and the secret, once, with copy buttons (JavaScript ran).
    let client_id = text_of(&b, "client-id").await;
    let secret = text_of(&b, "client-secret").await;
    assert!(client_id.len() > 10 && secret.len() >= 43, "{client_id} {secret}");
    assert!(text_of(&b, "secret-once").await.contains("you won’t see the secret again"));
    let copy = wait_for(&b, Locator::Css("button[data-copy='client-secret']")).await;
    assert!(copy.is_displayed().await.unwrap(), "the copy button shows with JavaScript");
    screenshot(&b, "apps-secret").await;

    // The app's page.
    click(&b, Locator::Id("to-app")).await;
    wait_for_path(&b, &format!("{}/{client_id}", apps_path(&org))).await;
    assert_eq!(text_of(&b, "client-id").await, client_id);
    assert_eq!(text_of(&b, "authorized-users").await, "0 users");
    screenshot(&b, "apps-app-page").await;
    assert_fits_a_phone(&b, "apps-app-page").await;

    // The authorization code flow through the consent page, same browser.
    let authorize = format!(
        "{}?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20read&state=st-7&nonce=n-7\
         &code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.url("/oauth/authorize"),
        urlencode(&callback),
    );
    b.goto(&authorize).await.unwrap();
    assert_eq!(text_of(&b, "app-name").await, "Initech Portal");
    click(&b, Locator::Id("approve")).await;
    let q = app_callback.landed(&b).await;
    assert_eq!(q.get("state").map(String::as_str), Some("st-7"));
    let code = q.get("code").expect("a code").clone();
    let res = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback.as_str()),
            ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: serde_json::Value = res.json().await.unwrap();
    assert!(tokens["access_token"].is_string() && tokens["id_token"].is_string(), "{tokens}");

    // The list now counts one user.
    b.goto(&app.url(&apps_path(&org))).await.unwrap();
    let users = wait_for(&b, Locator::Css(".authorized-users")).await.text().await.unwrap();
    assert_eq!(users, "1 user");
    screenshot(&b, "apps").await;
    assert_fits_a_phone(&b, "apps").await;
    b.close().await.unwrap();
}
