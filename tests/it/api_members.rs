//! /v1/members: roles, the last OWNER, who may do what.

use portcullis::accounts::{Role, User};
use serde_json::json;

use crate::support::{TestApp, call};

pub(crate) async fn key_for(app: &TestApp, user: &User, scopes: &[&str]) -> String {
    let org_id = app.state.accounts.memberships(&user.id).await.unwrap()[0].organization.id.clone();
    app.secret_key(&org_id, &user.id, scopes).await.1
}

#[actix_web::test]
async fn roles_change_within_the_rules_and_the_last_owner_stays() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (admin, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let (dev, _) = app.user().org(&org.name).role(Role::Developer).create().await;
    let owner_key = key_for(&app, &owner, &["read", "admin"]).await;
    let admin_key = key_for(&app, &admin, &["read", "admin"]).await;
    let dev_key = key_for(&app, &dev, &["read", "write", "delete", "admin"]).await;

    let (s, list) = call(&app, "GET", "/v1/members", &dev_key, None).await;
    assert_eq!(s, 200);
    let roles: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [(owner.email.as_str(), "OWNER"), (admin.email.as_str(), "ADMIN"), (dev.email.as_str(), "DEVELOPER")]
    );

    // A developer's key, whatever its scopes, cannot manage members.
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/members/{}", dev.id), &dev_key, Some(json!({"role": "ADMIN"}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")));
    // An admin may change a developer, not make an owner.
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/members/{}", dev.id), &admin_key, Some(json!({"role": "VIEWER"}))).await;
    assert_eq!((s, b["data"]["role"].as_str()), (200, Some("VIEWER")));
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/members/{}", admin.id), &admin_key, Some(json!({"role": "OWNER"}))).await;
    assert_eq!((s, b["error"]["message"].as_str()), (403, Some("An ADMIN cannot make an OWNER.")));
    // The last owner can be neither demoted nor removed.
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/members/{}", owner.id), &owner_key, Some(json!({"role": "ADMIN"}))).await;
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (400, Some("The last OWNER cannot be demoted; make another member OWNER first."))
    );
    let (s, b) = call(&app, "DELETE", &format!("/v1/members/{}", owner.id), &owner_key, None).await;
    assert_eq!((s, b["error"]["message"].as_str()), (400, Some("The last OWNER cannot be removed.")));
    // With a second owner, the first may step down.
    assert_eq!(
        call(&app, "PATCH", &format!("/v1/members/{}", admin.id), &owner_key, Some(json!({"role": "OWNER"}))).await.0,
        200
    );
    assert_eq!(
        call(&app, "PATCH", &format!("/v1/members/{}", owner.id), &owner_key, Some(json!({"role": "ADMIN"}))).await.0,
        200
    );

    // Removing the developer: gone from the list, and its key revoked.
    assert_eq!(call(&app, "DELETE", &format!("/v1/members/{}", dev.id), &admin_key, None).await.0, 200);
    let (s, b) = call(&app, "GET", "/v1/members", &dev_key, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("REVOKED_API_KEY")));
    assert_eq!(call(&app, "DELETE", &format!("/v1/members/{}", dev.id), &admin_key, None).await.0, 404);
    let (s, b) =
        call(&app, "PATCH", &format!("/v1/members/{}", admin.id), &admin_key, Some(json!({"role": "ROOT"}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")));

    let (_, log) = call(&app, "GET", "/v1/audit-events", &admin_key, None).await;
    let actions: Vec<&str> = log["data"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["api_key.used_revoked", "member.removed", "member.role_changed", "member.role_changed", "member.role_changed"]
    );
}

#[actix_web::test]
async fn concurrent_demotions_never_leave_an_organization_without_an_owner() {
    let app = TestApp::spawn_with(|c| c.workers = Some(4)).await;
    let (a, org) = app.user().create().await;
    let (b, _) = app.user().org(&org.name).role(Role::Owner).create().await;
    let (key_a, key_b) = (key_for(&app, &a, &["admin"]).await, key_for(&app, &b, &["admin"]).await);
    for _ in 0..3 {
        // Each owner demotes the other at the same moment: exactly one may win.
        let (path_b, path_a) = (format!("/v1/members/{}", b.id), format!("/v1/members/{}", a.id));
        let one = call(&app, "PATCH", &path_b, &key_a, Some(json!({"role": "ADMIN"})));
        let two = call(&app, "PATCH", &path_a, &key_b, Some(json!({"role": "ADMIN"})));
        let ((s1, b1), (s2, b2)) = futures_util::join!(one, two);
        let members = app.state.accounts.members(&org.id, None, 10).await.unwrap().unwrap();
        let owners = members.iter().filter(|m| m.role == Role::Owner).count();
        assert_eq!(owners, 1, "statuses {s1} {s2}");
        assert_eq!([s1, s2].iter().filter(|s| **s == 200).count(), 1, "statuses {s1} {s2}");
        // The loser gets a clear refusal, never a 5xx: it was either the
        // last OWNER's demotion, or it ran after its own demotion.
        let (loser_status, loser) = if s1 == 200 { (s2, b2) } else { (s1, b1) };
        assert_eq!(loser_status, 400, "{loser}");
        let message = loser["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message == "The last OWNER cannot be demoted; make another member OWNER first."
                || message == "Only an OWNER can make or unmake an OWNER.",
            "{loser}"
        );
        // Restore both owners for the next round.
        let winner_key = if s1 == 200 { &key_a } else { &key_b };
        let demoted = if s1 == 200 { &b.id } else { &a.id };
        let (s, restored) =
            call(&app, "PATCH", &format!("/v1/members/{demoted}"), winner_key, Some(json!({"role": "OWNER"}))).await;
        assert_eq!((s, restored["data"]["role"].as_str()), (200, Some("OWNER")), "{restored}");
    }
}

#[actix_web::test]
async fn an_invitation_link_works_once_for_the_invited_email() {
    use crate::support::csrf_token;
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let admin_key = key_for(&app, &owner, &["read", "admin"]).await;
    let (invitee, _) = app.user().email("newcomer@example.com").create().await;
    let (stranger, _) = app.user().create().await;

    let (s, b) = call(
        &app,
        "POST",
        "/v1/invitations",
        &admin_key,
        Some(json!({"email": "Newcomer@example.com", "role": "DEVELOPER"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let url = b["data"]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&app.url("/invitations/")));
    call(&app, "POST", "/v1/invitations", &admin_key, Some(json!({"email": "second@example.com", "role": "VIEWER"})))
        .await;
    let (_, pending) = call(&app, "GET", "/v1/invitations?limit=1", &admin_key, None).await;
    assert_eq!(
        (pending["data"][0]["email"].as_str(), pending["has_more"].as_bool()),
        (Some("second@example.com"), Some(true))
    );
    let next = pending["next_cursor"].as_str().unwrap();
    let (_, rest) =
        call(&app, "GET", &format!("/v1/invitations?limit=1&starting_after={next}"), &admin_key, None).await;
    assert_eq!(
        (rest["data"][0]["email"].as_str(), rest["has_more"].as_bool()),
        (Some("Newcomer@example.com"), Some(false))
    );
    assert!(!pending.to_string().contains(url.rsplit('/').next().unwrap()), "the token is shown once");

    // Not signed in: the login page, which comes back to the link.
    let anonymous = app.new_browser();
    let res = anonymous.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    // Another account cannot use it.
    let other = app.new_browser();
    app.login(&other, &stranger.email, crate::support::PASSWORD).await;
    let html = other.get(&url).send().await.unwrap().text().await.unwrap();
    let res = other.post(&url).form(&[("csrf_token", csrf_token(&html))]).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("sent to another email address"));

    // The invited account accepts, once.
    let browser = app.new_browser();
    app.login(&browser, &invitee.email, crate::support::PASSWORD).await;
    let html = browser.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!(r#"<span id="invitation-org">{}</span>"#, org.name)), "{html}");
    let form = [("csrf_token", csrf_token(&html))];
    let res = browser.post(&url).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let m = app.state.accounts.member(&org.id, &invitee.id).await.unwrap().unwrap();
    assert_eq!(m.role, Role::Developer);
    let res = browser.post(&url).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 400, "single use");
    // Without the CSRF token: refused.
    let res = browser.post(&url).form(&[("csrf_token", "")]).send().await.unwrap();
    assert_eq!(res.status(), 403);

    // Only an OWNER may invite an OWNER; revoked invitations stop working.
    let (admin, _) = app.user().org(&org.name).role(Role::Admin).create().await;
    let admins_key = key_for(&app, &admin, &["admin"]).await;
    let (s, b) =
        call(&app, "POST", "/v1/invitations", &admins_key, Some(json!({"email": "boss@example.com", "role": "OWNER"})))
            .await;
    assert_eq!((s, b["error"]["message"].as_str()), (403, Some("An ADMIN cannot make an OWNER.")));
    let (_, b) =
        call(&app, "POST", "/v1/invitations", &admin_key, Some(json!({"email": "late@example.com", "role": "VIEWER"})))
            .await;
    let id = b["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, "DELETE", &format!("/v1/invitations/{id}"), &admin_key, None).await.0, 200);
    assert_eq!(call(&app, "DELETE", &format!("/v1/invitations/{id}"), &admin_key, None).await.0, 404);
}
