//! The organization's people pages: members (role changes, removal,
//! invitations), the audit log and the signing keys, under
//! `/dashboard/orgs/{org}`, deciding as `/v1` does.

use chrono::{TimeZone, Utc};
use fantoccini::Locator;
use portcullis::accounts::{Organization, Role, User};
use portcullis::audit::Origin;
use serde_json::json;

use crate::browser::{
    assert_fits_a_phone, click, fill, open_browser, screenshot, submit, text_of, wait_for, wait_for_path,
};
use crate::support::{PASSWORD, TestApp, audit_events_eventually, call, csrf_token, location};

/// A browser signed in as `user`.
async fn signed_in(app: &TestApp, user: &User) -> reqwest::Client {
    let b = app.new_browser();
    assert_eq!(app.login(&b, &user.email, PASSWORD).await.status(), 303);
    b
}

async fn get(app: &TestApp, b: &reqwest::Client, path: &str) -> (u16, String) {
    let res = b.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// POSTs a form with the session's CSRF token (from the members page, or
/// the overview when that is refused).
async fn post(
    app: &TestApp,
    b: &reqwest::Client,
    org: &Organization,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let (_, html) = get(app, b, &format!("/dashboard/orgs/{}", org.id)).await;
    let token = csrf_token(&html);
    let mut fields = vec![("csrf_token", token.as_str())];
    fields.extend_from_slice(form);
    b.post(app.url(path)).form(&fields).send().await.unwrap()
}

fn members_path(org: &Organization) -> String {
    format!("/dashboard/orgs/{}/members", org.id)
}

async fn role_of(app: &TestApp, org: &Organization, user: &User) -> Option<Role> {
    app.state.accounts.member(&org.id, &user.id).await.unwrap().map(|m| m.role)
}

#[actix_web::test]
async fn roles_change_within_the_changers_power_as_through_v1() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (admin, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let b = signed_in(&app, &admin).await;

    // An ADMIN is offered the roles up to its own, and no control on the OWNER.
    let (s, html) = get(&app, &b, &members_path(&org)).await;
    assert_eq!(s, 200, "{html}");
    assert!(html.contains(&format!(r#"id="role-{}""#, dev.id)), "{html}");
    assert!(!html.contains(&format!(r#"id="role-{}""#, owner.id)), "no select on the OWNER: {html}");
    assert!(!html.contains(r#"<option value="OWNER""#), "an ADMIN cannot make an OWNER: {html}");
    assert!(html.contains(r#"<option value="ADMIN""#) && html.contains(r#"<option value="VIEWER""#), "{html}");

    // Allowed: DEVELOPER → VIEWER, then back to the page with a notice; audited.
    let role_path = format!("{}/{}/role", members_path(&org), dev.id);
    let res = post(&app, &b, &org, &role_path, &[("role", "VIEWER")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{}?done=role", members_path(&org)));
    assert_eq!(role_of(&app, &org, &dev).await, Some(Role::Viewer));
    let (_, html) = get(&app, &b, &location(&res)).await;
    assert!(html.contains(r#"id="notice""#), "{html}");
    let changed = audit_events_eventually(&app, &org.id, "member.role_changed").await;
    assert_eq!(changed[0].actor, format!("user:{}", admin.id));
    assert_eq!(changed[0].target.as_deref(), Some(dev.id.as_str()));
    assert_eq!(changed[0].details, json!({ "from": "DEVELOPER", "to": "VIEWER" }));

    // Refused by the organization's rule: shown next to the member, nothing changed.
    let owner_path = format!("{}/{}/role", members_path(&org), owner.id);
    let res = post(&app, &b, &org, &owner_path, &[("role", "VIEWER")]).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"id="error-{}">Only an OWNER can make or unmake an OWNER.</p>"#, owner.id)),
        "{html}"
    );
    assert_eq!(role_of(&app, &org, &owner).await, Some(Role::Owner));

    // A role the select did not offer, forged: refused as /v1 refuses it.
    let res = post(&app, &b, &org, &role_path, &[("role", "OWNER")]).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("An ADMIN cannot make an OWNER."));
    let res = post(&app, &b, &org, &role_path, &[("role", "ROOT")]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(role_of(&app, &org, &dev).await, Some(Role::Viewer));
}

#[actix_web::test]
async fn the_last_owner_is_neither_demoted_nor_removed() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let b = signed_in(&app, &owner).await;
    let res = post(&app, &b, &org, &format!("{}/{}/role", members_path(&org), owner.id), &[("role", "ADMIN")]).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("The last OWNER cannot be demoted; make another member OWNER first."), "{html}");

    let remove = format!("{}/{}/remove", members_path(&org), owner.id);
    let (s, html) = get(&app, &b, &remove).await;
    assert_eq!(s, 200, "{html}");
    let res = post(&app, &b, &org, &remove, &[]).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="confirm-error">The last OWNER cannot be removed.</p>"#), "{html}");
    assert_eq!(role_of(&app, &org, &owner).await, Some(Role::Owner));
}

#[actix_web::test]
async fn a_removed_members_keys_stop_working_after_a_confirmation_that_says_so() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let (_, key) = app.secret_key(&org.id, &dev.id, &["read", "write"]).await;
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 200);
    let b = signed_in(&app, &owner).await;

    let remove = format!("{}/{}/remove", members_path(&org), dev.id);
    let (s, html) = get(&app, &b, &remove).await;
    assert_eq!(s, 200);
    assert!(html.contains(&format!("Remove {} from {}?", dev.email, org.name)), "{html}");
    assert!(html.contains("the API keys they made here are revoked"), "{html}");
    assert!(html.contains("their management apps lose management"), "{html}");
    assert!(role_of(&app, &org, &dev).await.is_some(), "the confirmation page changes nothing");

    let res = post(&app, &b, &org, &remove, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{}?done=removed", members_path(&org)));
    assert_eq!(role_of(&app, &org, &dev).await, None);
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &key, None).await.0, 401);
    let (_, html) = get(&app, &b, &members_path(&org)).await;
    assert!(!html.contains(&dev.email), "{html}");
    let removed = audit_events_eventually(&app, &org.id, "member.removed").await;
    assert_eq!(
        (removed[0].actor.as_str(), removed[0].details.clone()),
        (format!("user:{}", owner.id).as_str(), json!({"role": "DEVELOPER"}))
    );
    // Gone: a second removal finds nobody.
    assert_eq!(post(&app, &b, &org, &remove, &[]).await.status(), 404);
}

#[actix_web::test]
async fn an_invitation_shows_its_link_which_the_invited_person_accepts() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (invitee, _) = app.user().create().await;
    let b = signed_in(&app, &owner).await;
    let invitations = format!("/dashboard/orgs/{}/invitations", org.id);

    // Bad input: the message next to the field, the values kept.
    let res = post(&app, &b, &org, &invitations, &[("email", "not-an-email"), ("role", "ADMIN")]).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="invite-error">"#), "{html}");
    assert!(html.contains(r#"value="not-an-email""#), "{html}");
    assert!(html.contains(r#"<option value="ADMIN" selected>"#), "{html}");
    assert!(app.state.accounts.pending_invitations(&org.id, None, 10).await.unwrap().unwrap().is_empty());

    let res = post(&app, &b, &org, &invitations, &[("email", &invitee.email), ("role", "DEVELOPER")]).await;
    assert_eq!(res.status(), 201);
    let html = res.text().await.unwrap();
    let marker = r#"id="invitation-link" type="text" readonly value=""#;
    let start = html.find(marker).unwrap_or_else(|| panic!("no link: {html}")) + marker.len();
    let link = html[start..start + html[start..].find('"').unwrap()].to_owned();
    assert!(link.starts_with(&app.url("/invitations/")), "{link}");
    assert!(
        html.contains(&format!(r#"<td data-label="Email" class="email">{}</td>"#, invitee.email)),
        "pending: {html}"
    );
    let invited = audit_events_eventually(&app, &org.id, "member.invited").await;
    assert_eq!(invited[0].details["role"], "DEVELOPER");

    // The invited person opens the link, signs in and accepts.
    let theirs = signed_in(&app, &invitee).await;
    let res = theirs.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let token = csrf_token(&res.text().await.unwrap());
    let res = theirs.post(&link).form(&[("csrf_token", token.as_str())]).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(role_of(&app, &org, &invitee).await, Some(Role::Developer));
    let (_, html) = get(&app, &b, &members_path(&org)).await;
    assert!(html.contains(&format!(r#"id="member-{}""#, invitee.id)), "{html}");
    assert!(html.contains(r#"id="no-invitations""#), "no longer pending: {html}");
    // The new member reaches the organization's pages, read-only on members.
    let (s, html) = get(&app, &theirs, &members_path(&org)).await;
    assert_eq!(s, 200);
    assert!(html.contains(r#"id="read-only""#), "{html}");
}

#[actix_web::test]
async fn a_revoked_invitations_link_is_dead() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (invitee, _) = app.user().create().await;
    let (invitation, token) = app
        .state
        .accounts
        .invite(&org.id, &invitee.email, Role::Viewer, Some(owner.id.clone()), Some(Role::Owner))
        .await
        .unwrap();
    let link = app.url(&format!("/invitations/{token}"));
    let theirs = signed_in(&app, &invitee).await;
    assert_eq!(theirs.get(&link).send().await.unwrap().status(), 200);

    let b = signed_in(&app, &owner).await;
    let (_, html) = get(&app, &b, &members_path(&org)).await;
    let revoke = format!("/dashboard/orgs/{}/invitations/{}/revoke", org.id, invitation.id);
    assert!(html.contains(&format!(r#"href="{revoke}""#)), "{html}");
    let (s, html) = get(&app, &b, &revoke).await;
    assert_eq!(s, 200);
    assert!(html.contains("Its link stops working at once"), "{html}");
    let res = post(&app, &b, &org, &revoke, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{}?done=revoked", members_path(&org)));
    assert_eq!(theirs.get(&link).send().await.unwrap().status(), 400, "the link is dead");
    assert_eq!(audit_events_eventually(&app, &org.id, "member.invitation_revoked").await.len(), 1);
    assert_eq!(post(&app, &b, &org, &revoke, &[]).await.status(), 404, "revoked already");
}

/// Records `action` by `actor` at `at`, as the server would have.
async fn event(app: &TestApp, org: &Organization, at: chrono::DateTime<Utc>, action: &str, actor: &str) {
    let origin = Origin { actor: actor.to_owned(), request_id: None, ip: Some("192.0.2.1".into()) };
    portcullis::audit::record(&app.state.store, at, &org.id, action, &origin, Some("target_1"), json!({"name": "n"}))
        .await;
}

/// The ids of the events a page lists, in order.
fn event_ids(html: &str) -> Vec<String> {
    html.match_indices(r#"<tr id="evt_"#)
        .map(|(i, _)| html[i + 8..i + 8 + html[i + 8..].find('"').unwrap()].to_owned())
        .collect()
}

#[actix_web::test]
async fn the_audit_log_filters_by_kind_actor_and_days_and_pages_keeping_the_filters() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let (key_id, key) = app.secret_key(&org.id, &owner.id, &["read", "admin"]).await;
    let day = |d: u32, n: u32| Utc.with_ymd_and_hms(2026, 1, d, 8, 0, n).unwrap();
    for n in 0..30 {
        event(&app, &org, day(2, n), "api_key.created", &format!("user:{}", dev.id)).await;
    }
    event(&app, &org, day(3, 0), "member.removed", &format!("api_key:{key_id}")).await;
    event(&app, &org, day(4, 0), "signing_key.rotated", "cli").await;
    let b = signed_in(&app, &owner).await;
    let audit = format!("/dashboard/orgs/{}/audit", org.id);

    // Newest first, 25 a page; signing in wrote user.signed_in, by the owner.
    let (s, html) = get(&app, &b, &audit).await;
    assert_eq!(s, 200, "{html}");
    let first = event_ids(&html);
    assert_eq!(first.len(), 25);
    assert!(html.contains("user.signed_in"), "{html}");
    assert!(html.contains(&format!(r#"<option value="user:{}">{}</option>"#, dev.id, dev.email)), "{html}");
    assert!(html.contains(&format!("{} (API key {key_id})", owner.email)), "a key by its creator: {html}");
    assert!(html.contains(r#"<td data-label="Actor" class="actor">cli</td>"#), "{html}");
    let older = format!("/dashboard/orgs/{}/audit?after={}", org.id, first[24]);
    assert!(html.contains(&format!(r#"href="{older}""#)), "{html}");
    let (_, html) = get(&app, &b, &older).await;
    let second = event_ids(&html);
    assert_eq!(first.len() + second.len(), 33, "every event once: 30 + 2 + the sign-in");
    assert!(second.iter().all(|id| !first.contains(id)));
    assert!(!html.contains(r#"id="older""#), "{html}");

    // By kind, with paging that keeps the filter.
    let (_, html) = get(&app, &b, &format!("{audit}?action=api_key.created")).await;
    let ids = event_ids(&html);
    assert_eq!(ids.len(), 25);
    assert!(!html.contains("member.removed</code>"), "{html}");
    let next = format!("{audit}?action=api_key.created&amp;after={}", ids[24]);
    assert!(html.contains(&format!(r#"href="{next}""#)), "{html}");
    let (_, html) = get(&app, &b, &next.replace("&amp;", "&")).await;
    assert_eq!(event_ids(&html).len(), 5);

    // By actor, and by days (both included).
    let (_, html) = get(&app, &b, &format!("{audit}?actor=cli")).await;
    assert_eq!(event_ids(&html).len(), 1);
    assert!(html.contains("signing_key.rotated"), "{html}");
    let (_, html) = get(&app, &b, &format!("{audit}?from=2026-01-03&to=2026-01-04")).await;
    assert_eq!(event_ids(&html).len(), 2, "{html}");
    let (_, html) = get(&app, &b, &format!("{audit}?to=2026-01-02")).await;
    assert_eq!(event_ids(&html).len(), 25);
    let (_, html) = get(&app, &b, &format!("{audit}?from=2026-01-05")).await;
    assert!(html.contains(r#"id="no-events">No events match these filters."#), "{html}");

    // A bad date: 400, the message next to the field, the value kept.
    let (s, html) = get(&app, &b, &format!("{audit}?from=yesterday&action=cli")).await;
    assert_eq!(s, 400);
    assert!(html.contains(r#"id="filter-error">from must be a date (YYYY-MM-DD).</p>"#), "{html}");
    assert!(html.contains(r#"name="from" type="date" value="yesterday""#), "{html}");
    let (s, html) = get(&app, &b, &format!("{audit}?from=2026-01-04&to=2026-01-03")).await;
    assert_eq!(s, 400);
    assert!(html.contains("to must not be before from."), "{html}");

    // /v1 takes the same filters.
    let (s, v) =
        call(&app, "GET", "/v1/audit-events?action=member.removed&from=2026-01-03&to=2026-01-03", &key, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["actor"], format!("api_key:{key_id}"));
    let (s, v) = call(&app, "GET", &format!("/v1/audit-events?actor=user:{}&limit=100", dev.id), &key, None).await;
    assert_eq!((s, v["data"].as_array().unwrap().len()), (200, 30));
    let (s, v) = call(&app, "GET", "/v1/audit-events?from=01/03/2026", &key, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str(), v["error"]["details"]["field"].as_str()),
        (400, Some("VALIDATION_ERROR"), Some("from"))
    );
}

#[actix_web::test]
async fn a_sign_in_is_audited_in_each_of_the_users_organizations_once() {
    let app = TestApp::spawn().await;
    let (user, first) = app.user().create().await;
    let (_, second) = app.user().create().await;
    app.state.accounts.add_member(&second.id, &user.id, Role::Viewer).await.unwrap();
    signed_in(&app, &user).await;
    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": user.email, "password": PASSWORD, "organization_id": second.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for org in [&first, &second] {
        let events = audit_events_eventually(&app, &org.id, "user.signed_in").await;
        assert_eq!(events.len(), 2, "the page and /v1/auth/login, once each");
        assert!(events.iter().all(|e| e.actor == format!("user:{}", user.id)));
    }
    // A failed sign-in is no sign-in.
    assert_eq!(app.login(&app.new_browser(), &user.email, "wrong password").await.status(), 400);
    audit_events_eventually(&app, &first.id, "login.failed").await;
    assert_eq!(audit_events_eventually(&app, &first.id, "user.signed_in").await.len(), 2);
}

#[actix_web::test]
async fn the_signing_keys_are_shown_read_only_to_administrators() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (admin, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let path = format!("/dashboard/orgs/{}/signing-keys", org.id);
    let current = app.state.oauth.keys.current_kid();
    for who in [&owner, &admin] {
        let (s, html) = get(&app, &signed_in(&app, who).await, &path).await;
        assert_eq!(s, 200, "{html}");
        assert!(html.contains(&format!(r#"<code class="kid">{current}</code>"#)), "{html}");
        assert!(html.contains(r#"class="badge state-active">active</span>"#), "{html}");
        assert!(html.contains("<code>portcullis signing-key rotate</code>"), "{html}");
        assert!(!html.contains(r#"method="post" action="/dashboard"#), "no rotate form: {html}");
    }
    let b = signed_in(&app, &dev).await;
    assert_eq!(get(&app, &b, &path).await.0, 403);
    let (_, html) = get(&app, &b, &format!("/dashboard/orgs/{}", org.id)).await;
    assert!(!html.contains("/signing-keys\"") && !html.contains("/audit\""), "no such tabs: {html}");
}

#[actix_web::test]
async fn a_viewer_sees_members_read_only_and_its_forged_forms_change_nothing() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (viewer, _) = app.user().org(&org.name).role(Role::Viewer).create().await;
    let (invitee, _) = app.user().create().await;
    let (invitation, _) = app
        .state
        .accounts
        .invite(&org.id, &invitee.email, Role::Viewer, Some(owner.id.clone()), Some(Role::Owner))
        .await
        .unwrap();
    let b = signed_in(&app, &viewer).await;

    let (s, html) = get(&app, &b, &members_path(&org)).await;
    assert_eq!(s, 200);
    assert!(html.contains(&owner.email) && html.contains(r#"id="read-only""#), "{html}");
    for control in ["Change role", "<select", "Send invitation", "/remove\"", "/revoke\""] {
        assert!(!html.contains(control), "a VIEWER sees no {control:?}: {html}");
    }
    assert_eq!(get(&app, &b, &format!("/dashboard/orgs/{}/audit", org.id)).await.0, 403);
    assert_eq!(get(&app, &b, &format!("{}/{}/remove", members_path(&org), owner.id)).await.0, 404);

    let forged = [
        (format!("{}/{}/role", members_path(&org), owner.id), vec![("role", "VIEWER")]),
        (format!("{}/{}/role", members_path(&org), viewer.id), vec![("role", "OWNER")]),
        (format!("{}/{}/remove", members_path(&org), owner.id), vec![]),
        (format!("/dashboard/orgs/{}/invitations", org.id), vec![("email", "new@example.com"), ("role", "VIEWER")]),
        (format!("/dashboard/orgs/{}/invitations/{}/revoke", org.id, invitation.id), vec![]),
    ];
    for (path, form) in &forged {
        let res = post(&app, &b, &org, path, form).await;
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(role_of(&app, &org, &owner).await, Some(Role::Owner));
    assert_eq!(role_of(&app, &org, &viewer).await, Some(Role::Viewer));
    let pending = app.state.accounts.pending_invitations(&org.id, None, 10).await.unwrap().unwrap();
    assert_eq!(pending.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), [invitation.id.as_str()]);
    assert!(no_member_change_audited(&app, &org.id).await);
}

/// True when no member or invitation change was audited.
async fn no_member_change_audited(app: &TestApp, org: &str) -> bool {
    let events = portcullis::audit::list(&app.state.store, org, None, 100).await.unwrap().unwrap();
    events.iter().all(|e| !e.action.starts_with("member."))
}

#[actix_web::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let b = signed_in(&app, &owner).await;
    let no_token = [
        (format!("{}/{}/role", members_path(&org), dev.id), vec![("role", "VIEWER")]),
        (format!("{}/{}/remove", members_path(&org), dev.id), vec![]),
        (format!("/dashboard/orgs/{}/invitations", org.id), vec![("email", "new@example.com"), ("role", "VIEWER")]),
    ];
    for (path, form) in &no_token {
        let res = b.post(app.url(path)).form(form).send().await.unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
    assert_eq!(role_of(&app, &org, &dev).await, Some(Role::Developer));
    assert!(app.state.accounts.pending_invitations(&org.id, None, 10).await.unwrap().unwrap().is_empty());
}

#[actix_web::test]
async fn another_organizations_members_and_invitations_are_not_found() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (other_owner, other) = app.user().create().await;
    let (other_dev, _) = app.user().org(&other.name).role(Role::Developer).create().await;
    let (invitation, _) = app
        .state
        .accounts
        .invite(&other.id, "someone@example.com", Role::Viewer, Some(other_owner.id.clone()), Some(Role::Owner))
        .await
        .unwrap();
    signed_in(&app, &other_owner).await; // an event in the other organization's log
    let b = signed_in(&app, &owner).await;

    assert_eq!(get(&app, &b, &format!("{}/{}/remove", members_path(&org), other_dev.id)).await.0, 404);
    let role = format!("{}/{}/role", members_path(&org), other_dev.id);
    assert_eq!(post(&app, &b, &org, &role, &[("role", "VIEWER")]).await.status(), 404);
    let remove = format!("{}/{}/remove", members_path(&org), other_dev.id);
    assert_eq!(post(&app, &b, &org, &remove, &[]).await.status(), 404);
    let revoke = format!("/dashboard/orgs/{}/invitations/{}/revoke", org.id, invitation.id);
    assert_eq!(get(&app, &b, &revoke).await.0, 404);
    assert_eq!(post(&app, &b, &org, &revoke, &[]).await.status(), 404);
    assert_eq!(role_of(&app, &other, &other_dev).await, Some(Role::Developer));
    assert_eq!(app.state.accounts.pending_invitations(&other.id, None, 10).await.unwrap().unwrap().len(), 1);
    // Nor are its pages, or its audit events as a cursor.
    assert_eq!(get(&app, &b, &members_path(&other)).await.0, 404);
    let theirs = portcullis::audit::list(&app.state.store, &other.id, None, 1).await.unwrap().unwrap();
    let cursor = format!("/dashboard/orgs/{}/audit?after={}", org.id, theirs[0].id);
    assert_eq!(get(&app, &b, &cursor).await.0, 404);
}

#[actix_web::test]
#[ignore = "needs chromium and chromedriver: cargo test -- --include-ignored"]
async fn an_owner_invites_from_the_members_page_and_the_invited_person_joins_in_chromium() {
    let (_driver, b) = open_browser().await;
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().org("Globex").create().await;
    let (_, _) = app.user().org(&org.name).role(Role::Developer).email("dev@globex.example").create().await;
    let (invitee, _) = app.user().org("Initech").email("sam@initech.example").create().await;

    b.goto(&app.url(&members_path(&org))).await.unwrap();
    fill(&b, "email", &owner.email).await;
    fill(&b, "password", PASSWORD).await;
    submit(&b, "/login").await;
    wait_for_path(&b, &members_path(&org)).await;
    fill(&b, "invite-email", &invitee.email).await;
    click(&b, Locator::Css("#invite-role option[value='ADMIN']")).await;
    submit(&b, &format!("/dashboard/orgs/{}/invitations", org.id)).await;
    assert_eq!(text_of(&b, "invited-email").await, invitee.email);
    let link = wait_for(&b, Locator::Id("invitation-link")).await.prop("value").await.unwrap().unwrap();
    assert!(link.starts_with(&app.url("/invitations/")), "{link}");
    screenshot(&b, "members").await;
    assert_fits_a_phone(&b, "members").await;

    b.goto(&app.url(&format!("/dashboard/orgs/{}/audit", org.id))).await.unwrap();
    assert!(text_of(&b, "events").await.contains("member.invited"));
    screenshot(&b, "audit").await;
    assert_fits_a_phone(&b, "audit").await;
    b.goto(&app.url(&format!("/dashboard/orgs/{}/signing-keys", org.id))).await.unwrap();
    assert!(text_of(&b, "operator-note").await.contains("portcullis signing-key rotate"));
    screenshot(&b, "signing-keys").await;
    assert_fits_a_phone(&b, "signing-keys").await;

    // A second browser: the invited person opens the link, signs in, accepts
    // (a minute later: their own organization stays their first).
    app.clock.advance(chrono::Duration::minutes(1));
    let (_driver2, b2) = open_browser().await;
    b2.goto(&link).await.unwrap();
    crate::browser::sign_in(&b2, &invitee.email).await;
    assert_eq!(text_of(&b2, "invitation-org").await, "Globex");
    click(&b2, Locator::Id("accept")).await;
    wait_for_path(&b2, "/dashboard").await;
    // Their first organization is their own; the switcher leads to Globex.
    assert_eq!(text_of(&b2, "organization").await, "Initech");
    click(&b2, Locator::Css("details.switcher summary")).await;
    click(&b2, Locator::Css(&format!("details.switcher a[href='/dashboard/orgs/{}']", org.id))).await;
    wait_for_path(&b2, &format!("/dashboard/orgs/{}", org.id)).await;
    assert_eq!(text_of(&b2, "role").await, "ADMIN");
    b2.close().await.unwrap();

    b.goto(&app.url(&members_path(&org))).await.unwrap();
    assert!(text_of(&b, "members").await.contains(&invitee.email));
    b.close().await.unwrap();
}

/// The people steps of `principal`, as a page or /v1 request builds them.
fn acting<'a>(app: &'a TestApp, principal: &'a portcullis::authority::Principal) -> portcullis::people::Acting<'a> {
    portcullis::people::Acting {
        accounts: &app.state.accounts,
        store: &app.state.store,
        principal,
        origin: Origin { actor: "user:test".into(), request_id: None, ip: None },
        now: portcullis::clock::Clock::now(app.clock.as_ref()),
    }
}

async fn principal_of(app: &TestApp, user: &User, org: &Organization) -> portcullis::authority::Principal {
    portcullis::authority::for_page_session(&app.state.store, &user.id, &org.id).await.unwrap().unwrap()
}

fn refused_as_powerless(outcome: Result<Role, portcullis::people::PeopleError>) -> String {
    match outcome {
        Err(portcullis::people::PeopleError::Accounts(portcullis::accounts::AccountsError::Powerless(why))) => why,
        other => panic!("expected a refusal for the asker's standing now, got {other:?}"),
    }
}

/// A request is resolved to a principal when it arrives; a demotion or
/// removal that commits before its change is made is what counts (attacker
/// round 12, pages finding 1: a demoted OWNER's request in flight made
/// them OWNER again, a removed OWNER's made an accomplice OWNER).
#[actix_web::test]
async fn a_request_overtaken_by_its_askers_demotion_or_removal_changes_nothing() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (x, _) = app.user().org(&org.name).role(Role::Owner).create().await;
    let (accomplice, _) = app.user().org(&org.name).role(Role::Viewer).create().await;
    let (admin, _) = app.user().org(&org.name).role(Role::Admin).create().await;

    // X's and the ADMIN's requests are on their way with the roles they had…
    let x_as_owner = principal_of(&app, &x, &org).await;
    let admin_as_admin = principal_of(&app, &admin, &org).await;
    // …when the OWNER demotes both.
    let by_owner = principal_of(&app, &owner, &org).await;
    acting(&app, &by_owner).change_role(&x.id, "VIEWER").await.unwrap();
    acting(&app, &by_owner).change_role(&admin.id, "DEVELOPER").await.unwrap();

    let why = refused_as_powerless(acting(&app, &x_as_owner).change_role(&x.id, "OWNER").await);
    assert!(why.contains("VIEWER"), "{why}");
    refused_as_powerless(acting(&app, &x_as_owner).change_role(&accomplice.id, "OWNER").await);
    refused_as_powerless(acting(&app, &x_as_owner).remove_member(&owner.id).await);
    refused_as_powerless(acting(&app, &admin_as_admin).change_role(&accomplice.id, "ADMIN").await);
    refused_as_powerless(acting(&app, &admin_as_admin).remove_member(&accomplice.id).await);
    assert_eq!(role_of(&app, &org, &x).await, Some(Role::Viewer));
    assert_eq!(role_of(&app, &org, &accomplice).await, Some(Role::Viewer));
    assert_eq!(role_of(&app, &org, &admin).await, Some(Role::Developer));
    assert_eq!(role_of(&app, &org, &owner).await, Some(Role::Owner));

    // Removed while its request was on its way: nothing either.
    let (y, _) = app.user().org(&org.name).role(Role::Owner).create().await;
    let y_as_owner = principal_of(&app, &y, &org).await;
    acting(&app, &by_owner).remove_member(&y.id).await.unwrap();
    let why = refused_as_powerless(acting(&app, &y_as_owner).change_role(&accomplice.id, "OWNER").await);
    assert!(why.contains("no longer a member"), "{why}");
    assert_eq!(role_of(&app, &org, &accomplice).await, Some(Role::Viewer));

    // A request that was not overtaken still works, within the power it carried.
    let owner_now = principal_of(&app, &owner, &org).await;
    assert_eq!(acting(&app, &owner_now).change_role(&accomplice.id, "ADMIN").await.unwrap(), Role::Viewer);
}
