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
