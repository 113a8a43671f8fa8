//! A table of attacks, each with the exact refusal it must get: forged and
//! confused JWTs, redirect-URI tricks, deeply nested JSON, request
//! smuggling, injection through text fields, and secrets in the log.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{EncodingKey, Header};
use portcullis::tokens::signing::{AccessTokenClaims, SigningAlgorithm};
use serde_json::{Value, json};

use crate::oauth_support::{REDIRECT, Registered, post_form};
use crate::support::{PASSWORD, TestApp, call, captured_logs, location, urlencode};

fn part(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

fn decode(segment: &str) -> Value {
    serde_json::from_slice(&B64.decode(segment).unwrap()).unwrap()
}

/// A management app's token: it acts on /v1 when genuine.
async fn genuine(app: &TestApp, reg: &Registered) -> String {
    let (s, _, b) =
        post_form(app, "/oauth/token", reg, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().unwrap().to_owned()
}

/// Refused everywhere a token is checked: inactive at introspection,
/// 401 on /v1, 401 at userinfo; and nothing answered with a 5xx.
async fn refused(app: &TestApp, reg: &Registered, token: &str, what: &str) {
    let (s, _, b) = post_form(app, "/oauth/introspect", reg, &[("token", token)]).await;
    if what == "another audience" {
        // Our own signature and claims: introspection describes it (RFC 7662
        // §2.2) with its `aud`, which the resource server checks.
        assert_eq!((s, &b["aud"]), (200, &json!(["https://api.other.example"])), "{what}: introspection");
    } else {
        assert_eq!((s, &b), (200, &json!({"active": false})), "{what}: introspection");
    }
    let (s, b) = call(app, "GET", "/v1/auth/validate", token, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("INVALID_API_KEY")), "{what}: /v1 {b}");
    let res = reqwest::Client::new().get(app.url("/oauth/userinfo")).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 401, "{what}: userinfo");
}

#[actix_web::test]
async fn forged_and_confused_tokens_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.management().create().await;
    let token = genuine(&app, &reg).await;
    let (s, b) = call(&app, "GET", "/v1/auth/validate", &token, None).await;
    assert_eq!(s, 200, "the genuine token acts on /v1: {b}");

    let segments: Vec<&str> = token.split('.').collect();
    let (header, claims) = (decode(segments[0]), decode(segments[1]));
    let kid = header["kid"].as_str().unwrap().to_owned();
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == json!(kid)).unwrap().clone();
    let other_kid = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] != json!(kid)).unwrap()["kid"].clone();
    let mut elevated = claims.clone();
    elevated["scope"] = json!("read write delete admin");

    let mut forged: Vec<(String, String)> = Vec::new();
    // `alg: none`, in every spelling, with and without a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"typ": "at+jwt", "alg": alg, "kid": kid});
        forged.push((format!("alg {alg}"), format!("{}.{}.", part(&h), part(&elevated))));
        forged.push((format!("alg {alg}, signature kept"), format!("{}.{}.{}", part(&h), part(&claims), segments[2])));
    }
    // Algorithm confusion: HMAC keyed with the public key, in the forms a
    // confused verifier might use as the secret.
    let point =
        [vec![4u8], B64.decode(jwk["x"].as_str().unwrap()).unwrap(), B64.decode(jwk["y"].as_str().unwrap()).unwrap()]
            .concat();
    for (name, secret) in [
        ("the JWK as JSON", serde_json::to_vec(&jwk).unwrap()),
        ("the public point", point),
        ("x", jwk["x"].as_str().unwrap().as_bytes().to_vec()),
    ] {
        let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some(kid.clone());
        let t = jsonwebtoken::encode(&h, &elevated, &EncodingKey::from_secret(&secret)).unwrap();
        forged.push((format!("HS256 keyed with {name}"), t));
    }
    // kid injection and confusion.
    for (name, k) in [
        ("a path", json!("../../../../../dev/null")),
        ("SQL", json!("' OR '1'='1")),
        ("a huge kid", json!("k".repeat(20_000))),
        ("a number", json!(7)),
        ("no kid", Value::Null),
        ("another algorithm's key", other_kid.clone()),
    ] {
        let mut h = header.clone();
        h["kid"] = k;
        forged.push((format!("kid: {name}"), format!("{}.{}.{}", part(&h), segments[1], segments[2])));
    }
    // A payload changed under the genuine signature; a header changed.
    forged.push((
        "scope raised under the signature".into(),
        format!("{}.{}.{}", segments[0], part(&elevated), segments[2]),
    ));
    let mut typ = header.clone();
    typ["typ"] = json!("JWT");
    forged.push(("typ changed under the signature".into(), format!("{}.{}.{}", part(&typ), segments[1], segments[2])));
    // The attacker's own key, announced in the header.
    let mut h = header.clone();
    h["jwk"] = json!({"kty": "oct", "k": B64.encode(b"attacker")});
    h["jku"] = json!("https://attacker.example/jwks.json");
    h["alg"] = json!("HS256");
    let sig = {
        use aws_lc_rs::hmac;
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"attacker");
        let input = format!("{}.{}", part(&h), part(&elevated));
        B64.encode(hmac::sign(&key, input.as_bytes()).as_ref())
    };
    forged.push(("an embedded jwk and jku".into(), format!("{}.{}.{sig}", part(&h), part(&elevated))));
    // Shapes that are no JWS at all.
    for (name, t) in [
        ("two parts", format!("{}.{}", segments[0], segments[1])),
        ("four parts", format!("{token}.x")),
        ("not base64", "a!b.c@d.e#f".to_owned()),
        ("empty parts", "..".to_owned()),
        ("a header that is not JSON", format!("{}.{}.{}", B64.encode("{\"alg\":"), segments[1], segments[2])),
    ] {
        forged.push((name.into(), t));
    }

    // Signed by the server itself, but wrong in what the claims say.
    let now = portcullis::clock::Clock::now(app.clock.as_ref()).timestamp();
    let ours: AccessTokenClaims = serde_json::from_value(claims.clone()).unwrap();
    let sign = |change: &dyn Fn(&mut AccessTokenClaims)| {
        let mut c = ours.clone();
        change(&mut c);
        app.state.oauth.keys.sign_access_token(&c).unwrap()
    };
    let control = sign(&|_| {});
    let (s, _) = call(&app, "GET", "/v1/auth/validate", &control, None).await;
    assert_eq!(s, 200, "a token the server signs unchanged is genuine: the cases below differ in one claim");
    forged.push(("expired".into(), sign(&|c| c.exp = now - 1)));
    forged.push(("not yet valid".into(), sign(&|c| c.nbf = now + 120)));
    forged.push(("another issuer".into(), sign(&|c| c.iss = "https://evil.example".into())));
    forged.push(("another audience".into(), sign(&|c| c.aud = vec!["https://api.other.example".into()])));
    forged.push(("an unknown client".into(), sign(&|c| c.client_id = "pc_nobody".into())));
    // An ID token (typ JWT) is no access token, whatever it says.
    let as_id_token = app.state.oauth.keys.sign_jwt(SigningAlgorithm::ES256, "JWT", &ours).unwrap();
    forged.push(("an ID-token-typed JWT".into(), as_id_token));

    for (what, t) in &forged {
        refused(&app, &reg, t, what).await;
    }
    // The genuine token still works: nothing above disturbed it.
    assert_eq!(call(&app, "GET", "/v1/auth/validate", &token, None).await.0, 200);
}

/// The order n of P-256 (SEC 2 §2.4.2), big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `n − s` of a 32-byte big-endian `s` below n.
fn n_minus(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(P256_N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// Round 4, finding 7: every ECDSA signature `(r, s)` has a twin `(r, n − s)`
/// that plain ECDSA verifies. Ours are low-S, and the twin (high-S) is
/// refused wherever a token is checked, though a plain verifier takes it.
#[actix_web::test]
async fn an_es256_token_with_s_replaced_by_n_minus_s_is_refused_everywhere() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.management().create().await;
    let mut twins = Vec::new();
    for _ in 0..8 {
        let token = genuine(&app, &reg).await;
        let (s, b) = call(&app, "GET", "/v1/auth/validate", &token, None).await;
        assert_eq!(s, 200, "{b}");
        let (message, signature) = token.rsplit_once('.').unwrap();
        let header = decode(message.split('.').next().unwrap());
        assert_eq!(header["alg"], "ES256");
        let signature = B64.decode(signature).unwrap();
        assert_eq!(signature.len(), 64);
        let twin_s = n_minus(&signature[32..]);
        assert!(signature[32..] < twin_s[..], "our s is the low one of the two");
        let twin = format!("{message}.{}", B64.encode([&signature[..32], &twin_s[..]].concat()));

        // A plain ECDSA verifier (the JWKS and jsonwebtoken) takes the twin:
        // only our rule refuses it.
        let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json")).await.unwrap().json().await.unwrap();
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
            jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).unwrap().clone(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        // The signature alone: the test's clock is not the system's.
        (validation.validate_aud, validation.validate_exp) = (false, false);
        validation.required_spec_claims.clear();
        let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        jsonwebtoken::decode::<Value>(&twin, &key, &validation).expect("plain ECDSA verifies the twin");
        twins.push((token, twin));
    }
    for (token, twin) in &twins {
        refused(&app, &reg, twin, "the high-S twin").await;
        // The genuine one goes on working.
        assert_eq!(call(&app, "GET", "/v1/auth/validate", token, None).await.0, 200);
    }
}

#[actix_web::test]
async fn redirect_uri_tricks_get_an_error_page_never_a_redirect() {
    let app = TestApp::spawn().await;
    let reg = app.oauth_client().await.create().await;
    let browser = crate::oauth_code::signed_in(&app).await;
    assert_eq!(REDIRECT, "https://app.example/callback");
    for trick in [
        "https://app.example/callbackx",
        "https://app.example/callback/",
        "https://app.example/callback/../evil",
        "https://app.example/callback?next=https://evil.example",
        "https://app.example/callback#fragment",
        "https://app.example.evil.example/callback",
        "https://app.example@evil.example/callback",
        "https://evil.example\\@app.example/callback",
        "https://evil.example#@app.example/callback",
        "https://APP.example/callback",
        "HTTPS://app.example/callback",
        "https://app.example/Callback",
        "https://app.example/%63allback",
        "https://app.example/callback%2F..%2Fevil",
        "https://app.example:443/callback",
        "https://app.example:8443/callback",
        "http://app.example/callback",
        "https://app.example//callback",
        "https://app.example/callback%00",
        " https://app.example/callback",
        "//app.example/callback",
        "app.example/callback",
        "javascript:alert(document.domain)//https://app.example/callback",
        "data:text/html,<script>alert(1)</script>",
    ] {
        let url = format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s&code_challenge={}&code_challenge_method=S256",
            reg.client.client_id,
            urlencode(trick),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let res = browser.get(app.url(&url)).send().await.unwrap();
        assert_eq!(res.status(), 400, "{trick}");
        assert!(location(&res).is_empty(), "never a redirect: {trick}");
        let page = res.text().await.unwrap();
        assert!(page.contains("redirect URI is not registered"), "{trick}: {page}");
    }
}

/// A raw HTTP/1.1 exchange: what the server answers, whole, after which it
/// closed the connection or the read timed out.
fn raw(app: &TestApp, request: &str) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[actix_web::test]
async fn hostile_bodies_and_smuggling_get_4xx_never_5xx() {
    let app = TestApp::spawn().await;
    let (user, org) = app.user().create().await;
    let (_, key) = app.secret_key(&org.id, &user.id, &["read", "write"]).await;

    // Deeply nested JSON, small enough to pass the size limit.
    for body in ["[".repeat(20_000) + &"]".repeat(20_000), "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000)] {
        let res = reqwest::Client::new()
            .post(app.url("/v1/api-keys"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["error"]["code"], "VALIDATION_ERROR", "{b}");
    }
    // A name nested where a string belongs, and one far too long.
    let (s, b) = call(&app, "POST", "/v1/api-keys", &key, Some(json!({"name": {"a": [1]}, "scopes": ["read"]}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");

    // Request smuggling: a length and a chunked body at once, two lengths
    // that disagree. Each is refused (400) and the smuggled request after
    // it is never answered as a second response.
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (name, head) in [
        ("CL + TE", "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"),
        ("TE + CL", "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n"),
        ("two lengths", "Content-Length: 4\r\nContent-Length: 40\r\n"),
        ("an obfuscated TE", "Transfer-Encoding: xchunked\r\n"),
    ] {
        let request = format!(
            "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n{head}\r\n0\r\n\r\n{smuggled}"
        );
        let answer = raw(&app, &request);
        assert!(answer.starts_with("HTTP/1.1 400"), "{name}: {answer}");
        assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{name}: a second response leaked: {answer}");
    }
}

#[actix_web::test]
async fn text_fields_keep_injections_as_text_and_secrets_never_reach_the_log() {
    let logs = captured_logs();
    let app = TestApp::spawn().await;
    let (user, org) = app.user().create().await;
    let (_, key) = app.secret_key(&org.id, &user.id, &["read", "write", "delete", "admin"]).await;
    let payloads = [
        "'; DROP TABLE api_keys; --",
        "\" OR 1=1 --",
        "{{7*7}} ${7*7} <%= 7*7 %>",
        "<script>alert(1)</script>",
        "name\u{0}with a nul",
    ];
    let mut secrets = vec![key.clone(), PASSWORD.to_owned()];
    for p in payloads {
        let (s, b) = call(&app, "POST", "/v1/api-keys", &key, Some(json!({"name": p, "scopes": ["read"]}))).await;
        if p.contains('\u{0}') {
            assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
            continue;
        }
        assert_eq!(s, 201, "{p}: {b}");
        assert_eq!(b["data"]["name"], json!(p), "stored as given");
        secrets.push(b["data"]["key"].as_str().unwrap().to_owned());
        let (s, b) = call(
            &app,
            "POST",
            "/v1/apps",
            &key,
            Some(json!({"name": p, "redirect_uris": [REDIRECT], "scopes": ["read"],
                "grant_types": ["authorization_code", "refresh_token"]})),
        )
        .await;
        assert_eq!(s, 201, "{p}: {b}");
        secrets.push(b["data"]["client_secret"].as_str().unwrap().to_owned());
        // The consent page shows the name as text.
        let browser = crate::oauth_code::signed_in(&app).await;
        let url = format!(
            "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=read&state=s&code_challenge={}&code_challenge_method=S256",
            b["data"]["client_id"].as_str().unwrap(),
            urlencode(REDIRECT),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let page = browser.get(app.url(&url)).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("<script>alert(1)</script>"), "escaped on the consent page");
        if p.starts_with("{{") {
            assert!(page.contains("{{7*7}}") && !page.contains(">49<"), "no template runs");
        }
    }
    let (_, list) = call(&app, "GET", "/v1/api-keys?limit=100", &key, None).await;
    let names: Vec<&str> = list["data"].as_array().unwrap().iter().filter_map(|k| k["name"].as_str()).collect();
    for p in payloads.iter().filter(|p| !p.contains('\u{0}')) {
        assert!(names.contains(p), "{p} listed back as text: {names:?}");
    }
    let log = logs.text();
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret reached the log");
    }
}

/// SQL and template injection in every text field (issue 11): each field a
/// person or a credential fills in, through `/v1` and through the pages,
/// keeps the payload as text (stored, listed back, escaped on every page
/// that shows it) or refuses it with a clear 4xx (a field with a format:
/// emails, URLs, ids, cursors); never a 5xx, and nothing is dropped.
#[actix_web::test]
async fn every_text_field_keeps_injections_as_text_or_refuses_them() {
    let app = TestApp::spawn().await;
    let payloads = [
        "'; DROP TABLE api_keys; --",
        "\" OR 1=1 --",
        "{{7*7}} ${7*7} <%= 7*7 %> #{7*7}",
        "<script>alert(1)</script>",
        "Robert'); DELETE FROM users WHERE ('1'='1",
    ];
    let shows_as_text = |page: &str, p: &str, what: &str| {
        assert!(!page.contains("<script>alert(1)</script>"), "{what}: not escaped");
        assert!(!page.contains(">49<") && !page.contains(" 49 "), "{what}: a template ran");
        let escaped = p.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let quoted = escaped.replace('"', "&quot;").replace('\'', "&#x27;");
        let also = escaped.replace('"', "&#34;").replace('\'', "&#39;");
        assert!(
            page.contains(&escaped) || page.contains(&quoted) || page.contains(&also),
            "{what}: {p:?} not shown as text"
        );
    };
    for (i, p) in payloads.into_iter().enumerate() {
        // The organization's name, at sign-up; the owner signs in.
        let (email, browser) = (format!("owner{i}@example.com"), app.new_browser());
        assert_eq!(crate::pages::sign_up(&app, &browser, &email, p).await.status(), 303, "{p}");
        assert_eq!(app.login(&browser, &email, PASSWORD).await.status(), 303, "{p}");
        let dashboard = app.dashboard(&browser).await;
        shows_as_text(&dashboard, p, "the organization's name on the dashboard");
        let user = app.state.accounts.user_by_email(&email).await.unwrap().unwrap().user;
        let at = dashboard.find("/dashboard/orgs/").unwrap_or_else(|| panic!("{p}: no organization link")) + 16;
        let org: String =
            dashboard[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
        let (_, key) = app.secret_key(&org, &user.id, &["read", "write", "delete", "admin"]).await;

        // /v1: names are text; formatted fields refuse it.
        let (s, b) = call(&app, "POST", "/v1/api-keys", &key, Some(json!({"name": p, "scopes": ["read"]}))).await;
        assert_eq!((s, &b["data"]["name"]), (201, &json!(p)), "{b}");
        let id = b["data"]["id"].as_str().unwrap().to_owned();
        let (s, b) = call(&app, "PATCH", &format!("/v1/api-keys/{id}"), &key, Some(json!({"name": p}))).await;
        assert_eq!((s, &b["data"]["name"]), (200, &json!(p)), "{b}");
        let app_body =
            json!({"name": p, "redirect_uris": [REDIRECT], "scopes": ["read"], "grant_types": ["authorization_code"]});
        let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(app_body)).await;
        assert_eq!((s, &b["data"]["name"]), (201, &json!(p)), "{b}");
        let client_id = b["data"]["client_id"].as_str().unwrap().to_owned();
        for (field, value) in [("homepage_url", json!(p)), ("logo_url", json!(p)), ("redirect_uris", json!([p]))] {
            let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{client_id}"), &key, Some(json!({field: value}))).await;
            assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{field} {p}: {b}");
        }
        let (s, b) = call(&app, "POST", "/v1/invitations", &key, Some(json!({"email": p, "role": "VIEWER"}))).await;
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
        let (s, b) = call(&app, "PATCH", "/v1/members/x", &key, Some(json!({"role": p}))).await;
        assert!(s == 400 || s == 404, "role {p}: {s} {b}");
        let encoded = urlencode(p);
        for path in [
            format!("/v1/api-keys/{encoded}"),
            format!("/v1/apps/{encoded}"),
            format!("/v1/api-keys?starting_after={encoded}"),
            format!("/v1/audit-events?action={encoded}"),
        ] {
            let (s, b) = call(&app, "GET", &path, &key, None).await;
            assert!(matches!(s, 200 | 400 | 404), "{path}: {s} {b}");
        }
        let (s, b) = call(&app, "POST", "/v1/auth/login", "", Some(json!({"email": p, "password": p}))).await;
        assert_eq!((s, b["error"]["code"].as_str()), (401, Some("INVALID_CREDENTIALS")), "{b}");

        // The pages that show these names show them as text.
        for (path, what) in [("keys", "key names"), ("apps", "app names"), ("audit", "the audit log")] {
            let res = browser.get(app.url(&format!("/dashboard/orgs/{org}/{path}"))).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            shows_as_text(&res.text().await.unwrap(), p, what);
        }
        // The sign-in page takes it as an unknown address.
        let res = app.login(&app.new_browser(), p, p).await;
        assert_eq!(res.status(), 400, "{p}");
    }
    // Nothing was dropped or deleted: every owner still signs in, every key is listed.
    for i in 0..payloads.len() {
        assert_eq!(app.login(&app.new_browser(), &format!("owner{i}@example.com"), PASSWORD).await.status(), 303);
    }
}
