//! Invitation links, opened as the invited person would: revoked, expired,
//! sent to someone already a member, or revoked by another organization.

use chrono::Duration;
use portcullis::accounts::{Organization, Role, User};
use serde_json::json;

use crate::api_members::key_for;
use crate::support::{PASSWORD, TestApp, call, csrf_token, form_token, urlencode};

const GONE: &str = "This invitation is no longer valid: it was used, revoked or has expired.";

/// An invitation sent through /v1: its id and its link.
async fn invite(app: &TestApp, key: &str, email: &str, role: &str) -> (String, String) {
    let (s, b) = call(app, "POST", "/v1/invitations", key, Some(json!({"email": email, "role": role}))).await;
    assert_eq!(s, 201, "{b}");
    (b["data"]["id"].as_str().unwrap().to_owned(), b["data"]["url"].as_str().unwrap().to_owned())
}

/// `user` signs in, opens the link, then accepts it with the session's CSRF
/// token: the page's status and the acceptance's status and page.
async fn open_and_accept(app: &TestApp, user: &User, url: &str) -> (u16, u16, String) {
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &user.email, PASSWORD).await.status(), 303);
    let opened = browser.get(url).send().await.unwrap().status().as_u16();
    let token = csrf_token(&app.dashboard(&browser).await);
    let res = browser.post(url).form(&[("csrf_token", token)]).send().await.unwrap();
    (opened, res.status().as_u16(), res.text().await.unwrap())
}

/// The link neither opens nor joins `user` to `org`.
async fn assert_dead(app: &TestApp, org: &Organization, user: &User, url: &str) {
    let (opened, accepted, html) = open_and_accept(app, user, url).await;
    assert_eq!((opened, accepted), (400, 400));
    assert!(html.contains(GONE), "{html}");
    assert_eq!(role_in(app, org, user).await, None);
}

async fn role_in(app: &TestApp, org: &Organization, user: &User) -> Option<Role> {
    app.state.accounts.member(&org.id, &user.id).await.unwrap().map(|m| m.role)
}

#[actix_web::test]
async fn a_revoked_invitation_link_neither_opens_nor_joins() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let key = key_for(&app, &owner, &["read", "admin"]).await;
    let (invitee, _) = app.user().create().await;
    let (id, url) = invite(&app, &key, &invitee.email, "DEVELOPER").await;
    assert_eq!(call(&app, "DELETE", &format!("/v1/invitations/{id}"), &key, None).await.0, 200);

    assert_dead(&app, &org, &invitee, &url).await;
}

#[actix_web::test]
async fn an_invitation_link_works_for_seven_days_and_not_a_second_more() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let key = key_for(&app, &owner, &["read", "admin"]).await;
    let (early, _) = app.user().create().await;
    let (late, _) = app.user().create().await;
    let (_, early_url) = invite(&app, &key, &early.email, "VIEWER").await;
    let (_, late_url) = invite(&app, &key, &late.email, "VIEWER").await;

    app.clock.advance(Duration::days(7) - Duration::seconds(1));
    assert_eq!(open_and_accept(&app, &early, &early_url).await.1, 303, "still valid");
    assert_eq!(role_in(&app, &org, &early).await, Some(Role::Viewer));

    app.clock.advance(Duration::seconds(1));
    assert_dead(&app, &org, &late, &late_url).await;
}

#[actix_web::test]
async fn an_invitation_to_someone_already_a_member_leaves_their_role_alone() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let key = key_for(&app, &owner, &["read", "admin"]).await;
    // Accepting is no way to demote anyone, least of all the last OWNER.
    for (member, role, kept) in [(&owner, "VIEWER", Role::Owner), (&dev, "VIEWER", Role::Developer)] {
        let (_, url) = invite(&app, &key, &member.email, role).await;
        let (opened, accepted, _) = open_and_accept(&app, member, &url).await;
        assert_eq!((opened, accepted), (200, 303), "{role}");
        assert_eq!(role_in(&app, &org, member).await, Some(kept), "{role}");
    }
    let (s, members) = call(&app, "GET", "/v1/members", &key, None).await;
    assert_eq!((s, members["data"].as_array().unwrap().len()), (200, 2), "{members}");
}

#[actix_web::test]
async fn another_organization_cannot_revoke_an_invitation() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (stranger, _) = app.user().create().await;
    let key = key_for(&app, &owner, &["read", "admin"]).await;
    let strangers_key = key_for(&app, &stranger, &["read", "write", "delete", "admin"]).await;
    let (invitee, _) = app.user().create().await;
    let (id, url) = invite(&app, &key, &invitee.email, "DEVELOPER").await;

    let (s, b) = call(&app, "DELETE", &format!("/v1/invitations/{id}"), &strangers_key, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{b}");
    let (opened, accepted, _) = open_and_accept(&app, &invitee, &url).await;
    assert_eq!((opened, accepted), (200, 303), "the link still works");
    assert_eq!(role_in(&app, &org, &invitee).await, Some(Role::Developer));
}

/// One person accepting several invitations to one organization at once
/// (several tabs): every acceptance is answered, none with a 500, and they
/// are a member once, with the role of an invitation.
#[actix_web::test]
async fn several_invitations_accepted_at_once_make_one_membership() {
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let (owner, org) = app.user().create().await;
    let key = key_for(&app, &owner, &["read", "admin"]).await;
    let (invitee, _) = app.user().create().await;
    let browser = app.new_browser();
    assert_eq!(app.login(&browser, &invitee.email, PASSWORD).await.status(), 303);
    let token = csrf_token(&app.dashboard(&browser).await);
    let mut urls = Vec::new();
    for _ in 0..12 {
        let url = invite(&app, &key, &invitee.email, "VIEWER").await.1;
        assert_eq!(browser.get(&url).send().await.unwrap().status(), 200);
        urls.push(url);
    }
    let answers = futures_util::future::join_all(
        urls.iter().map(|url| browser.post(url).form(&[("csrf_token", token.as_str())]).send()),
    )
    .await;
    let statuses: Vec<u16> = answers.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    assert_eq!(role_in(&app, &org, &invitee).await, Some(Role::Viewer));
    let (_, members) = call(&app, "GET", "/v1/members", &key, None).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 2, "{members}");
    // One join, so one member.joined: the other acceptances joined no one.
    let joined = joined_events(&app, &org).await;
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert_eq!(joined[0].target.as_deref(), Some(invitee.id.as_str()));
}

/// The organization's `member.joined` events, read at once: each is
/// written with its membership, so none is late.
async fn joined_events(app: &TestApp, org: &Organization) -> Vec<portcullis::audit::AuditEvent> {
    let events = portcullis::audit::list(&app.state.store, &org.id, None, 100).await.unwrap().unwrap();
    events.into_iter().filter(|e| e.action == "member.joined").collect()
}

#[actix_web::test]
async fn each_way_of_joining_writes_one_member_joined_with_the_membership() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let key = key_for(&app, &owner, &["read", "admin"]).await;

    // Accepting signed in; a second try is refused and writes nothing.
    let (ada, _) = app.user().create().await;
    let (ada_invitation, url) = invite(&app, &key, &ada.email, "DEVELOPER").await;
    let (_, accepted, _) = open_and_accept(&app, &ada, &url).await;
    assert_eq!(accepted, 303);
    let (_, again, html) = open_and_accept(&app, &ada, &url).await;
    assert_eq!(again, 400, "{html}");

    // Signing up from the link.
    let (bo_invitation, url) = invite(&app, &key, "bo@example.com", "VIEWER").await;
    let path = url.strip_prefix(&app.base).unwrap().to_owned();
    let browser = app.new_browser();
    let token = form_token(&browser, &app.url(&format!("/signup?return_to={}", urlencode(&path)))).await;
    let form = [
        ("csrf_token", token.as_str()),
        ("email", "bo@example.com"),
        ("password", PASSWORD),
        ("return_to", path.as_str()),
    ];
    let res = browser.post(app.url("/signup")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let bo = app.state.store.run(|c| portcullis::store::users::find_user_by_email(c, "bo@example.com")).await;
    let bo = bo.unwrap().expect("signed up");
    assert_eq!(app.state.accounts.member(&org.id, &bo.id).await.unwrap().map(|m| m.role), Some(Role::Viewer));

    // A refused acceptance (the invitation revoked) joins no one and writes nothing.
    let (cy, _) = app.user().create().await;
    let (cy_invitation, url) = invite(&app, &key, &cy.email, "VIEWER").await;
    let (s, _) = call(&app, "DELETE", &format!("/v1/invitations/{cy_invitation}"), &key, None).await;
    assert!(s == 200 || s == 204, "{s}");
    assert_dead(&app, &org, &cy, &url).await;

    let mut joined = joined_events(&app, &org).await;
    joined.sort_by(|a, b| a.id.cmp(&b.id)); // time-ordered ids
    let seen: Vec<_> = joined
        .iter()
        .map(|e| (e.target.clone().unwrap_or_default(), e.actor.clone(), e.details.clone(), e.ip.is_some()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                ada.id.clone(),
                format!("user:{}", ada.id),
                json!({"role": "DEVELOPER", "invitation": ada_invitation}),
                true
            ),
            (bo.id.clone(), format!("user:{}", bo.id), json!({"role": "VIEWER", "invitation": bo_invitation}), true),
        ]
    );
}
