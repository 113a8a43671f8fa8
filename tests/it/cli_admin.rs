//! The administrative commands run as the real binary on a running app's
//! database (SQLite or PostgreSQL, as the suite runs): each command's
//! effect is checked through the app's HTTP API, with its audit event
//! (actor `cli`) and its `--json` list.

use std::process::Output;
use std::time::{Duration, Instant};

use chrono::Utc;
use portcullis::accounts::Role;
use portcullis::audit::AuditEvent;
use portcullis::clock::Clock;
use serde_json::{Value, json};

use super::{portcullis, run_with_stdin, text};
use crate::email::{Received, SmtpSink};
use crate::oidc_logout::{Listener, the_token};
use crate::oidc_support::{OIDC_SCOPES, payload, relying_party, sign_in_with};
use crate::support::{PASSWORD, TestApp, audit_events_eventually, call, csrf_token, location};

/// An app whose caches hear of other processes' changes quickly, on the
/// system clock's time (the commands run on the system clock).
async fn app() -> TestApp {
    let app = TestApp::spawn_with(|c| {
        c.change_poll_interval_ms = 50;
        // The tests poll until a change shows: no rate limit in their way.
        (c.api.rate_limit_per_minute, c.api.rate_limit_burst) = (100_000, 10_000);
        c.api.max_rate_limit_per_minute = 100_000;
    })
    .await;
    keep_up(&app);
    app
}

/// Runs `portcullis ARGS` on the app's database and issuer, off the
/// runtime that serves the app.
async fn cli(app: &TestApp, args: &[&str]) -> Output {
    cli_with(app, &[], args).await
}

/// `cli` with more environment variables (`PORTCULLIS_SMTP_URL`…).
async fn cli_with(app: &TestApp, env: &[(&str, &str)], args: &[&str]) -> Output {
    let config = &app.state.config;
    let mut cmd = portcullis(&config.data_dir);
    cmd.envs(env.iter().copied());
    // The app's data directory: its development master key is there.
    cmd.env("PORTCULLIS_DATA_DIR", &config.data_dir);
    cmd.env("PORTCULLIS_DATABASE_URL", &config.database_url).env("PORTCULLIS_ISSUER", config.issuer()).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    keep_up(app);
    out
}

/// Moves the app's clock up to the system clock the commands ran on: a
/// token the app issues after a command's revocation is newer than it.
fn keep_up(app: &TestApp) {
    let behind = Utc::now() - app.clock.now();
    if behind > chrono::Duration::zero() {
        app.clock.advance(behind);
    }
}

/// What a command that succeeded printed on stdout.
fn printed(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command refused with `message`, exit code 1, and no panic.
fn refused(out: &Output, message: &str) {
    let t = text(out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains(message), "expected {message:?} in: {t}");
    assert!(!t.contains("panicked"), "{t}");
}

/// The `--json` output: one array.
fn json_list(out: &Output) -> Vec<Value> {
    let stdout = printed(out);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The organization's events with `action` written by the command line.
async fn cli_events(app: &TestApp, organization_id: &str, action: &str) -> Vec<AuditEvent> {
    let events = audit_events_eventually(app, organization_id, action).await;
    let events: Vec<AuditEvent> = events.into_iter().filter(|e| e.actor == "cli").collect();
    assert!(!events.is_empty(), "no {action} event with actor cli in {organization_id}");
    events
}

/// The status of a /v1 request once it is `want` (caches hear of another
/// process's change within a poll), failing after 10 s.
async fn eventually(app: &TestApp, path: &str, credential: &str, want: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = call(app, "GET", path, credential, None).await;
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} still answers {status}, not {want}: {body}");
        // Refused credentials count against the client's address.
        let pause = if status == 429 { 500 } else { 50 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// POST /v1/auth/login: status and body.
async fn v1_login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn v1_token(app: &TestApp, email: &str) -> String {
    let (status, body) = v1_login(app, email, PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["access_token"].as_str().unwrap().to_owned()
}

/// A browser signed in through the login page.
async fn signed_in_browser(app: &TestApp, email: &str) -> reqwest::Client {
    let browser = app.new_browser();
    let res = app.login(&browser, email, PASSWORD).await;
    assert_eq!(res.status(), 303, "sign-in of {email}");
    assert_eq!(dashboard_status(app, &browser).await, 200);
    browser
}

async fn dashboard_status(app: &TestApp, browser: &reqwest::Client) -> u16 {
    browser.get(app.url("/dashboard")).send().await.unwrap().status().as_u16()
}

/// The login page's answer to a sign-in: status and the error it shows.
async fn page_sign_in(app: &TestApp, email: &str, password: &str) -> (u16, String) {
    let res = app.login(&app.new_browser(), email, password).await;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    let error = body.split("role=\"alert\">").nth(1).and_then(|r| r.split('<').next()).unwrap_or("").to_owned();
    (status, error)
}

#[actix_web::test]
async fn a_disabled_user_signs_in_nowhere_and_every_credential_of_theirs_stops() {
    let app = app().await;
    let (alice, org) = app.user().create().await;
    let browser = signed_in_browser(&app, &alice.email).await;
    let dashboard = v1_token(&app, &alice.email).await;
    let (_, key) = app.secret_key(&org.id, &alice.id, &["read"]).await;
    eventually(&app, "/v1/auth/validate", &key, 200).await;
    // Her management app, acting for her.
    let body = json!({ "name": "ops", "grant_types": ["client_credentials"], "scopes": ["read"], "management": true });
    let (status, made) = call(&app, "POST", "/v1/apps", &dashboard, Some(body)).await;
    assert_eq!(status, 201, "{made}");
    let (app_id, app_secret) =
        (made["data"]["client_id"].as_str().unwrap(), made["data"]["client_secret"].as_str().unwrap());
    let res = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(app_id, Some(app_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    let machine = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    eventually(&app, "/v1/auth/validate", &machine, 200).await;

    // An invitation she sent, not yet accepted.
    let (invitee, _) = app.user().create().await;
    let accounts = &app.state.accounts;
    let (_, invitation) = accounts
        .invite(&org.id, &invitee.email, Role::Viewer, Some(alice.id.clone()), Some(Role::Owner))
        .await
        .unwrap();

    let out = cli(&app, &["user", "disable", &alice.email.to_uppercase()]).await;
    assert!(printed(&out).contains(&format!("disabled user {}", alice.email)), "{}", text(&out));

    // Every session and token ends at once; the key and the app act for nobody.
    assert_eq!(dashboard_status(&app, &browser).await, 303, "the browser session ended");
    eventually(&app, "/v1/auth/me", &dashboard, 401).await;
    eventually(&app, "/v1/auth/validate", &key, 401).await;
    eventually(&app, "/v1/auth/validate", &machine, 401).await;
    // Sign-in is refused as a wrong password is, on the page and on /v1.
    let wrong = page_sign_in(&app, &alice.email, "not the password at all").await;
    assert_eq!(page_sign_in(&app, &alice.email, PASSWORD).await, wrong);
    assert_eq!(wrong, (400, "Invalid email or password.".to_owned()));
    let (status, body) = v1_login(&app, &alice.email, PASSWORD).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("INVALID_CREDENTIALS")), "{body}");
    // Her invitation carried her power: it has none now.
    let refused_invitation = accounts.accept_invitation(&invitation, &invitee, "127.0.0.1").await.unwrap_err();
    assert!(refused_invitation.to_string().contains("can no longer invite"), "{refused_invitation}");
    let event = &cli_events(&app, &org.id, "user.disabled").await[0];
    assert_eq!(event.target.as_deref(), Some(alice.id.as_str()));
    let listed = json_list(&cli(&app, &["user", "list", "--json"]).await);
    let row = listed.iter().find(|u| u["email"] == alice.email.as_str()).unwrap();
    assert_eq!((row["status"].as_str(), row["disabled_at"].is_string()), (Some("disabled"), true), "{row}");

    // Enabled: she signs in again; what ended stays ended.
    let out = cli(&app, &["user", "enable", &alice.email]).await;
    assert!(printed(&out).contains("enabled user"), "{}", text(&out));
    cli_events(&app, &org.id, "user.enabled").await;
    assert_eq!(dashboard_status(&app, &browser).await, 303, "the ended session stays ended");
    eventually(&app, "/v1/auth/me", &dashboard, 401).await;
    let fresh = v1_token(&app, &alice.email).await;
    eventually(&app, "/v1/auth/me", &fresh, 200).await;
    signed_in_browser(&app, &alice.email).await;
    // Her key was suspended, not revoked: it works again.
    eventually(&app, "/v1/auth/validate", &key, 200).await;
    // Her management app's token from before stays dead (attacker round 11,
    // finding 7): the disable ended what her apps held.
    eventually(&app, "/v1/auth/validate", &machine, 401).await;

    refused(
        &cli(&app, &["user", "disable", "nobody@example.com"]).await,
        "no user has the email \"nobody@example.com\"",
    );
    refused(&cli(&app, &["user", "enable", "nobody@example.com"]).await, "no user has the email");
}

#[actix_web::test]
async fn sessions_revoke_signs_a_user_out_everywhere() {
    let app = app().await;
    let (bob, org) = app.user().create().await;
    let browser = signed_in_browser(&app, &bob.email).await;
    let token = v1_token(&app, &bob.email).await;
    eventually(&app, "/v1/auth/me", &token, 200).await;
    // An app that got an ID token in his browser session, and listens on
    // its back channel.
    let listener = Listener::start(&[]).await;
    let mut builder = app.client_in(&org.id, &bob.id);
    builder.new_mut().oidc.backchannel_logout_uri = Some(listener.url.clone());
    let reg = builder.scopes(&OIDC_SCOPES).create().await;
    sign_in_with(&app, &browser, &relying_party(&app, &reg).await, &[], &[]).await;

    let out = cli(&app, &["sessions", "revoke", "--user", &bob.email]).await;
    assert!(printed(&out).contains("ended 1 session(s) and every token"), "{}", text(&out));
    assert!(text(&out).contains("back-channel logout: 1 app(s) told, 0 failed"), "{}", text(&out));
    assert_eq!(dashboard_status(&app, &browser).await, 303);
    // The app heard of it, as from the server: a logout token about Bob.
    let received = listener.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let logout_token = the_token(&received[0]);
    let header = jsonwebtoken::decode_header(logout_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let claims = payload(logout_token);
    assert_eq!(
        (claims["sub"].as_str(), claims["aud"].as_str()),
        (Some(bob.id.as_str()), Some(reg.client.client_id.as_str()))
    );
    assert!(claims["sid"].is_string() && claims.get("nonce").is_none(), "{claims}");
    listener.stop().await;
    eventually(&app, "/v1/auth/me", &token, 401).await;
    cli_events(&app, &org.id, "user.sessions_revoked").await;
    // Not disabled: signing in again works.
    signed_in_browser(&app, &bob.email).await;
    refused(&cli(&app, &["sessions", "revoke", "--user", "ghost@example.com"]).await, "no user has the email");
}

/// Attacker round 11, finding 14: an app without a back channel is nobody
/// to tell, not a failure; a failure says which app and why, in the
/// command's own output (its log is not shown).
#[actix_web::test]
async fn sessions_revoke_counts_only_apps_with_a_back_channel_and_says_what_failed() {
    let app = app().await;
    let (carol, org) = app.user().create().await;
    let browser = signed_in_browser(&app, &carol.email).await;
    let (listening, refusing) = (Listener::start(&[]).await, Listener::start(&[500, 500, 500]).await);
    let mut failing_id = String::new();
    for uri in [Some(listening.url.clone()), Some(refusing.url.clone()), None] {
        let mut builder = app.client_in(&org.id, &carol.id);
        builder.new_mut().oidc.backchannel_logout_uri = uri.clone();
        let reg = builder.scopes(&OIDC_SCOPES).create().await;
        if uri.as_deref() == Some(refusing.url.as_str()) {
            failing_id = reg.client.client_id.clone();
        }
        sign_in_with(&app, &browser, &relying_party(&app, &reg).await, &[], &[]).await;
    }

    let out = cli(&app, &["sessions", "revoke", "--user", &carol.email]).await;
    let said = text(&out);
    assert!(said.contains("back-channel logout: 1 app(s) told, 1 failed\n"), "{said}");
    assert!(
        said.contains(&format!("  {failing_id}: answered 500 (3 attempts, {})", refusing.url)),
        "the failure names the app and why: {said}"
    );
    assert!(!said.contains("see the log"), "{said}");
    assert_eq!((listening.wait_for(1).await.len(), refusing.wait_for(3).await.len()), (1, 3));
    listening.stop().await;
    refusing.stop().await;

    // Signed in to the app without a back channel only: nothing to report.
    let browser = signed_in_browser(&app, &carol.email).await;
    let mut builder = app.client_in(&org.id, &carol.id);
    builder.new_mut().oidc.backchannel_logout_uri = None;
    let reg = builder.scopes(&OIDC_SCOPES).create().await;
    sign_in_with(&app, &browser, &relying_party(&app, &reg).await, &[], &[]).await;
    let out = cli(&app, &["sessions", "revoke", "--user", &carol.email]).await;
    assert!(printed(&out).contains("ended 1 session(s)"), "{}", text(&out));
    assert!(!text(&out).contains("back-channel"), "{}", text(&out));
}

#[actix_web::test]
async fn organizations_and_members_are_managed_with_the_owner_rules_of_v1() {
    let app = app().await;
    let (owner, _) = app.user().create().await;
    let (second, _) = app.user().create().await;

    let out = cli(&app, &["org", "create", "Beta Corp"]).await;
    assert!(printed(&out).starts_with("created organization Beta Corp ("), "{}", text(&out));
    let orgs = json_list(&cli(&app, &["org", "list", "--json"]).await);
    let beta = orgs.iter().find(|o| o["name"] == "Beta Corp").expect("listed");
    let beta_id = beta["id"].as_str().unwrap().to_owned();
    assert_eq!(beta["members"], 0);
    cli_events(&app, &beta_id, "organization.created").await;

    let out = cli(&app, &["org", "rename", "Beta Corp", "Gamma"]).await;
    assert!(printed(&out).contains("from \"Beta Corp\" to \"Gamma\""), "{}", text(&out));
    let renamed = &cli_events(&app, &beta_id, "organization.renamed").await[0];
    assert_eq!(renamed.details, json!({ "from": "Beta Corp", "to": "Gamma" }));
    refused(&cli(&app, &["org", "rename", "Nowhere", "X"]).await, "no organization has the id or name \"Nowhere\"");
    refused(&cli(&app, &["org", "rename", &beta_id, ""]).await, "Organization name is required.");

    printed(&cli(&app, &["member", "add", "Gamma", &owner.email, "--role", "OWNER"]).await);
    printed(&cli(&app, &["member", "add", &beta_id, &second.email, "--role", "viewer"]).await);
    cli_events(&app, &beta_id, "member.added").await;
    refused(&cli(&app, &["member", "add", "Gamma", &second.email, "--role", "ADMIN"]).await, "a member already");
    refused(&cli(&app, &["member", "add", "Gamma", "ghost@example.com", "--role", "ADMIN"]).await, "no user has");
    refused(&cli(&app, &["member", "add", "Nowhere", &second.email, "--role", "ADMIN"]).await, "no organization");

    // Seen through /v1 with the owner's key.
    let (_, key) = app.secret_key(&beta_id, &owner.id, &["read", "admin"]).await;
    let roles = |body: &Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["email"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
            .collect();
        v.sort();
        v
    };
    let mut want = vec![(owner.email.clone(), "OWNER".to_owned()), (second.email.clone(), "VIEWER".to_owned())];
    want.sort();
    assert_eq!(roles(&eventually(&app, "/v1/members", &key, 200).await), want);

    // The last OWNER is neither demoted nor removed.
    refused(
        &cli(&app, &["member", "set-role", "Gamma", &owner.email, "ADMIN"]).await,
        "The last OWNER cannot be demoted",
    );
    refused(&cli(&app, &["member", "remove", "Gamma", &owner.email]).await, "The last OWNER cannot be removed.");

    let out = cli(&app, &["member", "set-role", "Gamma", &second.email, "ADMIN"]).await;
    assert!(printed(&out).contains("is ADMIN of organization"), "{}", text(&out));
    let changed = &cli_events(&app, &beta_id, "member.role_changed").await[0];
    assert_eq!(changed.details, json!({ "from": "VIEWER", "to": "ADMIN" }));
    let members = json_list(&cli(&app, &["user", "list", "--org", "Gamma", "--json"]).await);
    let mut listed: Vec<(String, String)> = members
        .iter()
        .map(|m| (m["email"].as_str().unwrap().to_owned(), m["role"].as_str().unwrap().to_owned()))
        .collect();
    listed.sort();
    let mut want = vec![(owner.email.clone(), "OWNER".to_owned()), (second.email.clone(), "ADMIN".to_owned())];
    want.sort();
    assert_eq!(listed, want);

    printed(&cli(&app, &["member", "remove", "Gamma", &second.email]).await);
    cli_events(&app, &beta_id, "member.removed").await;
    let body = eventually(&app, "/v1/members", &key, 200).await;
    assert_eq!(roles(&body), vec![(owner.email.clone(), "OWNER".to_owned())]);
    refused(&cli(&app, &["member", "remove", "Gamma", &second.email]).await, "is no member of organization");

    // A person's table and everyone's list.
    let table = printed(&cli(&app, &["user", "list"]).await);
    assert!(table.starts_with("ID ") && table.contains(&owner.email), "{table}");
    assert!(json_list(&cli(&app, &["user", "list", "--json"]).await).len() >= 2);
}

#[actix_web::test]
async fn keys_are_listed_without_secrets_and_revoked_by_id_or_unambiguous_prefix() {
    let app = app().await;
    let (carol, org) = app.user().role(Role::Owner).create().await;
    let (first_id, first) = app.secret_key(&org.id, &carol.id, &["read"]).await;
    let (second_id, second) = app.secret_key(&org.id, &carol.id, &["read", "write"]).await;

    let out = cli(&app, &["key", "list", "--org", &org.id, "--json"]).await;
    assert!(!text(&out).contains(&first) && !text(&out).contains(&second), "never the secret");
    let keys = json_list(&out);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let row = keys.iter().find(|k| k["id"] == first_id.as_str()).unwrap();
    assert_eq!(row["prefix"], "sk_live_");
    assert_eq!(row["last_four"].as_str(), Some(&first[first.len() - 4..]));
    assert_eq!((row["environment"].as_str(), row["status"].as_str()), (Some("live"), Some("active")));
    assert_eq!(
        (row["creator_email"].as_str(), row["organization_id"].as_str()),
        (Some(carol.email.as_str()), Some(org.id.as_str()))
    );
    assert_eq!(row["scopes"], json!(["read"]));
    for field in ["last_used_at", "expires_at", "name", "created_by"] {
        assert!(row.get(field).is_some(), "{field} in {row}");
    }
    let table = printed(&cli(&app, &["key", "list"]).await);
    assert!(table.contains(&first_id) && !table.contains(&first), "{table}");

    // "key_" starts both ids: refused, naming both.
    let out = cli(&app, &["key", "revoke", "key_"]).await;
    refused(&out, "2 API keys match \"key_\"");
    assert!(text(&out).contains(&first_id) && text(&out).contains(&second_id), "{}", text(&out));
    eventually(&app, "/v1/auth/validate", &first, 200).await;

    let out = cli(&app, &["key", "revoke", &first_id]).await;
    assert!(printed(&out).starts_with(&format!("{first_id}\trevoked")), "{}", text(&out));
    let body = eventually(&app, "/v1/auth/validate", &first, 401).await;
    assert_eq!(body["error"]["code"], "REVOKED_API_KEY", "{body}");
    eventually(&app, "/v1/auth/validate", &second, 200).await;
    let event = &cli_events(&app, &org.id, "api_key.revoked").await[0];
    assert_eq!(event.target.as_deref(), Some(first_id.as_str()));
    let keys = json_list(&cli(&app, &["key", "list", "--json"]).await);
    assert_eq!(keys.iter().find(|k| k["id"] == first_id.as_str()).unwrap()["status"], "revoked");

    // By its masked form, as lists show it.
    let masked = format!("sk_live_…{}", &second[second.len() - 4..]);
    printed(&cli(&app, &["key", "revoke", &masked]).await);
    eventually(&app, "/v1/auth/validate", &second, 401).await;
    refused(&cli(&app, &["key", "revoke", "key_nope"]).await, "no API key has the id or prefix \"key_nope\"");
}

#[actix_web::test]
async fn clients_are_shown_updated_as_v1_validates_and_deleted_with_their_tokens() {
    let app = app().await;
    let (_, org) = app.user().create().await;
    let out =
        cli(&app, &["client", "create", "--org", &org.id, "--name", "Sync", "--grant", "client_credentials"]).await;
    let created = printed(&out);
    let value = |label: &str| created.lines().find_map(|l| l.strip_prefix(label)).unwrap().trim().to_owned();
    let (client_id, secret) = (value("client_id:"), value("client_secret:"));
    cli_events(&app, &org.id, "app.created").await;
    client_credentials_become(&app, &client_id, &secret, 200).await;

    let shown: Value =
        serde_json::from_str(&printed(&cli(&app, &["client", "show", &client_id, "--json"]).await)).unwrap();
    assert_eq!((shown["name"].as_str(), shown["organization_id"].as_str()), (Some("Sync"), Some(org.id.as_str())));
    assert!(!shown.to_string().contains(&secret));
    assert!(printed(&cli(&app, &["client", "show", &client_id]).await).contains("name: Sync"));

    // PATCH's validation: unknown scopes, a code flow without redirect URI.
    refused(&cli(&app, &["client", "update", &client_id, "--scope", "payroll"]).await, "payroll");
    refused(
        &cli(&app, &["client", "update", &client_id, "--grant", "authorization_code"]).await,
        "authorization_code needs at least one redirect URI",
    );
    let out = cli(&app, &["client", "update", &client_id, "--name", "Nightly Sync", "--scope", "read"]).await;
    assert!(printed(&out).contains("name: Nightly Sync"), "{}", text(&out));
    let event = &cli_events(&app, &org.id, "app.updated").await[0];
    assert_eq!(event.details["name"], "Nightly Sync");
    let listed = json_list(&cli(&app, &["client", "list", "--json"]).await);
    let row = listed.iter().find(|c| c["client_id"] == client_id.as_str()).unwrap();
    assert_eq!((row["name"].as_str(), row["scopes"].clone()), (Some("Nightly Sync"), json!(["read"])));

    let out = cli(&app, &["client", "rotate-secret", &client_id]).await;
    let rotated = printed(&out).lines().find_map(|l| l.strip_prefix("client_secret:")).unwrap().trim().to_owned();
    cli_events(&app, &org.id, "app.secret_rotated").await;
    client_credentials_become(&app, &client_id, &secret, 401).await;
    client_credentials_become(&app, &client_id, &rotated, 200).await;

    printed(&cli(&app, &["client", "delete", &client_id]).await);
    cli_events(&app, &org.id, "app.deleted").await;
    client_credentials_become(&app, &client_id, &rotated, 401).await;
    for args in [["client", "show", client_id.as_str()], ["client", "delete", client_id.as_str()]] {
        refused(&cli(&app, &args).await, &format!("no client has the id {client_id:?}"));
    }
}

/// The token endpoint's status for a client-credentials grant once it is
/// `want` (the app's cache hears of the change within a poll), failing
/// after 10 s.
async fn client_credentials_become(app: &TestApp, client_id: &str, secret: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = reqwest::Client::new()
            .post(app.url("/oauth/token"))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        if status == want {
            return;
        }
        assert!(Instant::now() < deadline, "the token endpoint still answers {status}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A reset link's form: GET it in `browser`, then POST a new password.
async fn reset_with(app: &TestApp, browser: &reqwest::Client, link: &str, password: &str) -> (u16, String) {
    let page = browser.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200, "the link's form");
    let csrf = csrf_token(&page.text().await.unwrap());
    let token = link.split("token=").nth(1).unwrap();
    let res = browser
        .post(app.url("/reset-password"))
        .form(&[("csrf_token", csrf.as_str()), ("token", token), ("new_password", password)])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[actix_web::test]
async fn a_reset_link_works_once_within_30_minutes_and_signs_the_user_out() {
    let app = app().await;
    let (dave, org) = app.user().create().await;
    let signed_in = signed_in_browser(&app, &dave.email).await;
    let token = v1_token(&app, &dave.email).await;

    let out = cli(&app, &["user", "reset-password", "--print-link", &dave.email]).await;
    let link = printed(&out).trim().to_owned();
    assert!(link.starts_with(&format!("{}/reset-password?token=", app.base)), "{link}");
    assert_eq!(link.lines().count(), 1);
    let created = &cli_events(&app, &org.id, "user.password_reset_link_created").await[0];
    assert!(!created.details.to_string().contains(link.split("token=").nth(1).unwrap()), "no token in the log");

    let browser = app.new_browser();
    // The rules of sign-up; the link stays usable.
    let (status, body) = reset_with(&app, &browser, &link, "short").await;
    assert_eq!(status, 400);
    assert!(body.contains("at least 10 characters"), "{body}");
    let new_password = "a brand new passphrase";
    let (status, body) = reset_with(&app, &browser, &link, new_password).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("id=\"reset-done\""), "{body}");

    // Every session and token ended; the new password is the password.
    assert_eq!(dashboard_status(&app, &signed_in).await, 303);
    eventually(&app, "/v1/auth/me", &token, 401).await;
    assert_eq!(page_sign_in(&app, &dave.email, PASSWORD).await.0, 400);
    let res = app.login(&app.new_browser(), &dave.email, new_password).await;
    assert_eq!((res.status().as_u16(), location(&res)), (303, "/dashboard".to_owned()));
    let used = audit_events_eventually(&app, &org.id, "user.password_reset").await;
    assert_eq!(used[0].actor, format!("user:{}", dave.id));

    // Once only: the page and a replayed form both refuse it.
    let res = browser.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("id=\"reset-invalid\""));
    let csrf = csrf_token(&browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap());
    let token_part = link.split("token=").nth(1).unwrap();
    let res = browser
        .post(app.url("/reset-password"))
        .form(&[("csrf_token", csrf.as_str()), ("token", token_part), ("new_password", "yet another passphrase")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("id=\"reset-invalid\""));
    assert_eq!(app.login(&app.new_browser(), &dave.email, new_password).await.status(), 303);

    // A form without the CSRF token is refused.
    let second = printed(&cli(&app, &["user", "reset-password", "--print-link", &dave.email]).await).trim().to_owned();
    let res = app
        .new_browser()
        .post(app.url("/reset-password"))
        .form(&[("token", second.split("token=").nth(1).unwrap()), ("new_password", "one more passphrase")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // 30 minutes later (by the app's clock) the link is dead.
    app.clock.advance(chrono::Duration::minutes(31));
    let res = app.new_browser().get(&second).send().await.unwrap();
    assert_eq!(res.status(), 400);
    refused(&cli(&app, &["user", "reset-password", "ghost@example.com"]).await, "no user has the email");
}

/// The `.eml` files in the app's outbox folder, waiting up to 10 s for one.
async fn outbox_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    let dir = app.state.config.data_dir.join("outbox");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files: Vec<_> = std::fs::read_dir(&dir).map_or_else(
            |_| Vec::new(),
            |d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                    .collect()
            },
        );
        if !files.is_empty() {
            return files;
        }
        assert!(Instant::now() < deadline, "no .eml in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn reset_password_emails_the_link_through_smtp_or_the_outbox_folder_and_prints_it_only_when_asked() {
    // Through SMTP: the message arrives, the command says so, no link printed.
    let sink = SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with({
        let smtp = smtp.clone();
        move |c| c.smtp_url = Some(smtp)
    })
    .await;
    keep_up(&app);
    let (erin, org) = app.user().create().await;
    let out = cli_with(&app, &[("PORTCULLIS_SMTP_URL", &smtp)], &["user", "reset-password", &erin.email]).await;
    let said = printed(&out);
    assert!(!said.contains("token=") && !text(&out).contains("token="), "the link is not shown: {}", text(&out));
    assert!(said.contains(&erin.email) && said.contains("message msg_"), "{said}");
    assert!(
        said.starts_with(&format!("emailed a password-reset link to {} through SMTP", erin.email))
            || said.contains("a running server is sending it"),
        "{said}"
    );
    let message = sink.message_to(&erin.email).await;
    assert_eq!(message.subject(), "Reset your password");
    let link = app.url(&message.link("/reset-password"));
    let (status, body) = reset_with(&app, &app.new_browser(), &link, "a brand new passphrase").await;
    assert_eq!(status, 200, "the emailed link resets: {body}");
    let created = &cli_events(&app, &org.id, "user.password_reset_link_created").await[0];
    assert_eq!(created.details["sent"], "email");
    assert!(!created.details.to_string().contains(link.split("token=").nth(1).unwrap()), "no token in the log");

    // Without SMTP: an .eml in the outbox folder, which the command names.
    drop(app);
    let app = self::app().await;
    let (fay, _) = app.user().create().await;
    let said = printed(&cli(&app, &["user", "reset-password", &fay.email]).await);
    let files = outbox_files(&app).await;
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].display().to_string();
    assert!(said.contains(&file) || said.contains("a running server is sending it"), "{said}");
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    let message = Received { to: vec![fay.email.clone()], data: eml.replace("\r\n", "\n").replace('\n', "\r\n") };
    assert!(message.data.contains(&format!("To: {}", fay.email)), "{}", message.data);
    let link = app.url(&message.link("/reset-password"));
    assert_eq!(reset_with(&app, &app.new_browser(), &link, "another new passphrase").await.0, 200);

    // A user who does not exist: refused, nothing queued.
    refused(&cli(&app, &["user", "reset-password", "ghost@example.com"]).await, "no user has the email");
    assert_eq!(app.state.store.run(portcullis::store::email_outbox::pending_count).await.unwrap(), 0);
}

#[actix_web::test]
async fn the_former_commands_write_cli_audit_events_and_lists_speak_json() {
    let app = app().await;
    let (_, org) = app.user().create().await;
    let mut cmd = portcullis(&app.state.config.data_dir);
    cmd.env("PORTCULLIS_DATABASE_URL", &app.state.config.database_url);
    cmd.args(["user", "create", "--email", "erin@example.com", "--org", &org.id, "--role", "VIEWER"]);
    let out = tokio::task::spawn_blocking(move || run_with_stdin(cmd, &format!("{PASSWORD}\n"))).await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let event = &cli_events(&app, &org.id, "user.created").await[0];
    assert_eq!(event.details, json!({ "email": "erin@example.com", "role": "VIEWER" }));

    // A signing key concerns every organization's tokens: each hears of it.
    let out = cli(&app, &["signing-key", "rotate", "--algorithm", "ES256"]).await;
    printed(&out);
    let rotated = &cli_events(&app, &org.id, "signing_key.rotated").await[0];
    assert_eq!(rotated.details["algorithm"], "ES256");
    let keys = json_list(&cli(&app, &["signing-key", "list", "--json"]).await);
    assert!(keys.iter().any(|k| k["state"] == "next"), "{keys:?}");
    // The former name still works.
    assert_eq!(json_list(&cli(&app, &["keys", "list", "--json"]).await), keys);

    let orgs = json_list(&cli(&app, &["org", "list", "--json"]).await);
    assert!(orgs.iter().any(|o| o["id"] == org.id.as_str() && o["members"] == 2), "{orgs:?}");
    assert_eq!(json_list(&cli(&app, &["client", "list", "--json"]).await), Vec::<Value>::new());
    assert_eq!(json_list(&cli(&app, &["key", "list", "--json"]).await), Vec::<Value>::new());
}
