//! OpenID Connect through the `openidconnect` crate as a strict relying
//! party: discovery, the code flow with PKCE and nonce, ID-token
//! verification (signature from the JWKS, at_hash, nonce, auth_time),
//! userinfo, and refresh.

use chrono::Duration;
use openidconnect::core::{CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{IssuerUrl, Nonce, OAuth2TokenResponse, TokenResponse};
use portcullis::clock::Clock;
use serde_json::{Value, json};

use crate::oauth_support::{REDIRECT, query};
use crate::oidc_support::{Rig, auth_request, exchange, header, http, payload, verified_claims, verifier};
use crate::support::TestApp;

#[actix_web::test]
async fn discovery_is_complete_and_the_same_as_the_rfc_8414_document() {
    let app = TestApp::spawn().await;
    let oidc: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    let oauth: Value =
        reqwest::get(app.url("/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
    assert_eq!(oidc, oauth, "one document, so the two cannot drift");
    assert_eq!(oidc["issuer"], json!(app.base));
    for (key, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("end_session_endpoint", "/oauth/logout"),
    ] {
        assert_eq!(oidc[key], json!(app.url(path)), "{key}");
    }
    assert_eq!(oidc["response_types_supported"], json!(["code"]));
    assert_eq!(oidc["response_modes_supported"], json!(["query"]));
    assert_eq!(oidc["subject_types_supported"], json!(["public", "pairwise"]));
    assert_eq!(oidc["id_token_signing_alg_values_supported"], json!(["RS256", "ES256", "EdDSA"]));
    assert_eq!(oidc["prompt_values_supported"], json!(["none", "login", "consent", "select_account"]));
    assert_eq!(oidc["display_values_supported"], json!(["page", "popup", "touch", "wap"]));
    assert_eq!(oidc["claim_types_supported"], json!(["normal"]));
    for no in ["claims_parameter_supported", "request_parameter_supported", "request_uri_parameter_supported"] {
        assert_eq!(oidc[no], false, "{no}");
    }
    assert_eq!(oidc["backchannel_logout_supported"], true);
    assert_eq!(oidc["backchannel_logout_session_supported"], true);
    assert_eq!(oidc["frontchannel_logout_supported"], false);
    let scopes = oidc["scopes_supported"].as_array().unwrap();
    for s in ["openid", "profile", "email", "offline_access"] {
        assert!(scopes.contains(&json!(s)), "{s}");
    }
    let claims = oidc["claims_supported"].as_array().unwrap();
    for c in ["sub", "iss", "auth_time", "email", "email_verified", "sid", "amr"] {
        assert!(claims.contains(&json!(c)), "{c}");
    }
    // What is not offered is not announced.
    for absent in ["registration_endpoint", "userinfo_signing_alg_values_supported", "acr_values_supported"] {
        assert!(oidc.get(absent).is_none(), "{absent}");
    }
    // The crate accepts it (issuer match, JWKS fetched and parsed).
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http())
        .await
        .expect("the crate accepts the discovery document");
    assert_eq!(metadata.issuer().as_str(), app.base);
    assert!(!metadata.jwks().keys().is_empty());
}

#[actix_web::test]
async fn code_flow_with_pkce_and_nonce_gives_an_id_token_the_crate_verifies() {
    let rig = Rig::start().await;
    let (app, reg, rp) = (&rig.app, &rig.reg, &rig.rp);
    let browser = &rig.browser;
    let user_id = &rig.user_id;
    let email = &rig.email;
    let signed_in_at = app.clock.now().timestamp();
    app.clock.advance(Duration::seconds(30));

    let req = auth_request(rp, &["profile", "email", "offline_access"], &[]);
    let back = app.authorize(browser, req.url.as_str(), "approve").await;
    assert!(back.as_str().starts_with(REDIRECT));
    let tokens = exchange(rp, &back, req.verifier).await;
    let scopes: Vec<String> = tokens.scopes().unwrap().iter().map(|s| s.to_string()).collect();
    assert_eq!(scopes, ["email", "offline_access", "openid", "profile"]);

    let claims = verified_claims(app, rp, &tokens, Some(&req.nonce));
    assert_eq!(claims.subject().as_str(), user_id, "public subject: the user id");
    assert_eq!(claims.issuer().as_str(), app.base);
    assert_eq!(claims.audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(), [reg.client.client_id.as_str()]);
    assert_eq!(claims.authorized_party().map(|a| a.as_str()), Some(reg.client.client_id.as_str()));
    assert_eq!(claims.auth_time().map(|t| t.timestamp()), Some(signed_in_at), "when the user signed in");
    assert_eq!(claims.issue_time().timestamp(), app.clock.now().timestamp());
    assert_eq!((claims.expiration() - claims.issue_time()).num_seconds(), 3600, "oidc.id_token_ttl_secs");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(email.as_str()));
    assert_eq!(claims.email_verified(), Some(false), "this address was never verified");
    assert!(claims.updated_at().is_some(), "profile: updated_at");
    assert!(claims.name().is_none(), "no name is made up");

    let id_token = tokens.id_token().unwrap().to_string();
    assert_eq!(header(&id_token)["typ"], "JWT");
    assert_eq!(header(&id_token)["alg"], "RS256", "RS256 unless the client registered another");
    let raw = payload(&id_token);
    assert_eq!(raw["amr"], json!(["pwd"]));
    let sid = raw["sid"].as_str().expect("sid").to_owned();
    assert!(raw.get("acr").is_none());

    // Userinfo through the crate: the same sub, the scopes' claims.
    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http())
        .await
        .expect("userinfo answers");
    assert_eq!(info.subject().as_str(), user_id);
    assert_eq!(info.email().map(|e| e.as_str()), Some(email.as_str()));
    assert_eq!(info.email_verified(), Some(false));

    // Refresh: a new ID token, same sub and auth_time, new iat, no nonce.
    app.clock.advance(Duration::seconds(120));
    let refreshed = rp
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&http())
        .await
        .expect("refresh");
    let again = verified_claims(app, rp, &refreshed, None);
    assert_eq!(again.subject().as_str(), user_id);
    assert_eq!(again.auth_time().map(|t| t.timestamp()), Some(signed_in_at));
    assert_eq!(again.issue_time().timestamp(), app.clock.now().timestamp());
    assert!(again.nonce().is_none());
    assert_eq!(payload(&refreshed.id_token().unwrap().to_string())["sid"], json!(sid));
    // A refresh narrowed to drop openid gets no ID token.
    let narrowed: Value = crate::oauth_support::post_form(
        app,
        "/oauth/token",
        reg,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed.refresh_token().unwrap().secret()),
            ("scope", "email offline_access"),
        ],
    )
    .await
    .2;
    assert_eq!(narrowed["scope"], "email offline_access", "{narrowed}");
    assert!(narrowed.get("id_token").is_none(), "{narrowed}");
}

#[actix_web::test]
async fn a_wrong_nonce_is_refused_by_the_crate() {
    let rig = Rig::start().await;
    let (app, rp) = (&rig.app, &rig.rp);
    let (nonce, tokens) = rig.sign_in(&[], &[]).await;
    let id_token = tokens.id_token().unwrap();
    assert_eq!(payload(&id_token.to_string())["nonce"], json!(nonce.secret()), "echoed");
    let err = id_token.claims(&verifier(app, rp), &Nonce::new("another".into())).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("nonce"), "{err}");
}

#[actix_web::test]
async fn without_openid_there_is_no_id_token_and_a_nonce_changes_nothing() {
    let rig = Rig::start().await;
    let (app, reg) = (&rig.app, &rig.reg);
    let browser = &rig.browser;
    // No scope asked: every allowed scope but openid (plain OAuth).
    let (code, verifier) = crate::oauth_code::code_as(app, browser, reg, "read").await;
    let (status, body) =
        crate::oauth_support::redeem(app, reg, &code, verifier.secret(), Some(crate::oauth_support::REDIRECT)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
}

#[actix_web::test]
async fn request_objects_are_refused_with_the_oidc_errors() {
    let rig = Rig::start().await;
    let (app, rp) = (&rig.app, &rig.rp);
    let browser = &rig.browser;
    for (param, error) in [("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")] {
        let req = auth_request(rp, &[], &[(param, "eyJhbGciOiJub25lIn0.e30.")]);
        let res = browser.get(req.url.as_str()).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let back = url::Url::parse(&crate::support::location(&res)).unwrap();
        assert!(back.as_str().starts_with(REDIRECT));
        assert_eq!(query(&back, "error").as_deref(), Some(error));
    }
    let req = auth_request(rp, &[], &[("response_mode", "form_post")]);
    let res = browser.get(req.url.as_str()).send().await.unwrap();
    let back = url::Url::parse(&crate::support::location(&res)).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(
        query(&back, "error_description").as_deref(),
        Some("response_mode \"form_post\" is not supported; use query")
    );
    // OIDC Core §3.1.2.1: redirect_uri is required, though one is registered.
    let mut without = req.url.clone();
    let kept: Vec<(String, String)> = without
        .query_pairs()
        .filter(|(k, _)| k != "redirect_uri" && k != "response_mode")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    without.query_pairs_mut().clear().extend_pairs(&kept);
    let res = browser.get(without.as_str()).send().await.unwrap();
    let back = url::Url::parse(&crate::support::location(&res)).unwrap();
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(
        query(&back, "error_description").as_deref(),
        Some("redirect_uri is required in an OpenID Connect request")
    );
    // ui_locales, display, claims_locales and acr_values are accepted.
    let req = auth_request(
        rp,
        &[],
        &[("ui_locales", "fr-CA en"), ("display", "popup"), ("claims_locales", "de"), ("acr_values", "urn:x")],
    );
    let back = app.authorize(browser, req.url.as_str(), "approve").await;
    assert!(query(&back, "code").is_some(), "{back}");
}

#[actix_web::test]
async fn the_id_token_lives_as_configured() {
    let rig = Rig::start_with(|c| c.oidc.id_token_ttl_secs = 600).await;
    let (nonce, tokens) = rig.sign_in(&[], &[]).await;
    let claims = verified_claims(&rig.app, &rig.rp, &tokens, Some(&nonce));
    assert_eq!((claims.expiration() - claims.issue_time()).num_seconds(), 600);
    // Expired by the server's clock: the crate refuses it.
    rig.app.clock.advance(Duration::seconds(600));
    let err = tokens.id_token().unwrap().claims(&verifier(&rig.app, &rig.rp), &nonce).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}
