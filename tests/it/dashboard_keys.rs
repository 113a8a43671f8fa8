//! The API keys page, `/dashboard/orgs/{org}/keys`: through its forms as a
//! browser sends them, and once in Chromium. It acts with the person's
//! `/v1` power: the same checks and audit events as `/v1/api-keys`.

use chrono::Duration;
use fantoccini::Locator;
use portcullis::accounts::{Organization, Role, User};
use portcullis::apikeys::ApiKey;

use crate::browser::{assert_fits_a_phone, click, fill, open_browser, screenshot, text_of, wait_for, wait_for_path};
use crate::support::{PASSWORD, TestApp, audit_events_eventually, call, captured_logs, csrf_token, location};

fn keys_path(org: &Organization) -> String {
    format!("/dashboard/orgs/{}/keys", org.id)
}

/// A browser signed in as `user`.
async fn signed_in(app: &TestApp, user: &User) -> reqwest::Client {
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    browser
}

/// The keys page: its status and HTML.
async fn keys_page(app: &TestApp, browser: &reqwest::Client, org: &Organization) -> (u16, String) {
    let res = browser.get(app.url(&keys_path(org))).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The form token of the signed-in person's keys page.
async fn token(app: &TestApp, browser: &reqwest::Client, org: &Organization) -> String {
    let (status, html) = keys_page(app, browser, org).await;
    assert_eq!(status, 200, "{html}");
    csrf_token(&html)
}

/// POSTs a form; status, Location and body.
async fn post(app: &TestApp, browser: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
    let res = browser.post(app.url(path)).form(form).send().await.unwrap();
    let (status, to) = (res.status().as_u16(), location(&res));
    (status, to, res.text().await.unwrap())
}

/// The key the banner shows, once.
fn banner_key(html: &str) -> String {
    let marker = r#"<code id="new-key" class="secret">"#;
    let start = html.find(marker).unwrap_or_else(|| panic!("no new key in the page:\n{html}")) + marker.len();
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

async fn keys_of(app: &TestApp, org: &Organization) -> Vec<ApiKey> {
    app.state.api_keys.list(&org.id, None, 100).await.unwrap()
}

/// GET /v1/auth/validate with `key`: status and error code.
async fn validate(app: &TestApp, key: &str) -> (u16, String) {
    let (status, body) = call(app, "GET", "/v1/auth/validate", key, None).await;
    (status, body["error"]["code"].as_str().unwrap_or_default().to_owned())
}

#[actix_web::test]
async fn a_key_made_in_the_page_is_shown_once_works_and_ends_when_revoked_there() {
    let logs = captured_logs();
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let browser = signed_in(&app, &owner).await;
    let (status, html) = keys_page(&app, &browser, &org).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"<p id="no-keys">No API keys yet.</p>"#), "{html}");
    // Each scope with its description; an OWNER may grant them all.
    assert!(
        html.contains(r#"value="read"><label for="scope-read"><code>read</code> Read your data</label>"#),
        "{html}"
    );
    assert!(html.contains(r#"<code>keys:delete</code> Revoke API keys</label>"#), "{html}");
    assert!(html.contains(r#"value="admin""#), "{html}");

    let csrf = csrf_token(&html);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("name", "Billing server"),
        ("environment", "test"),
        ("type", "secret"),
        ("scopes", "read"),
        ("scopes", "write"),
        ("expires_on", "2026-06-30"),
    ];
    let res = browser.post(app.url(&keys_path(&org))).form(&form).send().await.unwrap();
    // The answer to the POST shows the key: no redirect carries it, nothing keeps it.
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().get("set-cookie").is_none());
    let html = res.text().await.unwrap();
    let key = banner_key(&html);
    assert!(key.starts_with("sk_test_") && key.len() == 46, "{key}");
    assert!(html.contains("Copy it now: you won't see it again."), "{html}");
    assert!(html.contains(r#"data-copy="new-key" hidden>Copy key</button>"#), "{html}");
    assert!(html.contains(r#"<script src="/static/copy.js" defer></script>"#));

    // As stored: the form's choices, the expiry at the end of that day, made by the owner.
    let stored = keys_of(&app, &org).await;
    assert_eq!(stored.len(), 1);
    let k = &stored[0];
    assert_eq!((k.name.as_str(), k.environment.as_str(), k.kind.as_str()), ("Billing server", "test", "secret"));
    assert_eq!(portcullis::oauth::scopes::join(&k.scopes), "read write");
    assert_eq!(k.expires_at.unwrap().to_rfc3339(), "2026-06-30T23:59:59+00:00");
    assert_eq!(k.created_by.as_deref(), Some(owner.id.as_str()));
    let created = audit_events_eventually(&app, &org.id, "api_key.created").await;
    assert_eq!((created.len(), created[0].target.as_deref()), (1, Some(k.id.as_str())));
    assert_eq!(created[0].actor, format!("user:{}", owner.id));

    // The key works on /v1.
    let (status, body) = call(&app, "GET", "/v1/auth/validate", &key, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["credential"]["id"], k.id.as_str());

    // The list shows it masked, never whole.
    let (_, html) = keys_page(&app, &browser, &org).await;
    assert!(!html.contains(&key));
    assert!(html.contains(&format!("<code class=\"masked\">{}…{}</code>", k.prefix, k.last_four)), "{html}");
    assert!(html.contains(r#"<span class="badge env-test">test</span>"#));
    assert!(html.contains(&format!("<td data-label=\"Created by\">{}</td>", owner.email)), "{html}");
    assert!(html.contains(r#"<span class="badge never">never</span>"#), "{html}");
    assert!(html.contains(r#"<span class="badge status-expiring">expiring</span><br><span class="muted when">at 2026-06-30 23:59 UTC</span>"#), "{html}");

    // Revoke: a confirmation that says what happens, then the form.
    let revoke = format!("{}/{}/revoke", keys_path(&org), k.id);
    let res = browser.get(app.url(&revoke)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Every request with this key fails at once, on every server."), "{html}");
    assert!(html.contains("The keys made through it and the apps registered through it end with it."));
    let (status, to, _) = post(&app, &browser, &revoke, &[("csrf_token", &csrf)]).await;
    assert_eq!((status, to), (303, format!("{}?revoked={}", keys_path(&org), k.id)));
    let (_, html) = keys_page(&app, &browser, &org).await;
    let res = browser.get(app.url(&format!("{}?revoked={}", keys_path(&org), k.id))).send().await.unwrap();
    let notice = res.text().await.unwrap();
    assert!(notice.contains("“Billing server” was revoked. Requests with it now fail."), "{notice}");
    assert!(html.contains(r#"<span class="badge status-revoked">revoked</span><br><span class="muted when">2026-01-01 12:00 UTC</span>"#), "{html}");
    assert!(!html.contains(&format!("{}/roll", k.id)), "a revoked key has no controls: {html}");

    assert_eq!(validate(&app, &key).await, (401, "REVOKED_API_KEY".to_owned()));
    let revoked = audit_events_eventually(&app, &org.id, "api_key.revoked").await;
    assert_eq!((revoked.len(), revoked[0].target.as_deref()), (1, Some(k.id.as_str())));
    // The key was in one answer's body, and nowhere else: no log has it.
    assert!(!logs.text().contains(&key[8..]), "the key reached a log");
}

#[actix_web::test]
async fn rolling_in_the_page_shows_the_new_key_once_and_keeps_the_old_one_for_the_chosen_time() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (id, old_key) = app.secret_key(&org.id, &owner.id, &["read"]).await;
    let browser = signed_in(&app, &owner).await;
    let csrf = token(&app, &browser, &org).await;

    let roll = format!("{}/{id}/roll", keys_path(&org));
    let html = browser.get(app.url(&roll)).send().await.unwrap().text().await.unwrap();
    for choice in [
        r#"<option value="0">Stop it now</option>"#,
        r#"<option value="3600">1 hour</option>"#,
        r#"<option value="86400" selected>24 hours</option>"#,
        r#"<option value="604800">7 days</option>"#,
    ] {
        assert!(html.contains(choice), "{choice}: {html}");
    }
    // A choice that is no number is refused on the same page.
    let (status, _, html) = post(&app, &browser, &roll, &[("csrf_token", &csrf), ("overlap", "soon")]).await;
    assert_eq!(status, 400);
    assert!(html.contains(r#"<p class="error" id="overlap-error">Choose how long the old key keeps working.</p>"#));
    assert_eq!(keys_of(&app, &org).await.len(), 1);

    let (status, _, html) = post(&app, &browser, &roll, &[("csrf_token", &csrf), ("overlap", "3600")]).await;
    assert_eq!(status, 201, "{html}");
    let new_key = banner_key(&html);
    assert_ne!(new_key, old_key);
    assert!(html.contains("keeps working until 2026-01-01 13:00 UTC."), "{html}");
    assert_eq!(validate(&app, &new_key).await.0, 200);
    assert_eq!(validate(&app, &old_key).await.0, 200);
    app.clock.advance(Duration::minutes(61));
    assert_eq!(validate(&app, &old_key).await, (401, "EXPIRED_API_KEY".to_owned()));
    assert_eq!(validate(&app, &new_key).await.0, 200);
    let rolled = audit_events_eventually(&app, &org.id, "api_key.rolled").await;
    assert_eq!((rolled.len(), rolled[0].target.as_deref()), (1, Some(id.as_str())));
}

#[actix_web::test]
async fn a_viewer_sees_no_controls_and_a_forged_post_changes_nothing() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (id, key) = app.secret_key(&org.id, &owner.id, &["read"]).await;
    let (viewer, _) = app.user().org(&org.name).role(Role::Viewer).create().await;
    let browser = signed_in(&app, &viewer).await;

    let (status, html) = keys_page(&app, &browser, &org).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!(r#"<tr id="{id}""#)), "a VIEWER sees the keys: {html}");
    assert!(!html.contains("Create a key") && !html.contains(r#"id="create-key""#), "{html}");
    assert!(!html.contains("/roll") && !html.contains("/revoke"), "{html}");
    let csrf = csrf_token(&html);

    let create = [("csrf_token", csrf.as_str()), ("name", "Forged"), ("scopes", "read")];
    let (status, _, html) = post(&app, &browser, &keys_path(&org), &create).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("Your role in this organization does not allow this."), "{html}");
    for action in ["roll", "revoke"] {
        let path = format!("{}/{id}/{action}", keys_path(&org));
        let (status, _, _) = post(&app, &browser, &path, &[("csrf_token", &csrf), ("overlap", "0")]).await;
        assert_eq!(status, 403, "{action}");
        assert_eq!(browser.get(app.url(&path)).send().await.unwrap().status(), 403, "GET {action}");
    }
    // Nothing changed: one key, live, no audit event.
    let keys = keys_of(&app, &org).await;
    assert_eq!((keys.len(), keys[0].revoked_at, keys[0].expires_at), (1, None, None));
    assert_eq!(validate(&app, &key).await.0, 200);
    let events = portcullis::audit::list(&app.state.store, &org.id, None, 100).await.unwrap().unwrap();
    assert!(!events.iter().any(|e| e.action.starts_with("api_key.")), "{events:?}");
}

#[actix_web::test]
async fn a_developer_rolls_and_revokes_its_own_keys_only() {
    let app = TestApp::spawn().await;
    let (admin, org) = app.user().role(Role::Owner).create().await;
    let (admins, _) = app.secret_key(&org.id, &admin.id, &["read"]).await;
    let (developer, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let (own, _) = app.secret_key(&org.id, &developer.id, &["read"]).await;
    let browser = signed_in(&app, &developer).await;

    let (_, html) = keys_page(&app, &browser, &org).await;
    assert!(html.contains(r#"id="create-key""#), "a DEVELOPER creates keys: {html}");
    assert!(html.contains(&format!("{own}/revoke")) && html.contains(&format!("{own}/roll")), "{html}");
    assert!(!html.contains(&format!("{admins}/revoke")) && !html.contains(&format!("{admins}/roll")), "{html}");
    let csrf = csrf_token(&html);

    for action in ["roll", "revoke"] {
        let path = format!("{}/{admins}/{action}", keys_path(&org));
        let (status, _, html) = post(&app, &browser, &path, &[("csrf_token", &csrf)]).await;
        assert_eq!(status, 403, "{action}");
        assert!(html.contains("Only the key&#x27;s creator or an ADMIN may change it."), "{html}");
    }
    let keys = keys_of(&app, &org).await;
    assert_eq!(keys.len(), 2, "no key was rolled");
    assert!(keys.iter().all(|k| k.revoked_at.is_none() && k.expires_at.is_none()));

    let path = format!("{}/{own}/revoke", keys_path(&org));
    let (status, _, _) = post(&app, &browser, &path, &[("csrf_token", &csrf)]).await;
    assert_eq!(status, 303);
    let own = app.state.api_keys.get(&org.id, &own).await.unwrap();
    assert!(own.revoked_at.is_some());
}

#[actix_web::test]
async fn bad_input_is_told_next_to_its_field_and_the_values_stay() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let browser = signed_in(&app, &owner).await;
    let csrf = token(&app, &browser, &org).await;
    let name = "<b>Billing</b> \"server\"";
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("name", ""), ("scopes", "write")],
            r#"<p class="error" id="name-error">Enter a name of 1 to 100 characters.</p>"#,
        ),
        (&[("name", name)], r#"<p class="error" id="scopes-error">Tick at least one scope.</p>"#),
        (
            &[("name", name), ("scopes", "write"), ("expires_on", "31/12/2026")],
            r#"<p class="error" id="expires-error">Enter the date as YYYY-MM-DD.</p>"#,
        ),
        (
            &[("name", name), ("scopes", "write"), ("expires_on", "2025-12-31")],
            r#"<p class="error" id="expires-error">Choose a date in the future.</p>"#,
        ),
        (
            &[("name", name), ("type", "restricted"), ("scopes", "write")],
            r#"id="scopes-error">A restricted key takes only scopes for one resource, such as apps:read; “write” is not one.</p>"#,
        ),
        (
            &[("name", name), ("environment", "staging"), ("scopes", "write")],
            r#"id="environment-error">Choose live or test.</p>"#,
        ),
    ];
    for (fields, message) in cases {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        let (status, _, html) = post(&app, &browser, &keys_path(&org), &form).await;
        assert_eq!(status, 400, "{fields:?}: {html}");
        assert!(html.contains(message), "{fields:?}: {html}");
        // The values sent are in the form again, escaped.
        let field = |n: &str| fields.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        if field("name") == Some(name) {
            assert!(html.contains(r#"value="&lt;b&gt;Billing&lt;/b&gt; &quot;server&quot;""#), "{html}");
        }
        if field("scopes").is_some() {
            assert!(html.contains(r#"value="write" checked>"#), "{fields:?}: {html}");
        }
        if let Some(date) = field("expires_on") {
            assert!(html.contains(&format!(r#"type="date" value="{date}""#)), "{html}");
        }
        if field("type") == Some("restricted") {
            assert!(html.contains(r#"value="restricted" checked>"#), "{html}");
        }
        assert!(!html.contains(r#"id="new-key""#));
    }
    assert!(keys_of(&app, &org).await.is_empty());
}

#[actix_web::test]
async fn a_scope_beyond_the_members_power_is_neither_offered_nor_granted() {
    let app = TestApp::spawn().await;
    let (_, org) = app.user().create().await;
    let (developer, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let browser = signed_in(&app, &developer).await;
    let (_, html) = keys_page(&app, &browser, &org).await;
    for beyond in ["admin", "members:write", "audit:read"] {
        assert!(!html.contains(&format!(r#"value="{beyond}""#)), "{beyond} offered: {html}");
    }
    assert!(html.contains(r#"value="delete""#) && html.contains(r#"value="members:read""#), "{html}");

    let csrf = csrf_token(&html);
    let form = [("csrf_token", csrf.as_str()), ("name", "Sneaky"), ("scopes", "read"), ("scopes", "admin")];
    let (status, _, html) = post(&app, &browser, &keys_path(&org), &form).await;
    assert_eq!(status, 403);
    assert!(
        html.contains(
            r#"<p class="error" id="scopes-error">This credential cannot grant &quot;admin&quot;: it does not hold it.</p>"#
        ),
        "{html}"
    );
    assert!(html.contains(r#"value="Sneaky""#), "{html}");
    assert!(keys_of(&app, &org).await.is_empty());
}

#[actix_web::test]
async fn a_post_without_the_form_token_is_refused() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (id, key) = app.secret_key(&org.id, &owner.id, &["read"]).await;
    let browser = signed_in(&app, &owner).await;
    let create = [("name", "No token"), ("scopes", "read")];
    assert_eq!(post(&app, &browser, &keys_path(&org), &create).await.0, 403);
    let wrong = [("csrf_token", "not-the-token"), ("name", "Wrong token"), ("scopes", "read")];
    assert_eq!(post(&app, &browser, &keys_path(&org), &wrong).await.0, 403);
    for action in ["roll", "revoke"] {
        let (status, _, html) = post(&app, &browser, &format!("{}/{id}/{action}", keys_path(&org)), &[]).await;
        assert_eq!(status, 403, "{action}");
        assert!(html.contains("The form expired or was not sent by this site."), "{html}");
    }
    assert_eq!(keys_of(&app, &org).await.len(), 1);
    assert_eq!(validate(&app, &key).await.0, 200);
}

#[actix_web::test]
async fn another_organizations_keys_are_not_found() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (other_owner, other) = app.user().create().await;
    let (theirs, key) = app.secret_key(&other.id, &other_owner.id, &["read"]).await;
    let browser = signed_in(&app, &owner).await;
    let csrf = token(&app, &browser, &org).await;

    // Their key through my organization's pages: unknown.
    for action in ["roll", "revoke"] {
        let path = format!("{}/{theirs}/{action}", keys_path(&org));
        assert_eq!(browser.get(app.url(&path)).send().await.unwrap().status(), 404, "GET {action}");
        assert_eq!(post(&app, &browser, &path, &[("csrf_token", &csrf)]).await.0, 404, "POST {action}");
    }
    // Their organization's pages: unknown too.
    assert_eq!(keys_page(&app, &browser, &other).await.0, 404);
    let create = [("csrf_token", csrf.as_str()), ("name", "Intruder"), ("scopes", "read")];
    assert_eq!(post(&app, &browser, &keys_path(&other), &create).await.0, 404);
    // And an unknown action is no page.
    assert_eq!(
        browser.get(app.url(&format!("{}/{theirs}/delete", keys_path(&org)))).send().await.unwrap().status(),
        404
    );

    assert_eq!(validate(&app, &key).await.0, 200);
    assert!(keys_of(&app, &org).await.is_empty());
    assert_eq!(keys_of(&app, &other).await.len(), 1);
}

#[actix_web::test]
async fn many_keys_are_listed_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let mut ids = Vec::new();
    for _ in 0..23 {
        ids.push(app.secret_key(&org.id, &owner.id, &["read"]).await.0);
    }
    let browser = signed_in(&app, &owner).await;
    let (_, html) = keys_page(&app, &browser, &org).await;
    assert_eq!(html.matches("<tr id=\"key_").count(), 20);
    // Newest first; the next page starts after the last one shown.
    assert!(html.contains(&format!("<tr id=\"{}\"", ids[22])) && !html.contains(&format!("<tr id=\"{}\"", ids[2])));
    let next = format!("{}?after={}", keys_path(&org), ids[3]);
    assert!(html.contains(&format!(r#"<a href="{next}" rel="next" id="next-page">"#)), "{html}");
    let html = browser.get(app.url(&next)).send().await.unwrap().text().await.unwrap();
    assert_eq!(html.matches("<tr id=\"key_").count(), 3);
    assert!(html.contains(&format!("<tr id=\"{}\"", ids[0])));
    assert!(!html.contains("rel=\"next\"") && html.contains("← Newest keys"), "{html}");
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn keys_page_in_chromium_creates_a_key_that_works_until_revoked_there() {
    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().email("ada@acme.example").org("Acme Payments").create().await;
    // Something to list besides the new key.
    app.secret_key(&org.id, &owner.id, &["read", "write"]).await;

    b.goto(&app.url("/login")).await.unwrap();
    fill(&b, "email", &owner.email).await;
    fill(&b, "password", PASSWORD).await;
    click(&b, Locator::Css("form[action='/login'] button[type=submit]")).await;
    wait_for_path(&b, "/dashboard").await;
    b.goto(&app.url(&keys_path(&org))).await.unwrap();

    fill(&b, "name", "Checkout service").await;
    click(&b, Locator::Id("env-test")).await;
    click(&b, Locator::Id("scope-read")).await;
    click(&b, Locator::Id("scope-keys-read")).await;
    b.execute("document.getElementById('create').scrollIntoView()", vec![]).await.unwrap();
    screenshot(&b, "keys-create-form").await;
    click(&b, Locator::Id("create-key")).await;

    let key = text_of(&b, "new-key").await;
    assert!(key.starts_with("sk_test_") && key.len() == 46, "{key}");
    // The copy button shows: the script ran under the page's CSP.
    let copy = wait_for(&b, Locator::Css("button[data-copy='new-key']")).await;
    assert!(copy.is_displayed().await.unwrap(), "the copy button is hidden: copy.js did not run");
    copy.click().await.unwrap();
    // The clipboard answers in its own time; either way the page says what happened.
    let mut said = String::new();
    for _ in 0..100 {
        let status = b.execute("return document.querySelector('.copy-status').textContent", vec![]).await.unwrap();
        said = status.as_str().unwrap_or_default().to_owned();
        if !said.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(said == "Copied to the clipboard." || said.contains("copy the selected key"), "{said:?}");
    screenshot(&b, "keys-banner").await;

    assert_eq!(validate(&app, &key).await.0, 200);

    b.goto(&app.url(&keys_path(&org))).await.unwrap();
    wait_for(&b, Locator::Css("table.keys")).await;
    screenshot(&b, "keys").await;
    assert_fits_a_phone(&b, "keys").await;

    click(&b, Locator::Css("a[aria-label='Revoke Checkout service']")).await;
    let what = text_of(&b, "what-happens").await;
    assert!(what.contains("Every request with this key fails at once"), "{what}");
    screenshot(&b, "keys-revoke").await;
    click(&b, Locator::Id("confirm")).await;
    let notice = text_of(&b, "notice").await;
    assert_eq!(notice, "“Checkout service” was revoked. Requests with it now fail.");

    assert_eq!(validate(&app, &key).await, (401, "REVOKED_API_KEY".to_owned()));
    b.close().await.unwrap();
}
