//! Client credentials, client authentication, the token endpoint's bad
//! input, introspection, revocation, metadata and JWKS.

use jsonwebtoken::Algorithm;
use oauth2::{Scope, TokenResponse};
use portcullis::clock::Clock;
use portcullis::oauth::clients::GrantType;
use serde_json::{Value, json};

use crate::oauth_support::{Registered, post_form, verify_with_jwks};
use crate::support::TestApp;

async fn client_credentials(app: &TestApp, reg: &Registered, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let (status, headers, body) = post_form(app, "/oauth/token", reg, &form).await;
    assert_eq!(headers["cache-control"], "no-store");
    (status, body)
}

#[actix_web::test]
async fn client_credentials_token_is_an_rfc9068_jwt_verifiable_with_the_jwks() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let client = app.oauth2_client(&reg);
    let http = reqwest::Client::new();
    let token =
        client.exchange_client_credentials().add_scope(Scope::new("read".into())).request_async(&http).await.unwrap();
    assert!(token.refresh_token().is_none());
    assert_eq!(token.expires_in().unwrap().as_secs(), 3600);
    let claims = verify_with_jwks(&app, token.access_token().secret()).await;
    let now = app.clock.now().timestamp();
    assert_eq!(claims["iss"], json!(app.base));
    assert_eq!(claims["sub"], json!(reg.client.client_id));
    assert_eq!(claims["client_id"], json!(reg.client.client_id));
    assert_eq!(claims["aud"], json!(app.base));
    assert_eq!(claims["scope"], "read");
    assert_eq!(
        (claims["iat"].as_i64(), claims["nbf"].as_i64(), claims["exp"].as_i64()),
        (Some(now), Some(now), Some(now + 3600))
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
    assert_eq!(jsonwebtoken::decode_header(token.access_token().secret()).unwrap().alg, Algorithm::ES256);

    // No scope asked: all the client's scopes.
    let (status, body) = client_credentials(&app, &reg, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["scope"], "delete offline_access read write");
    assert_eq!(body["token_type"], "Bearer");
    // Wider than allowed, or unknown: invalid_scope.
    let (status, body) = client_credentials(&app, &reg, Some("read admin")).await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "invalid_scope", "error_description": "scope \"admin\" is not allowed for this client"}))
    );
    let (status, body) = client_credentials(&app, &reg, Some("payroll")).await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "invalid_scope", "error_description": "unknown scope \"payroll\""}))
    );
}

#[actix_web::test]
async fn rs256_and_eddsa_tokens_verify_with_the_jwks_too() {
    for alg in ["RS256", "EdDSA"] {
        let app = TestApp::spawn_with(|c| c.oauth.signing_algorithm = alg.into()).await;
        let reg = app.oauth_client().await.create().await;
        let (status, body) = client_credentials(&app, &reg, Some("read")).await;
        assert_eq!(status, 200, "{alg}: {body}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(format!("{:?}", jsonwebtoken::decode_header(token).unwrap().alg), alg);
        let claims = verify_with_jwks(&app, token).await;
        assert_eq!(claims["scope"], "read");
    }
}

#[actix_web::test]
async fn client_authentication_failures_are_401_invalid_client() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let url = app.url("/oauth/token");
    let http = reqwest::Client::new();
    let form = [("grant_type", "client_credentials")];

    // Wrong secret in the header: 401 with WWW-Authenticate.
    let res = http.post(&url).basic_auth(&reg.client.client_id, Some("wrong")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Basic realm=\"portcullis\"");
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"error": "invalid_client", "error_description": "Client authentication failed."})
    );
    // Wrong secret in the body: 401, no header.
    let res = http
        .post(&url)
        .form(&[("grant_type", "client_credentials"), ("client_id", &reg.client.client_id), ("client_secret", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().get("www-authenticate").is_none());
    // The right secret in the body works (client_secret_post).
    let res = http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &reg.client.client_id),
            ("client_secret", reg.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Unknown client, no credentials, a confidential client without its secret.
    for form in [
        vec![("grant_type", "client_credentials"), ("client_id", "nope"), ("client_secret", "x")],
        vec![("grant_type", "client_credentials")],
        vec![("grant_type", "client_credentials"), ("client_id", reg.client.client_id.as_str())],
    ] {
        let res = http.post(&url).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 401, "{form:?}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_client");
    }
    // Two methods at once.
    let res = http
        .post(&url)
        .basic_auth(&reg.client.client_id, reg.secret.as_deref())
        .form(&[("grant_type", "client_credentials"), ("client_secret", reg.secret.as_deref().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_request");
}

#[actix_web::test]
async fn grants_the_client_is_not_allowed_are_unauthorized_client() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.grants(&[GrantType::AuthorizationCode]).create().await;
    let (status, body) = client_credentials(&app, &reg, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
    let (status, _, body) =
        post_form(&app, "/oauth/token", &reg, &[("grant_type", "refresh_token"), ("refresh_token", "x")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
}

#[actix_web::test]
async fn malformed_token_requests_get_rfc6749_json_errors() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let http = reqwest::Client::new();
    let url = app.url("/oauth/token");
    let auth = |r: reqwest::RequestBuilder| r.basic_auth(&reg.client.client_id, reg.secret.as_deref());
    let cases: Vec<(reqwest::RequestBuilder, &str, &str)> = vec![
        (
            auth(http.post(&url)).json(&json!({"grant_type": "client_credentials"})),
            "invalid_request",
            "The body must be application/x-www-form-urlencoded.",
        ),
        (
            auth(http.post(&url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&grant_type=password"),
            "invalid_request",
            "The parameter grant_type is repeated.",
        ),
        (auth(http.post(&url)).form(&[("scope", "read")]), "invalid_request", "grant_type is required"),
        (
            auth(http.post(&url)).form(&[("grant_type", "password"), ("username", "u"), ("password", "p")]),
            "unsupported_grant_type",
            "grant_type \"password\" is not supported",
        ),
        (auth(http.post(&url)).form(&[("grant_type", "authorization_code")]), "invalid_request", "code is required"),
        (
            auth(http.post(&url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![0xff, 0xfe, 0x00]),
            "invalid_request",
            "grant_type is required",
        ),
    ];
    for (request, error, description) in cases {
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), 400, "{description}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"error": error, "error_description": description}));
    }
    // GET is not a token request.
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[actix_web::test]
async fn introspection_needs_a_client_and_shows_only_its_own_tokens() {
    let app = TestApp::spawn().await;
    let owner = app.oauth_client().await.create().await;
    let stranger = app.oauth_client().await.create().await;
    let org = owner.client.organization_id.clone();
    let resource_server = app.oauth_client().await.in_org(&org).resource_server().create().await;
    let foreign_resource_server = app.oauth_client().await.resource_server().create().await;
    let (_, body) = client_credentials(&app, &owner, Some("read")).await;
    let token = body["access_token"].as_str().unwrap();

    let res = reqwest::Client::new().post(app.url("/oauth/introspect")).form(&[("token", token)]).send().await.unwrap();
    assert_eq!(res.status(), 401);

    let (_, _, body) = post_form(&app, "/oauth/introspect", &stranger, &[("token", token)]).await;
    assert_eq!(body, json!({"active": false}));
    let (_, _, body) = post_form(&app, "/oauth/introspect", &resource_server, &[("token", token)]).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["org_id"], json!(owner.client.organization_id));
    // Another organization's resource server learns nothing of it.
    let (_, _, body) = post_form(&app, "/oauth/introspect", &foreign_resource_server, &[("token", token)]).await;
    assert_eq!(body, json!({"active": false}));
    for junk in ["junk", "a.b.c", "", &"x".repeat(5000)] {
        let (status, _, body) = post_form(&app, "/oauth/introspect", &owner, &[("token", junk)]).await;
        if junk.is_empty() {
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
        } else {
            assert_eq!((status, body), (200, json!({"active": false})), "{junk:.20}");
        }
    }
    // Expired by the clock: inactive.
    app.clock.advance(chrono::Duration::seconds(3601));
    let (_, _, body) = post_form(&app, "/oauth/introspect", &owner, &[("token", token)]).await;
    assert_eq!(body, json!({"active": false}));
}

#[actix_web::test]
async fn revoking_an_access_token_denies_it_everywhere_and_unknown_tokens_are_fine() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let other = app.oauth_client().await.create().await;
    let (_, body) = client_credentials(&app, &reg, Some("read")).await;
    let token = body["access_token"].as_str().unwrap();

    let (status, _, body) = post_form(&app, "/oauth/revoke", &other, &[("token", token)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
    let (_, _, body) = post_form(&app, "/oauth/introspect", &reg, &[("token", token)]).await;
    assert_eq!(body["active"], true, "another client's revocation did nothing");

    let (status, _, _) =
        post_form(&app, "/oauth/revoke", &reg, &[("token", token), ("token_type_hint", "access_token")]).await;
    assert_eq!(status, 200);
    let (_, _, body) = post_form(&app, "/oauth/introspect", &reg, &[("token", token)]).await;
    assert_eq!(body, json!({"active": false}));
    // Twice, and unknown tokens: still 200.
    for t in [token, "never-issued"] {
        let (status, _, _) = post_form(&app, "/oauth/revoke", &reg, &[("token", t)]).await;
        assert_eq!(status, 200);
    }
}

#[actix_web::test]
async fn rotated_secret_keeps_working_for_the_grace_period_only() {
    let app = TestApp::spawn().await;
    let mut reg = app.oauth_client().await.create().await;
    let old = reg.clone_secret();
    let new =
        app.state.oauth.clients.rotate_secret(&reg.client.client_id, chrono::Duration::seconds(300)).await.unwrap();
    assert_ne!(old, new);
    assert_eq!(client_credentials(&app, &reg, None).await.0, 200, "old secret within grace");
    reg.secret = Some(new.clone());
    assert_eq!(client_credentials(&app, &reg, None).await.0, 200, "new secret");
    app.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(client_credentials(&app, &reg, None).await.0, 200, "new secret after grace");
    reg.secret = Some(old.clone());
    assert_eq!(client_credentials(&app, &reg, None).await.0, 401, "old secret after grace");

    // Without grace the previous secret stops at once.
    let newest = app.state.oauth.clients.rotate_secret(&reg.client.client_id, chrono::Duration::zero()).await.unwrap();
    reg.secret = Some(new);
    assert_eq!(client_credentials(&app, &reg, None).await.0, 401);
    reg.secret = Some(newest);
    assert_eq!(client_credentials(&app, &reg, None).await.0, 200);
}

#[actix_web::test]
async fn metadata_lists_every_endpoint_and_the_exact_issuer() {
    let app = TestApp::spawn().await;
    let meta: Value =
        reqwest::get(app.url("/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
    assert_eq!(meta["issuer"], json!(app.base));
    for (key, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("revocation_endpoint", "/oauth/revoke"),
    ] {
        assert_eq!(meta[key], json!(app.url(path)), "{key}");
    }
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["grant_types_supported"], json!(["authorization_code", "client_credentials", "refresh_token"]));
    assert_eq!(meta["response_types_supported"], json!(["code"]));
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(meta["access_token_signing_alg_values_supported"], json!(["ES256"]));
    assert!(meta["scopes_supported"].as_array().unwrap().contains(&json!("offline_access")));

    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    // One current key per algorithm: access tokens use ES256, ID tokens RS256 or what a client asks.
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "JWKS leaks {private}");
        }
    }
}

#[actix_web::test]
async fn secrets_are_stored_as_digests_only() {
    use diesel::prelude::*;
    use portcullis::store::schema::client_secrets;
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let secret = reg.clone_secret();
    assert!(secret.len() >= 43, "≥256-bit secret");
    let stored: Vec<String> = app
        .state
        .store
        .run(|conn| Ok(client_secrets::table.select(client_secrets::secret_digest).load(conn)?))
        .await
        .unwrap();
    assert_eq!(stored, vec![portcullis::tokens::opaque::digest(&secret)]);
}

impl Registered {
    fn clone_secret(&self) -> String {
        self.secret.clone().unwrap()
    }
}

#[actix_web::test]
async fn a_secret_rotated_elsewhere_reaches_this_instance_through_the_change_log() {
    use portcullis::oauth::clients::Clients;
    // The background poll is slowed down so that the test decides when the
    // log is read (on PostgreSQL the announcement may come first: either
    // way, once the log is read the change is known).
    let app = TestApp::spawn_with(|c| c.change_poll_interval_ms = 3_600_000).await;
    let reg = app.oauth_client().await.create().await;
    assert_eq!(client_credentials(&app, &reg, None).await.0, 200); // cached now

    // Another instance (or the CLI) rotates the secret in the shared database.
    let elsewhere = Clients::new(app.state.store.clone(), app.clock.clone(), app.state.oauth.scopes.clone());
    let new = elsewhere.rotate_secret(&reg.client.client_id, chrono::Duration::zero()).await.unwrap();
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || state.changes.catch_up()).await.unwrap().unwrap();
    // The old secret is refused and the new one works.
    assert_eq!(client_credentials(&app, &reg, None).await.0, 401);
    let rotated = Registered { client: reg.client.clone(), secret: Some(new) };
    assert_eq!(client_credentials(&app, &rotated, None).await.0, 200);
}

/// A resource server sees the tokens of its own organization's apps, users'
/// tokens included, and nothing of another organization's.
#[actix_web::test]
async fn resource_servers_see_only_their_own_organizations_tokens() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let org = reg.client.organization_id.clone();
    let own = app.oauth_client().await.in_org(&org).resource_server().create().await;
    let foreign = app.oauth_client().await.resource_server().create().await;
    let browser = crate::oauth_code::signed_in(&app).await;
    let (refresh, access) = crate::oauth_code::tokens_as(&app, &browser, &reg, "read offline_access").await;
    for token in [&access, &refresh] {
        let (_, _, body) = post_form(&app, "/oauth/introspect", &own, &[("token", token)]).await;
        assert_eq!(body["active"], true, "{body}");
        assert_eq!(body["client_id"], json!(reg.client.client_id));
        let (_, _, body) = post_form(&app, "/oauth/introspect", &foreign, &[("token", token)]).await;
        assert_eq!(body, json!({"active": false}));
    }
}
