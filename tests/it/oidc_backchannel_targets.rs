//! Where back-channel logout tokens may go: a production (https) server
//! registers and posts to public hosts only (no SSRF to loopback, private,
//! link-local or metadata addresses, whether named by an IP literal or by a
//! name that resolves to one); URIs are kept in their normal form; and the
//! `display` values discovery advertises are the ones authorize accepts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use portcullis::oauth::backchannel::{BackChannel, DeliveryPolicy};
use serde_json::{Value, json};

use crate::api_apps::owner_key;
use crate::oauth_support::Registered;
use crate::oidc_logout::oidc_app;
use crate::support::{TestApp, call};

const HTTPS_ISSUER: &str = "https://auth.example.com";

async fn https_server() -> TestApp {
    TestApp::spawn_with(|c| {
        c.issuer = HTTPS_ISSUER.into();
        c.master_key = Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into());
    })
    .await
}

fn not_public(uri: &str) -> String {
    format!(r#"backchannel_logout_uri "{uri}" must name a public host, not a loopback, private or link-local address"#)
}

/// A host an attacker would aim a production server at, of each kind.
const INTERNAL: [&str; 20] = [
    "https://127.0.0.1/bc",
    "https://127.8.9.10:8443/bc",
    "https://10.0.0.5/bc",
    "https://172.16.3.4/bc",
    "https://192.168.1.1/bc",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/bc",
    "https://0.0.0.0/bc",
    "https://[::1]/bc",
    "https://[::]/bc",
    "https://[fc00::1]/bc",
    "https://[fd12:3456::1]/bc",
    "https://[fe80::1]/bc",
    "https://[::ffff:127.0.0.1]/bc",
    "https://[::ffff:a9fe:a9fe]/bc",
    "https://localhost/bc",
    "https://rp.localhost/bc",
    "https://LOCALHOST./bc",
    "https://0x7f.1/bc",
    "http://127.0.0.1:9000/bc",
];

#[actix_web::test]
async fn an_https_server_refuses_back_channel_uris_for_internal_hosts_with_exact_errors() {
    let app = https_server().await;
    let (_, key) = owner_key(&app).await;
    for uri in INTERNAL {
        let (s, b) =
            call(&app, "POST", "/v1/apps", &key, Some(oidc_app(json!({ "backchannel_logout_uri": uri })))).await;
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{uri}: {b}");
        assert_eq!(b["error"]["message"], not_public(uri), "{uri}");
    }
    // A public host is fine; a change to an internal one is refused too.
    let good = json!({ "backchannel_logout_uri": "https://rp.example/bc" });
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(good))).await;
    assert_eq!(s, 201, "{b}");
    let id = b["data"]["client_id"].as_str().unwrap();
    let metadata = json!({ "backchannel_logout_uri": "https://169.254.169.254/" });
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &key, Some(metadata)).await;
    assert_eq!((s, b["error"]["message"].as_str()), (400, Some(not_public("https://169.254.169.254/").as_str())));
    let (_, got) = call(&app, "GET", &format!("/v1/apps/{id}"), &key, None).await;
    assert_eq!(got["data"]["backchannel_logout_uri"], "https://rp.example/bc");
}

#[actix_web::test]
async fn a_development_server_accepts_back_channel_uris_on_its_own_network() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    for uri in ["https://10.0.0.5/bc", "https://localhost:9443/bc", "http://127.0.0.1:9000/bc"] {
        let (s, b) =
            call(&app, "POST", "/v1/apps", &key, Some(oidc_app(json!({ "backchannel_logout_uri": uri })))).await;
        assert_eq!(s, 201, "{uri}: {b}");
    }
}

#[test]
fn the_cli_refuses_internal_back_channel_uris_only_under_an_https_issuer() {
    let dir = crate::cli::Workspace::new();
    dir.create_user("ops@example.com", "Acme");
    let create = |issuer: &str| {
        let out = dir
            .portcullis()
            .env("PORTCULLIS_ISSUER", issuer)
            .args(["client", "create", "--org", "Acme", "--name", "RP", "--grant", "authorization_code"])
            .args(["--redirect-uri", "https://rp.example/cb"])
            .args(["--backchannel-logout-uri", "https://169.254.169.254/bc"])
            .output()
            .unwrap();
        (out.status.code(), crate::cli::text(&out))
    };
    let (code, printed) = create(HTTPS_ISSUER);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains(&not_public("https://169.254.169.254/bc")), "{printed}");
    let (code, printed) = create("http://127.0.0.1:8080");
    assert_eq!(code, Some(0), "{printed}");
}

#[actix_web::test]
async fn back_channel_uris_are_stored_in_their_normal_form() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    let given = json!({ "backchannel_logout_uri": " HTTPS://RP.Example:443/a/../bc?x=1 " });
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(given))).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["backchannel_logout_uri"], "https://rp.example/bc?x=1");
    let id = b["data"]["client_id"].as_str().unwrap();
    let client = app.state.oauth.clients.get(id).await.unwrap().unwrap();
    assert_eq!(client.backchannel_logout_uri.as_deref(), Some("https://rp.example/bc?x=1"));
}

#[actix_web::test]
async fn post_logout_redirect_uris_not_in_their_normal_form_are_refused_naming_it() {
    let app = TestApp::spawn().await;
    let (_, key) = owner_key(&app).await;
    for (given, normal) in [
        ("https://RP.example/bye", "https://rp.example/bye"),
        ("https://rp.example", "https://rp.example/"),
        ("https://rp.example:443/bye", "https://rp.example/bye"),
        ("https://rp.example/a b", "https://rp.example/a%20b"),
    ] {
        let extra = json!({ "post_logout_redirect_uris": [given] });
        let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(extra))).await;
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{given}: {b}");
        let message = format!(r#"post_logout_redirect_uri "{given}" is not in its normal form: register "{normal}""#);
        assert_eq!(b["error"]["message"], message);
    }
    // The normal form is stored as given, for the exact match at logout.
    let extra = json!({ "post_logout_redirect_uris": ["https://rp.example/bye?x=1"] });
    let (s, b) = call(&app, "POST", "/v1/apps", &key, Some(oidc_app(extra))).await;
    assert_eq!((s, &b["data"]["post_logout_redirect_uris"]), (201, &json!(["https://rp.example/bye?x=1"])), "{b}");
}

// ---- Delivery ----

/// A TCP port on 127.0.0.1 that counts the connections made to it (and
/// drops them: no TLS, so a delivery that gets through still fails).
struct Port {
    port: u16,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Port {
    async fn open() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self { port, connections, task }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An app registered on the development server (which allows it) with
/// `uri` as its back-channel logout URI.
async fn registered_with(app: &TestApp, uri: &str) -> Registered {
    let (user, org) = app.user().create().await;
    let mut builder = app.client_in(&org.id, &user.id);
    builder.new_mut().oidc.backchannel_logout_uri = Some(uri.to_owned());
    builder.create().await
}

/// A sender for the app's keys and database, as a server with `issuer` builds it.
fn sender(app: &TestApp, issuer: &str) -> BackChannel {
    let oauth = &app.state.oauth;
    let (store, clock, keys, pairwise, sid) =
        (app.state.store.clone(), app.clock.clone(), oauth.keys.clone(), oauth.pairwise.clone(), oauth.sid.clone());
    let once = DeliveryPolicy { attempts: 1, ..DeliveryPolicy::default() };
    BackChannel::new(store, clock, keys, pairwise, sid, issuer.to_owned(), once).unwrap()
}

#[actix_web::test]
async fn an_https_server_does_not_connect_to_a_name_that_resolves_to_loopback() {
    let logs = crate::support::captured_logs();
    let app = TestApp::spawn().await;
    let port = Port::open().await;
    let reg = registered_with(&app, &format!("https://localhost:{}/backchannel", port.port)).await;
    let client_id = reg.client.client_id.as_str();

    assert!(!sender(&app, HTTPS_ISSUER).deliver(client_id, "user-1", "session-1").await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(port.connections(), 0, "refused before connecting");
    let text = logs.text();
    let refusal = text
        .lines()
        .find(|l| l.contains(client_id) && l.contains("host=localhost") && l.contains("not a public address"))
        .unwrap_or_else(|| panic!("a warning with the client_id and host: {text}"));
    assert!(refusal.contains("WARN"), "{refusal}");
    assert!(refusal.contains("address=127.0.0.1") || refusal.contains("address=::1"), "{refusal}");
    let tries = text.lines().filter(|l| l.contains(client_id) && l.contains("back-channel")).count();
    assert_eq!(tries, 1, "refused once, not tried again: {text}");

    // The development server does connect (so the port did listen).
    assert!(!sender(&app, &app.base).deliver(client_id, "user-1", "session-1").await);
    assert_eq!(port.connections(), 1);
}

#[actix_web::test]
async fn an_https_server_does_not_connect_to_internal_ip_literals_it_finds_registered() {
    let logs = crate::support::captured_logs();
    let app = TestApp::spawn().await;
    let port = Port::open().await;
    for host in ["127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"] {
        let reg = registered_with(&app, &format!("https://{host}:{}/backchannel", port.port)).await;
        let client_id = reg.client.client_id.as_str();
        assert!(!sender(&app, HTTPS_ISSUER).deliver(client_id, "user-1", "session-1").await, "{host}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(port.connections(), 0, "{host}");
        let text = logs.text();
        assert!(text.lines().any(|l| l.contains(client_id) && l.contains("not a public address")), "{host}: {text}");
    }
    // Stored normalized, a disguised literal is the literal it means.
    let reg = registered_with(&app, &format!("https://0x7f.0.0.1:{}/bc", port.port)).await;
    assert_eq!(reg.client.backchannel_logout_uri, Some(format!("https://127.0.0.1:{}/bc", port.port)));
}

// ---- display ----

#[actix_web::test]
async fn every_display_value_is_advertised_and_any_display_is_answered() {
    use crate::oauth_support::query;
    use crate::oidc_support::{Rig, auth_request};

    let rig = Rig::start().await;
    let discovery: Value =
        reqwest::get(rig.app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["display_values_supported"], json!(["page", "popup", "touch", "wap"]));
    // The same page for each; an unknown value is a hint ignored, not an error.
    for display in ["page", "popup", "touch", "wap", "smartwatch", ""] {
        let req = auth_request(&rig.rp, &[], &[("display", display)]);
        let back = rig.app.authorize(&rig.browser, req.url.as_str(), "approve").await;
        assert!(query(&back, "code").is_some(), "{display:?}: {back}");
    }
}

// ---- How long a revoked user's tokens are denied ----

#[actix_web::test]
async fn a_password_change_denies_the_users_tokens_for_as_long_as_a_retired_key_verifies() {
    use diesel::prelude::*;
    use portcullis::clock::Clock;
    use portcullis::store::schema::revoked_access_tokens;

    use crate::oidc_support::Rig;
    use crate::support::{PASSWORD, form_token, location};

    // ID tokens outlive every access token here: the retention counts them.
    let rig = Rig::start_with(|c| c.oidc.id_token_ttl_secs = 20_000).await;
    rig.sign_in(&["offline_access"], &[]).await;
    let csrf = form_token(&rig.browser, &rig.app.url("/account/password")).await;
    let form =
        [("csrf_token", csrf.as_str()), ("current_password", PASSWORD), ("new_password", "another long passphrase 9")];
    let res = rig.browser.post(rig.app.url("/account/password")).form(&form).send().await.unwrap();
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/account/password?done=1".to_owned()));

    let denied: Vec<chrono::NaiveDateTime> = rig
        .app
        .state
        .store
        .run(|c| Ok(revoked_access_tokens::table.select(revoked_access_tokens::expires_at).load(c)?))
        .await
        .unwrap();
    let now = rig.app.clock.now().naive_utc();
    let retention = rig.app.state.oauth.keys.retired_retention();
    assert!(retention > chrono::Duration::seconds(20_000), "{retention}");
    assert_eq!(denied.iter().map(|until| *until - now).collect::<Vec<_>>(), [retention]);
}
