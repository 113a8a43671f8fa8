//! What a client's registration changes in its ID tokens: the signing
//! algorithm (`id_token_signed_response_alg`) and the subject
//! (`subject_type` pairwise, per sector), all verified by the crate.

use openidconnect::TokenResponse;
use portcullis::oauth::clients::SubjectType;
use portcullis::tokens::signing::SigningAlgorithm;

use serde_json::json;

use crate::oauth_support::{Registered, post_form};
use crate::oidc_support::{
    OIDC_SCOPES, header, http, payload, relying_party, sign_in_with, signed_in_user, verified_claims,
};
use crate::support::TestApp;

async fn client(
    app: &TestApp,
    org: &str,
    owner: &str,
    change: impl FnOnce(&mut portcullis::oauth::clients::NewClient),
) -> Registered {
    let mut builder = app.client_in(org, owner).scopes(&OIDC_SCOPES);
    change(builder.new_mut());
    builder.create().await
}

#[actix_web::test]
async fn an_es256_or_eddsa_client_gets_id_tokens_of_that_algorithm() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (browser, user_id, _) = signed_in_user(&app).await;
    for alg in [SigningAlgorithm::ES256, SigningAlgorithm::EdDSA, SigningAlgorithm::RS256] {
        let reg = client(&app, &org.id, &owner.id, |n| n.oidc.id_token_alg = alg).await;
        let rp = relying_party(&app, &reg).await;
        let (nonce, tokens) = sign_in_with(&app, &browser, &rp, &["offline_access"], &[]).await;
        let id_token = tokens.id_token().unwrap().to_string();
        assert_eq!(header(&id_token)["alg"], alg.as_str());
        // Signature from the JWKS and at_hash (SHA-512 for EdDSA) by the crate.
        let claims = verified_claims(&app, &rp, &tokens, Some(&nonce));
        assert_eq!(claims.subject().as_str(), user_id);
        // Refreshed ID tokens keep the client's algorithm.
        let refreshed = rp
            .exchange_refresh_token(openidconnect::OAuth2TokenResponse::refresh_token(&tokens).unwrap())
            .unwrap()
            .request_async(&http())
            .await
            .unwrap();
        assert_eq!(header(&refreshed.id_token().unwrap().to_string())["alg"], alg.as_str());
        verified_claims(&app, &rp, &refreshed, None);
    }
}

#[actix_web::test]
async fn pairwise_subjects_differ_between_sectors_and_stay_stable_for_each() {
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (browser, user_id, _) = signed_in_user(&app).await;
    let pairwise = |sector: &'static str| {
        move |n: &mut portcullis::oauth::clients::NewClient| {
            n.oidc.subject_type = SubjectType::Pairwise;
            n.oidc.sector_identifier = Some(sector.into());
            // A sector is one of the app's redirect hosts.
            n.redirect_uris = vec![format!("https://{sector}/callback")];
        }
    };
    let a = client(&app, &org.id, &owner.id, pairwise("a.example")).await;
    let b = client(&app, &org.id, &owner.id, pairwise("b.example")).await;
    let a_again = client(&app, &org.id, &owner.id, pairwise("a.example")).await;
    let mut subs = Vec::new();
    for reg in [&a, &b, &a_again, &a] {
        let rp = relying_party(&app, reg).await;
        let (nonce, tokens) = sign_in_with(&app, &browser, &rp, &[], &[]).await;
        let sub = verified_claims(&app, &rp, &tokens, Some(&nonce)).subject().clone();
        // Userinfo names the user the same way.
        let info: openidconnect::core::CoreUserInfoClaims = rp
            .user_info(openidconnect::OAuth2TokenResponse::access_token(&tokens).clone(), Some(sub.clone()))
            .unwrap()
            .request_async(&http())
            .await
            .expect("userinfo with the pairwise sub");
        assert_eq!(info.subject(), &sub);
        // And an id_token_hint with it names this user.
        let hint = tokens.id_token().unwrap().to_string();
        let (_, silent) = sign_in_with(&app, &browser, &rp, &[], &[("prompt", "none"), ("id_token_hint", &hint)]).await;
        assert!(silent.id_token().is_some());
        subs.push(sub.as_str().to_owned());
    }
    assert_ne!(subs[0], user_id, "pairwise: not the user id");
    assert_ne!(subs[0], subs[1], "another sector, another subject");
    assert_eq!(subs[0], subs[2], "one sector, one subject");
    assert_eq!(subs[0], subs[3], "stable");
    assert_eq!(subs[0].len(), 43, "base64url of 32 bytes");
}

#[actix_web::test]
async fn a_pairwise_apps_tokens_carry_its_subject_never_the_user_id_and_still_die_with_the_user() {
    use openidconnect::OAuth2TokenResponse;
    let app = TestApp::spawn().await;
    let (owner, org) = app.user().create().await;
    let (browser, user_id, _) = signed_in_user(&app).await;
    let reg = client(&app, &org.id, &owner.id, |n| {
        n.oidc.subject_type = SubjectType::Pairwise;
        n.oidc.sector_identifier = Some("rp.example".into());
        n.redirect_uris = vec!["https://rp.example/callback".into()];
    })
    .await;
    let rp = relying_party(&app, &reg).await;
    let (nonce, tokens) = sign_in_with(&app, &browser, &rp, &["offline_access"], &[]).await;
    let sub = verified_claims(&app, &rp, &tokens, Some(&nonce)).subject().as_str().to_owned();
    assert_ne!(sub, user_id);
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().unwrap().secret().clone();

    // The access token, its introspection and the refresh token's: the
    // app's subject, and the user's id nowhere.
    assert_eq!(payload(&access)["sub"], sub.as_str());
    // The app's organization, for resource servers that check tokens themselves.
    assert_eq!(payload(&access)["org_id"], org.id.as_str());
    assert!(!payload(&access).to_string().contains(&user_id));
    for token in [&access, &refresh] {
        let (status, _, body) = post_form(&app, "/oauth/introspect", &reg, &[("token", token)]).await;
        assert_eq!((status, &body["active"], &body["sub"]), (200, &json!(true), &json!(sub)), "{body}");
        assert!(!body.to_string().contains(&user_id), "{body}");
    }
    // A refresh keeps the subject, and userinfo still finds the user.
    let refreshed =
        rp.exchange_refresh_token(tokens.refresh_token().unwrap()).unwrap().request_async(&http()).await.unwrap();
    assert_eq!(payload(refreshed.access_token().secret())["sub"], sub.as_str());
    assert_eq!(payload(refreshed.access_token().secret())["org_id"], org.id.as_str());
    let info: openidconnect::core::CoreUserInfoClaims =
        rp.user_info(refreshed.access_token().clone(), None).unwrap().request_async(&http()).await.unwrap();
    assert_eq!(info.subject().as_str(), sub);

    // An access token without a refresh family dies with a revocation of
    // all the user's tokens, though its `sub` is not the user's id.
    let (_, lone) = sign_in_with(&app, &browser, &rp, &[], &[]).await;
    let lone = lone.access_token().secret().clone();
    assert_eq!(post_form(&app, "/oauth/introspect", &reg, &[("token", &lone)]).await.2["active"], true);
    app.clock.advance(chrono::Duration::seconds(2));
    let (state, user) = (app.state.clone(), user_id.clone());
    state
        .store
        .clone()
        .run(move |conn| {
            let now = state.clock.now();
            portcullis::oauth::OAuth::revoke_user_tokens_blocking(
                conn,
                &user,
                now,
                (now + chrono::Duration::hours(2)).naive_utc(),
            )
        })
        .await
        .unwrap();
    for token in [&lone, refreshed.access_token().secret()] {
        let (_, _, body) = post_form(&app, "/oauth/introspect", &reg, &[("token", token)]).await;
        assert_eq!(body, json!({"active": false}));
        let res = http().get(app.url("/oauth/userinfo")).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 401);
    }
}
