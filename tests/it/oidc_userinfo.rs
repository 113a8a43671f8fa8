//! /oauth/userinfo as RFC 6750 and OIDC Core §5.3 say: which tokens it
//! takes, how it refuses the others, and CORS for browser RPs.

use serde_json::{Value, json};

use crate::oauth_support::{Registered, post_form, redeem};
use crate::oidc_support::signed_in_user;
use crate::support::TestApp;

/// An access token for `scope`, from the code flow of a signed-in user.
async fn access_token(app: &TestApp, reg: &Registered, scope: &str) -> (String, String) {
    let (browser, user_id, _) = signed_in_user(app).await;
    let (code, verifier) = crate::oauth_code::code_as(app, &browser, reg, scope).await;
    let (status, body) = redeem(app, reg, &code, verifier.secret(), Some(crate::oauth_support::REDIRECT)).await;
    assert_eq!(status, 200, "{body}");
    (body["access_token"].as_str().unwrap().to_owned(), user_id)
}

async fn answer(res: reqwest::Response) -> (u16, String, Value) {
    let status = res.status().as_u16();
    let challenge = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert_eq!(res.headers()["access-control-allow-origin"], "*", "CORS on every answer");
    assert_eq!(res.headers()["cache-control"], "no-store");
    (status, challenge, res.json().await.unwrap_or(Value::Null))
}

#[actix_web::test]
async fn userinfo_answers_get_and_post_with_the_scopes_claims() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.scopes(&["openid", "email", "read"]).create().await;
    let (token, user_id) = access_token(&app, &reg, "openid email").await;
    let http = reqwest::Client::new();

    let res = http.get(app.url("/oauth/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    let (status, _, body) = answer(res).await;
    assert_eq!(status, 200);
    let email = body["email"].as_str().unwrap().to_owned();
    assert_eq!(body, json!({"sub": user_id, "email": email, "email_verified": false}));

    // POST with the header, and with the form field (RFC 6750 §2.2).
    let res = http.post(app.url("/oauth/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer(res).await.2["sub"], json!(user_id));
    let res = http.post(app.url("/oauth/userinfo")).form(&[("access_token", &token)]).send().await.unwrap();
    assert_eq!(answer(res).await.2["sub"], json!(user_id));
    // The scheme is case-insensitive.
    let res =
        http.get(app.url("/oauth/userinfo")).header("authorization", format!("bearer {token}")).send().await.unwrap();
    assert_eq!(answer(res).await.0, 200);

    // openid alone: only sub.
    let (token, user_id) = access_token(&app, &reg, "openid").await;
    let res = http.get(app.url("/oauth/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer(res).await.2, json!({"sub": user_id}));
}

#[actix_web::test]
async fn userinfo_refuses_what_rfc_6750_refuses() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.scopes(&["openid", "email", "read"]).create().await;
    let http = reqwest::Client::new();
    let url = app.url("/oauth/userinfo");

    // No token: a bare challenge (§3.1).
    let (status, challenge, _) = answer(http.get(&url).send().await.unwrap()).await;
    assert_eq!((status, challenge.as_str()), (401, r#"Bearer realm="portcullis""#));

    // Garbage, and a token without openid.
    let (status, challenge, body) = answer(http.get(&url).bearer_auth("nope").send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(challenge.starts_with(r#"Bearer realm="portcullis", error="invalid_token""#), "{challenge}");
    assert_eq!(
        body,
        json!({"error": "invalid_token", "error_description": "The access token is invalid, expired or revoked."})
    );
    let (token, _) = access_token(&app, &reg, "read").await;
    let (status, challenge, body) = answer(http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#) && challenge.ends_with(r#"scope="openid""#),
        "{challenge}"
    );
    assert_eq!(body["error"], "insufficient_scope");

    // A revoked token (the denylist).
    let (token, _) = access_token(&app, &reg, "openid").await;
    assert_eq!(answer(http.get(&url).bearer_auth(&token).send().await.unwrap()).await.0, 200);
    let (status, _, _) = post_form(&app, "/oauth/revoke", &reg, &[("token", &token)]).await;
    assert_eq!(status, 200);
    let (status, challenge, _) = answer(http.get(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert!(challenge.contains(r#"error="invalid_token""#));

    // A machine's token may not even carry openid.
    let (status, _, body) =
        post_form(&app, "/oauth/token", &reg, &[("grant_type", "client_credentials"), ("scope", "openid")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));

    // The token in the URL, two methods at once, another scheme: invalid_request.
    let (token, _) = access_token(&app, &reg, "openid").await;
    let (status, _, body) = answer(http.get(format!("{url}?access_token={token}")).send().await.unwrap()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let res = http.post(&url).bearer_auth(&token).form(&[("access_token", &token)]).send().await.unwrap();
    let (status, _, body) = answer(res).await;
    assert_eq!((status, body["error_description"].as_str()), (400, Some("Send the access token one way, not two.")));
    let res = http.get(&url).header("authorization", "Bearer ").send().await.unwrap();
    assert_eq!(answer(res).await.0, 400);
    // Another scheme is no bearer token: the bare challenge.
    let res = http.get(&url).basic_auth("a", Some("b")).send().await.unwrap();
    let (status, challenge, _) = answer(res).await;
    assert_eq!((status, challenge.as_str()), (401, r#"Bearer realm="portcullis""#));
}

#[actix_web::test]
async fn userinfo_allows_cross_origin_calls() {
    let app = TestApp::spawn().await;
    let res = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, app.url("/oauth/userinfo"))
        .header("origin", "https://rp.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["access-control-allow-methods"], "GET, POST");
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("Authorization"));
    assert_eq!(h["access-control-expose-headers"], "WWW-Authenticate");
}
