//! Authority (invariant 10): every credential acts with exactly the power
//! it was given. The matrix runs every /v1 route (from the router's own
//! table, so a new route cannot skip it) with every kind of credential and
//! asserts the exact status and error code of each cell; the named tests
//! below replay the escalations an attacker's review found.

use portcullis::accounts::members::Asker;
use portcullis::accounts::{Organization, Role, User};
use portcullis::apikeys::{Environment, KeyKind, NewApiKey};
use portcullis::oauth::clients::{Client, GrantType};
use portcullis::oauth::scopes;
use portcullis::oauth::service::new_jti;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, call};

const ALL: &[&str] = &["read", "write", "delete", "admin", "webhook"];

/// The credential kinds of the matrix, in the order of its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    DashOwner,
    DashAdmin,
    DashDeveloper,
    DashViewer,
    /// The OWNER's secret keys with one broad scope each.
    KeyRead,
    KeyWrite,
    KeyAdmin,
    /// The OWNER's restricted key with `keys:write` only.
    RestrictedKeysWrite,
    /// A machine app the OWNER enabled for management.
    ManagementApp,
    /// An ordinary machine app of the organization.
    MachineApp,
    /// An app's token from the consent page, the OWNER consenting.
    ThirdParty,
    /// The OWNER of another organization, every scope.
    OtherOrganization,
    RevokedKey,
}

const CREDS: [Cred; 13] = [
    Cred::DashOwner,
    Cred::DashAdmin,
    Cred::DashDeveloper,
    Cred::DashViewer,
    Cred::KeyRead,
    Cred::KeyWrite,
    Cred::KeyAdmin,
    Cred::RestrictedKeysWrite,
    Cred::ManagementApp,
    Cred::MachineApp,
    Cred::ThirdParty,
    Cred::OtherOrganization,
    Cred::RevokedKey,
];

/// Expected status per route, one column per `CREDS` entry.
#[rustfmt::skip]
const MATRIX: &[(&str, &str, [u16; 13])] = &[
    //                                        own  adm  dev  vie  skR  skW  skA  rkW  mgt  mch  3rd  oth  rev
    ("GET",    "/v1/openapi.json",            [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("GET",    "/v1/auth/validate",           [200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401]),
    ("POST",   "/v1/auth/login",              [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401]),
    ("POST",   "/v1/auth/refresh",            [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401]),
    ("POST",   "/v1/auth/logout",             [200, 200, 200, 200, 400, 400, 400, 400, 400, 401, 401, 400, 401]),
    ("GET",    "/v1/auth/me",                 [200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401]),
    ("GET",    "/v1/audit-events",            [200, 200, 403, 403, 403, 403, 200, 403, 200, 401, 401, 200, 401]),
    ("GET",    "/v1/members",                 [200, 200, 200, 200, 200, 403, 403, 403, 200, 401, 401, 200, 401]),
    ("POST",   "/v1/invitations",             [201, 201, 403, 403, 403, 403, 201, 403, 403, 401, 401, 201, 401]),
    ("GET",    "/v1/invitations",             [200, 200, 200, 200, 200, 403, 403, 403, 200, 401, 401, 200, 401]),
    ("DELETE", "/v1/invitations/{id}",        [200, 200, 403, 403, 403, 403, 200, 403, 403, 401, 401, 404, 401]),
    ("PATCH",  "/v1/members/{id}",            [200, 200, 403, 403, 403, 403, 200, 403, 403, 401, 401, 404, 401]),
    ("DELETE", "/v1/members/{id}",            [200, 200, 403, 403, 403, 403, 200, 403, 403, 401, 401, 404, 401]),
    ("GET",    "/v1/apps",                    [200, 200, 200, 200, 200, 403, 403, 403, 200, 401, 401, 200, 401]),
    ("POST",   "/v1/apps",                    [201, 201, 201, 403, 403, 403, 403, 403, 201, 401, 401, 201, 401]),
    ("GET",    "/v1/apps/{id}",               [200, 200, 200, 200, 200, 403, 403, 403, 200, 401, 401, 404, 401]),
    ("PATCH",  "/v1/apps/{id}",               [200, 200, 403, 403, 403, 403, 403, 403, 200, 401, 401, 404, 401]),
    ("DELETE", "/v1/apps/{id}",               [200, 200, 403, 403, 403, 403, 403, 403, 200, 401, 401, 404, 401]),
    // A machine rotates no secret but its own and its apps' (attacker round 12, finding 2).
    ("POST",   "/v1/apps/{id}/rotate-secret", [200, 200, 403, 403, 403, 403, 403, 403, 403, 401, 401, 404, 401]),
    ("GET",    "/v1/api-keys",                [200, 200, 200, 200, 200, 403, 403, 403, 200, 401, 401, 200, 401]),
    ("POST",   "/v1/api-keys",                [201, 201, 201, 403, 403, 403, 403, 403, 201, 401, 401, 201, 401]),
    ("GET",    "/v1/api-keys/{id}",           [200, 200, 200, 200, 200, 403, 403, 403, 200, 401, 401, 404, 401]),
    ("PATCH",  "/v1/api-keys/{id}",           [200, 200, 403, 403, 403, 200, 403, 200, 200, 401, 401, 404, 401]),
    ("DELETE", "/v1/api-keys/{id}",           [200, 200, 403, 403, 403, 403, 403, 403, 200, 401, 401, 404, 401]),
    // The target never expires: a machine's roll would outlive its token (machine_power.rs).
    ("POST",   "/v1/api-keys/{id}/roll",      [201, 201, 403, 403, 403, 403, 403, 403, 403, 401, 401, 404, 401]),
    // A user's own grants: their dashboard session only; nobody has consented to the target.
    ("GET",    "/v1/authorized-apps",         [200, 200, 200, 200, 403, 403, 403, 403, 403, 401, 401, 403, 401]),
    ("DELETE", "/v1/authorized-apps/{client_id}", [404, 404, 404, 404, 403, 403, 403, 403, 403, 401, 401, 403, 401]),
];

struct World {
    owner: User,
    org: Organization,
    admin: User,
    developer: User,
    viewer: User,
    other_owner: User,
    other_org: Organization,
}

fn set(list: &[&str]) -> scopes::ScopeSet {
    list.iter().map(|s| s.to_string()).collect()
}

impl TestApp {
    async fn world(&self) -> World {
        let (owner, org) = self.user().create().await;
        let (admin, _) = self.user().org(&org.name).role(Role::Admin).create().await;
        let (developer, _) = self.user().org(&org.name).role(Role::Developer).create().await;
        let (viewer, _) = self.user().org(&org.name).role(Role::Viewer).create().await;
        let (other_owner, other_org) = self.user().create().await;
        World { owner, org, admin, developer, viewer, other_owner, other_org }
    }

    /// A key made through the domain, as the member `by` of `org`.
    async fn make_key(&self, org: &Organization, by: &User, kind: KeyKind, scopes: &[&str]) -> (String, String) {
        let (key, plaintext) = self
            .state
            .api_keys
            .create(NewApiKey {
                organization_id: org.id.clone(),
                created_by: Some(by.id.clone()),
                name: "matrix".into(),
                kind,
                environment: Environment::Live,
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                expires_at: None,
                rate_limit_per_minute: None,
                made_by_key: None,
                made_by_app: None,
                made_by_secret: None,
            })
            .await
            .unwrap();
        (key.id, plaintext)
    }

    async fn make_app(&self, org: &Organization, by: &User, management: bool, scopes: &[&str]) -> Client {
        let mut app = self
            .client_in(&org.id, &by.id)
            .redirect_uris(&["https://app.example/cb"])
            .grants(&[GrantType::ClientCredentials, GrantType::AuthorizationCode])
            .scopes(scopes);
        let new = app.new_mut();
        new.management = management;
        new.created_by = Some(by.id.clone());
        app.create().await.client
    }

    /// What the token endpoint would sign for `client`: for a user
    /// (`Some`), as after consent; for the client itself otherwise.
    fn token_of(&self, client: &Client, user: Option<&User>, scopes: &[&str]) -> String {
        let (sub, org) = match user {
            Some(u) => (u.id.as_str(), None),
            None => (client.client_id.as_str(), Some(client.organization_id.as_str())),
        };
        self.state
            .oauth
            .sign_access_token(client, sub, &set(scopes), new_jti(self.state.oauth.now()), org)
            .unwrap()
            .token
    }

    /// A dashboard session's access token, as /v1/auth/login signs it.
    fn dashboard_token(&self, user: &User, org: &Organization) -> String {
        let client = Client::dashboard(900);
        self.state
            .oauth
            .sign_access_token(&client, &user.id, &set(ALL), new_jti(self.state.oauth.now()), Some(&org.id))
            .unwrap()
            .token
    }

    async fn credential(&self, w: &World, cred: Cred) -> String {
        let secret = KeyKind::Secret;
        match cred {
            Cred::DashOwner => self.dashboard_token(&w.owner, &w.org),
            Cred::DashAdmin => self.dashboard_token(&w.admin, &w.org),
            Cred::DashDeveloper => self.dashboard_token(&w.developer, &w.org),
            Cred::DashViewer => self.dashboard_token(&w.viewer, &w.org),
            Cred::KeyRead => self.make_key(&w.org, &w.owner, secret, &["read"]).await.1,
            Cred::KeyWrite => self.make_key(&w.org, &w.owner, secret, &["write"]).await.1,
            Cred::KeyAdmin => self.make_key(&w.org, &w.owner, secret, &["admin"]).await.1,
            Cred::RestrictedKeysWrite => self.make_key(&w.org, &w.owner, KeyKind::Restricted, &["keys:write"]).await.1,
            Cred::ManagementApp => {
                let app = self.make_app(&w.org, &w.owner, true, &["read", "write", "delete", "admin"]).await;
                self.token_of(&app, None, &["read", "write", "delete", "admin"])
            }
            Cred::MachineApp => {
                let app = self.make_app(&w.org, &w.owner, false, ALL).await;
                self.token_of(&app, None, ALL)
            }
            Cred::ThirdParty => {
                let app = self.make_app(&w.other_org, &w.other_owner, false, ALL).await;
                self.token_of(&app, Some(&w.owner), ALL)
            }
            Cred::OtherOrganization => self.make_key(&w.other_org, &w.other_owner, secret, ALL).await.1,
            Cred::RevokedKey => {
                let (id, key) = self.make_key(&w.org, &w.owner, secret, ALL).await;
                self.state.api_keys.revoke(&w.org.id, &id).await.unwrap();
                key
            }
        }
    }

    /// Fresh objects of the organization for a path's `{id}`, so each cell
    /// starts from the same state.
    async fn target(&self, w: &World, path: &str) -> Option<String> {
        if !path.contains("{id}") && !path.contains("{client_id}") {
            return None;
        }
        Some(if path.starts_with("/v1/authorized-apps/") {
            self.make_app(&w.org, &w.owner, false, &["read"]).await.client_id
        } else if path.starts_with("/v1/api-keys/") {
            self.make_key(&w.org, &w.owner, KeyKind::Secret, &["read"]).await.0
        } else if path.starts_with("/v1/apps/") {
            self.make_app(&w.org, &w.owner, false, &["read"]).await.client_id
        } else if path.starts_with("/v1/members/") {
            self.user().org(&w.org.name).role(Role::Developer).create().await.0.id
        } else if path.starts_with("/v1/invitations/") {
            let email = format!("invitee-{}@example.com", uuid::Uuid::new_v4().simple());
            let invitation = self.state.accounts.invite(&w.org.id, &email, Role::Viewer, None, Some(Role::Owner));
            invitation.await.unwrap().0.id
        } else {
            panic!("no target for {path}: teach the matrix about this route")
        })
    }
}

fn body_for(method: &str, path: &str) -> Option<Value> {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    match (method, path) {
        ("POST", "/v1/auth/login") => {
            Some(json!({"email": format!("nobody-{unique}@example.com"), "password": "not the password"}))
        }
        ("POST", "/v1/auth/refresh") => Some(json!({"refresh_token": "not-a-refresh-token"})),
        ("POST", "/v1/invitations") => Some(json!({"email": format!("new-{unique}@example.com"), "role": "VIEWER"})),
        ("PATCH", "/v1/members/{id}") => Some(json!({"role": "VIEWER"})),
        ("POST", "/v1/apps") => {
            Some(json!({"name": "made", "grant_types": ["client_credentials"], "scopes": ["read"]}))
        }
        ("PATCH", "/v1/apps/{id}") | ("PATCH", "/v1/api-keys/{id}") => Some(json!({"name": "renamed"})),
        ("POST", "/v1/api-keys") => Some(json!({"name": "made", "scopes": ["read"]})),
        ("POST", "/v1/api-keys/{id}/roll") => Some(json!({"expires_in": 0})),
        _ => None,
    }
}

fn expected_code(status: u16, cred: Cred, path: &str) -> Option<&'static str> {
    match status {
        200 | 201 => None,
        401 if path == "/v1/auth/login" || path == "/v1/auth/refresh" => Some("INVALID_CREDENTIALS"),
        401 if cred == Cred::RevokedKey => Some("REVOKED_API_KEY"),
        401 => Some("INVALID_API_KEY"),
        403 => Some("INSUFFICIENT_SCOPE"),
        404 => Some("NOT_FOUND"),
        400 => Some("VALIDATION_ERROR"),
        other => panic!("no code for {other}"),
    }
}

#[actix_web::test]
async fn every_route_with_every_credential_gets_exactly_its_due() {
    let app = TestApp::spawn_with(|c| {
        c.api.unauthenticated_per_minute = 1_000_000;
        c.api.rate_limit_burst = 1_000;
        c.login_throttle.per_ip = 1_000;
    })
    .await;
    let w = app.world().await;
    let routes = portcullis::http::api::route_table();
    for (method, path) in &routes {
        assert!(
            MATRIX.iter().any(|(m, p, _)| m == method && p == path),
            "{method} {path} is not in the authority matrix"
        );
    }
    let mut wrong = Vec::new();
    for (method, path, row) in MATRIX {
        assert!(routes.iter().any(|(m, p)| m == method && p == path), "{method} {path} is no route any more");
        for (cred, want) in CREDS.iter().zip(row) {
            let credential = app.credential(&w, *cred).await;
            let url = match app.target(&w, path).await {
                Some(id) => path.replace("{id}", &id).replace("{client_id}", &id),
                None => path.to_string(),
            };
            let mut req =
                reqwest::Client::new().request(method.parse().unwrap(), app.url(&url)).bearer_auth(&credential);
            if let Some(b) = body_for(method, path) {
                req = req.json(&b);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let code = body["error"]["code"].as_str().map(str::to_owned);
            let want_code = expected_code(*want, *cred, path).map(str::to_owned);
            if status != *want || code != want_code {
                wrong.push(format!(
                    "{method} {path} as {cred:?}: got {status} {code:?}, want {want} {want_code:?}: {body}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} cells differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[actix_web::test]
async fn a_restricted_key_mints_only_restricted_keys_within_its_own_scopes() {
    // Finding 2: an `rk_` key with only keys:write created an admin secret key.
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let (_, rk) = app.make_key(&w.org, &w.owner, KeyKind::Restricted, &["keys:write", "keys:read"]).await;
    let (s, b) = call(&app, "POST", "/v1/api-keys", &rk, Some(json!({"name": "x", "scopes": ["admin"]}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "{b}");
    assert_eq!(b["error"]["message"], "A restricted key can only create restricted keys.");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/api-keys",
        &rk,
        Some(json!({"name": "x", "type": "restricted", "scopes": ["members:read"]})),
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "{b}");
    assert_eq!(b["error"]["message"], "A restricted key cannot grant \"members:read\": it does not hold it.");
    let (s, b) = call(
        &app,
        "POST",
        "/v1/api-keys",
        &rk,
        Some(json!({"name": "x", "type": "restricted", "scopes": ["keys:read"]})),
    )
    .await;
    assert_eq!(s, 201, "a subset of its own scopes: {b}");
    // Nothing was made by the refused calls.
    let keys = app.state.api_keys.list(&w.org.id, None, 100).await.unwrap();
    assert_eq!(keys.len(), 2, "the rk key and the one allowed key");
    // A secret key with `write` cannot grant `admin` or `delete` either.
    let (_, sk) = app.make_key(&w.org, &w.owner, KeyKind::Secret, &["read", "write"]).await;
    for scope in ["admin", "delete", "keys:delete", "members:write", "audit:read"] {
        let (s, b) = call(&app, "POST", "/v1/api-keys", &sk, Some(json!({"name": "x", "scopes": [scope]}))).await;
        assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "{scope}: {b}");
    }
    // …and rolling a stronger key would hand out its power: refused.
    let (admin_key_id, _) = app.make_key(&w.org, &w.owner, KeyKind::Secret, &["admin"]).await;
    let (s, _) = call(&app, "POST", &format!("/v1/api-keys/{admin_key_id}/roll"), &sk, None).await;
    assert_eq!(s, 403);
}

#[actix_web::test]
async fn a_developer_cannot_make_a_machine_stronger_than_itself() {
    // Finding 3: a DEVELOPER registered a client_credentials app with scope
    // `admin`, read the audit log with its token, rotated another member's
    // app secret and invited an ADMIN.
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let dev = app.dashboard_token(&w.developer, &w.org);
    let machine = json!({"name": "m", "grant_types": ["client_credentials"], "scopes": ["read", "admin"]});
    let (s, b) = call(&app, "POST", "/v1/apps", &dev, Some(machine)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "{b}");
    for flag in ["management", "resource_server"] {
        let body = json!({"name": "m", "grant_types": ["client_credentials"], "scopes": ["read"], flag: true});
        let (s, b) = call(&app, "POST", "/v1/apps", &dev, Some(body)).await;
        assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "{flag}: {b}");
    }
    // What it may make acts nowhere on /v1.
    let (s, b) = call(
        &app,
        "POST",
        "/v1/apps",
        &dev,
        Some(json!({"name": "m", "grant_types": ["client_credentials"], "scopes": ["read"]})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (id, secret) = (b["data"]["client_id"].as_str().unwrap(), b["data"]["client_secret"].as_str().unwrap());
    let res = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    let token: Value = res.json().await.unwrap();
    let at = token["access_token"].as_str().unwrap();
    for path in ["/v1/audit-events", "/v1/apps", "/v1/members"] {
        let (s, b) = call(&app, "GET", path, at, None).await;
        assert_eq!((s, b["error"]["code"].as_str()), (401, Some("INVALID_API_KEY")), "{path}: {b}");
    }
    // Another member's app: not the developer's to rotate.
    let owners_app = app.make_app(&w.org, &w.owner, false, &["read"]).await;
    let (s, _) = call(&app, "POST", &format!("/v1/apps/{}/rotate-secret", owners_app.client_id), &dev, None).await;
    assert_eq!(s, 403);
    // A management app acts with its creator's current role: an ADMIN's
    // app stops managing members when the ADMIN is made a DEVELOPER.
    let admins_app = app.make_app(&w.org, &w.admin, true, &["read", "admin"]).await;
    let mgmt = app.token_of(&admins_app, None, &["read", "admin"]);
    assert_eq!(call(&app, "GET", "/v1/audit-events", &mgmt, None).await.0, 200);
    let invite = json!({"email": "second@example.com", "role": "ADMIN"});
    let (s, b) = call(&app, "POST", "/v1/invitations", &mgmt, Some(invite)).await;
    assert_eq!((s, b["error"]["message"].as_str()), (403, Some("Machines never manage members or invitations.")));
    app.state.accounts.change_role(&w.org.id, &w.admin.id, Role::Developer, Asker::Operator).await.unwrap();
    let (s, b) = call(&app, "GET", "/v1/audit-events", &mgmt, None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "{b}");
}

#[actix_web::test]
async fn invitations_and_roles_stay_within_the_inviters_role() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let admin = app.dashboard_token(&w.admin, &w.org);
    let (s, b) =
        call(&app, "POST", "/v1/invitations", &admin, Some(json!({"email": "a@example.com", "role": "OWNER"}))).await;
    assert_eq!((s, b["error"]["message"].as_str()), (403, Some("An ADMIN cannot make an OWNER.")));
    let (s, _) =
        call(&app, "POST", "/v1/invitations", &admin, Some(json!({"email": "a@example.com", "role": "ADMIN"}))).await;
    assert_eq!(s, 201);
    // An OWNER's key with `admin` acts as the OWNER; a DEVELOPER's key with
    // `admin` has none of it.
    let (_, dev_key) = app.make_key(&w.org, &w.developer, KeyKind::Secret, &["read", "admin"]).await;
    let (s, b) =
        call(&app, "POST", "/v1/invitations", &dev_key, Some(json!({"email": "b@example.com", "role": "VIEWER"})))
            .await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")));
    let pending = app.state.accounts.pending_invitations(&w.org.id, None, 100).await.unwrap();
    assert_eq!(pending.map(|p| p.len()), Some(1), "only the allowed invitation exists");
}

#[actix_web::test]
async fn rate_limit_overrides_stay_within_bounds_and_only_administrators_raise_them() {
    // Finding 8: a key creator set 2147483647 and opted out of rate limits;
    // values above i32::MAX were silently dropped.
    let app = TestApp::spawn_with(|c| c.api.max_rate_limit_per_minute = 6000).await;
    let w = app.world().await;
    let dev = app.dashboard_token(&w.developer, &w.org);
    let owner = app.dashboard_token(&w.owner, &w.org);
    let key = |n: Value| json!({"name": "k", "scopes": ["read"], "rate_limit_per_minute": n});
    let (s, b) = call(&app, "POST", "/v1/api-keys", &dev, Some(key(json!(2147483647u32)))).await;
    assert_eq!((s, b["error"]["message"].as_str()), (400, Some("rate_limit_per_minute must be between 1 and 6000.")));
    let (s, b) = call(&app, "POST", "/v1/api-keys", &dev, Some(key(json!(4294967295u32)))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
    let (s, b) = call(&app, "POST", "/v1/api-keys", &dev, Some(key(json!(0)))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
    let (s, b) = call(&app, "POST", "/v1/api-keys", &dev, Some(key(json!(601)))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "above the default: {b}");
    let (s, b) = call(&app, "POST", "/v1/api-keys", &dev, Some(key(json!(100)))).await;
    assert_eq!((s, b["data"]["rate_limit_per_minute"].as_u64()), (201, Some(100)), "lower is always fine");
    let (s, b) = call(&app, "POST", "/v1/api-keys", &owner, Some(key(json!(6000)))).await;
    assert_eq!((s, b["data"]["rate_limit_per_minute"].as_u64()), (201, Some(6000)), "{b}");
}

#[actix_web::test]
async fn a_member_of_several_organizations_chooses_which_one_a_session_acts_for() {
    // Finding 11: /v1 tokens always acted for the oldest membership.
    let app = TestApp::spawn().await;
    let (user, first) = app.user().create().await;
    let (_, second) = app.user().create().await;
    let (_, link) =
        app.state.accounts.invite(&second.id, &user.email, Role::Viewer, None, Some(Role::Owner)).await.unwrap();
    app.state.accounts.accept_invitation(&link, &user, "127.0.0.1").await.unwrap();
    let login = |org: Option<&str>| {
        let mut body = json!({"email": user.email, "password": PASSWORD});
        if let Some(o) = org {
            body["organization_id"] = json!(o);
        }
        reqwest::Client::new().post(app.url("/v1/auth/login")).json(&body).send()
    };
    let res = login(None).await.unwrap();
    assert_eq!(res.status(), 400);
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["error"]["message"], "You belong to several organizations: send organization_id to choose one.");
    assert_eq!(b["error"]["details"]["organizations"].as_array().map(Vec::len), Some(2));

    let res = login(Some(&second.id)).await.unwrap();
    let b: Value = res.json().await.unwrap();
    assert_eq!(b["data"]["organization"]["id"], json!(second.id), "{b}");
    let access = b["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh = b["data"]["refresh_token"].as_str().unwrap().to_owned();
    let (s, v) = call(&app, "GET", "/v1/auth/validate", &access, None).await;
    assert_eq!(
        (s, v["data"]["organization"]["id"].clone(), v["data"]["role"].clone()),
        (200, json!(second.id), json!("VIEWER"))
    );
    // A VIEWER there, whatever it is in the first organization.
    let (s, _) = call(&app, "POST", "/v1/api-keys", &access, Some(json!({"name": "k", "scopes": ["read"]}))).await;
    assert_eq!(s, 403);
    // The refreshed session keeps acting for the same organization.
    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    let r: Value = res.json().await.unwrap();
    let (_, v) = call(&app, "GET", "/v1/auth/validate", r["data"]["access_token"].as_str().unwrap(), None).await;
    assert_eq!(v["data"]["organization"]["id"], json!(second.id), "{v}");
    // Not a member: refused, nothing guessed.
    let res = login(Some("org_nope")).await.unwrap();
    assert_eq!(res.status(), 400);
    let res = login(Some(&first.id)).await.unwrap();
    assert_eq!(res.status(), 200);
    // Leaving the organization ends the session there at once.
    app.state.accounts.remove_member(&second.id, &user.id, Asker::Operator).await.unwrap();
    let (s, v) = call(&app, "GET", "/v1/auth/validate", &access, None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("REVOKED_API_KEY")));
}

#[actix_web::test]
async fn an_owner_enables_management_on_an_app_and_can_take_it_back() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let owner = app.dashboard_token(&w.owner, &w.org);
    let public = json!({"name": "p", "type": "public", "grant_types": ["authorization_code"],
        "redirect_uris": ["http://127.0.0.1/cb"], "management": true});
    let (s, b) = call(&app, "POST", "/v1/apps", &owner, Some(public)).await;
    assert_eq!(
        (s, b["error"]["message"].as_str()),
        (400, Some("a management app must be confidential and use client_credentials"))
    );
    let body = json!({"name": "ops bot", "grant_types": ["client_credentials"], "scopes": ["read", "write"], "management": true});
    let (s, b) = call(&app, "POST", "/v1/apps", &owner, Some(body)).await;
    assert_eq!((s, b["data"]["management"].as_bool()), (201, Some(true)), "{b}");
    let (id, secret) =
        (b["data"]["client_id"].as_str().unwrap().to_owned(), b["data"]["client_secret"].as_str().unwrap().to_owned());
    let token = || async {
        let res = reqwest::Client::new()
            .post(app.url("/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "read write")])
            .send()
            .await
            .unwrap();
        let v: Value = res.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    };
    let at = token().await;
    let (s, v) = call(&app, "GET", "/v1/auth/validate", &at, None).await;
    assert_eq!(
        (s, v["data"]["credential"]["type"].as_str(), v["data"]["role"].as_str()),
        (200, Some("management_app"), Some("OWNER"))
    );
    let (s, k) =
        call(&app, "POST", "/v1/api-keys", &at, Some(json!({"name": "from the bot", "scopes": ["read"]}))).await;
    assert_eq!((s, k["data"]["created_by"].clone()), (201, json!(w.owner.id)), "acts for its creator: {k}");
    // Within its own scopes only.
    let (s, _) = call(&app, "POST", "/v1/api-keys", &at, Some(json!({"name": "x", "scopes": ["admin"]}))).await;
    assert_eq!(s, 403, "the bot holds read and write only");
    // Taking management back: its tokens stop at /v1 on the next request.
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &owner, Some(json!({"management": false}))).await;
    assert_eq!((s, b["data"]["management"].as_bool()), (200, Some(false)), "{b}");
    let (s, v) = call(&app, "GET", "/v1/auth/validate", &at, None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("INVALID_API_KEY")));
    let (s, v) = call(&app, "GET", "/v1/auth/validate", &token().await, None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("INVALID_API_KEY")), "new tokens are not for /v1 either");
    // A DEVELOPER may not switch it back on.
    let dev = app.dashboard_token(&w.developer, &w.org);
    let (s, _) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &dev, Some(json!({"management": true}))).await;
    assert_eq!(s, 403);
}

#[actix_web::test]
async fn the_organizations_own_api_scopes_are_granted_only_by_who_holds_them() {
    let app = TestApp::spawn_with(|c| {
        c.oauth.scopes.push(portcullis::oauth::scopes::ScopeDefinition {
            name: "invoices:write".into(),
            description: "Change invoices".into(),
        })
    })
    .await;
    let w = app.world().await;
    let (_, writer) = app.make_key(&w.org, &w.owner, KeyKind::Secret, &["write"]).await;
    let body = json!({"name": "k", "scopes": ["invoices:write"]});
    let (s, b) = call(&app, "POST", "/v1/api-keys", &writer, Some(body.clone())).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("INSUFFICIENT_SCOPE")),
        "a key holds only what it was given"
    );
    let app_body = json!({"name": "m", "grant_types": ["client_credentials"], "scopes": ["invoices:write"]});
    let (s, _) = call(&app, "POST", "/v1/apps", &writer, Some(app_body.clone())).await;
    assert_eq!(s, 403);
    let (_, holder) = app.make_key(&w.org, &w.owner, KeyKind::Secret, &["write", "invoices:write"]).await;
    assert_eq!(call(&app, "POST", "/v1/api-keys", &holder, Some(body.clone())).await.0, 201);
    // A person's session holds what the role allows: a DEVELOPER writes.
    let dev = app.dashboard_token(&w.developer, &w.org);
    assert_eq!(call(&app, "POST", "/v1/api-keys", &dev, Some(body)).await.0, 201);
    assert_eq!(call(&app, "POST", "/v1/apps", &dev, Some(app_body)).await.0, 201);
}

/// The attacker's second round, each refused.
#[actix_web::test]
async fn an_admin_cannot_take_over_an_owners_app_to_act_as_the_owner() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let (owner, admin) = (app.dashboard_token(&w.owner, &w.org), app.dashboard_token(&w.admin, &w.org));
    let body = json!({"name": "billing sync", "grant_types": ["client_credentials"], "scopes": ["read"]});
    let (_, b) = call(&app, "POST", "/v1/apps", &owner, Some(body)).await;
    let id = b["data"]["client_id"].as_str().unwrap().to_owned();
    let patch = json!({"management": true, "scopes": ["read", "write", "delete", "admin"]});
    // Making another's app a management app while its secret stays put is
    // refused (round 4, H-1): the app changes hands by a new secret first.
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &admin, Some(patch.clone())).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
    let (s, b) = call(&app, "POST", &format!("/v1/apps/{id}/rotate-secret"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &admin, Some(patch)).await;
    assert_eq!((s, b["data"]["created_by"].clone()), (200, json!(w.admin.id)), "it now acts for the ADMIN: {b}");
    let (s, b) = call(&app, "POST", &format!("/v1/apps/{id}/rotate-secret"), &admin, None).await;
    assert_eq!(s, 200, "{b}");
    let res = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(&id, b["data"]["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials"), ("scope", "read write admin")])
        .send()
        .await
        .unwrap();
    let token: Value = res.json().await.unwrap();
    let at = token["access_token"].as_str().unwrap();
    let (_, v) = call(&app, "GET", "/v1/auth/validate", at, None).await;
    assert_eq!(v["data"]["role"], "ADMIN", "never the OWNER's role: {v}");
    // Its keys act for the ADMIN too, and never with member power (round 1, F-1).
    let (s, k) = call(&app, "POST", "/v1/api-keys", at, Some(json!({"name": "backdoor", "scopes": ["admin"]}))).await;
    assert_eq!((s, k["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")), "{k}");
    let (s, k) = call(&app, "POST", "/v1/api-keys", at, Some(json!({"name": "sync", "scopes": ["read"]}))).await;
    assert_eq!(s, 201, "{k}");
    let (_, v) = call(&app, "GET", "/v1/auth/validate", k["data"]["key"].as_str().unwrap(), None).await;
    assert_eq!(v["data"]["role"], "ADMIN", "never the OWNER's role: {v}");
    // Rotating an OWNER's app likewise makes it act for the rotating ADMIN.
    let (_, b) = call(
        &app,
        "POST",
        "/v1/apps",
        &owner,
        Some(json!({"name": "ops", "grant_types": ["client_credentials"], "scopes": ["read"], "management": true})),
    )
    .await;
    let ops = b["data"]["client_id"].as_str().unwrap().to_owned();
    call(&app, "POST", &format!("/v1/apps/{ops}/rotate-secret"), &admin, None).await;
    let (_, b) = call(&app, "GET", &format!("/v1/apps/{ops}"), &admin, None).await;
    assert_eq!(b["data"]["created_by"], json!(w.admin.id));
}

#[actix_web::test]
async fn a_scope_element_with_spaces_is_refused_not_split_into_more_power() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let dev = app.dashboard_token(&w.developer, &w.org);
    for scopes in [json!(["read admin"]), json!([" admin"]), json!(["read\tadmin"])] {
        let body = json!({"name": "m", "grant_types": ["client_credentials"], "scopes": scopes});
        let (s, b) = call(&app, "POST", "/v1/apps", &dev, Some(body)).await;
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{scopes}: {b}");
    }
    let ordinary = app.make_app(&w.org, &w.developer, false, &["read"]).await;
    let (s, _) =
        call(&app, "PATCH", &format!("/v1/apps/{}", ordinary.client_id), &dev, Some(json!({"scopes": ["read admin"]})))
            .await;
    assert_eq!(s, 400);
}

#[actix_web::test]
async fn an_invitation_dies_with_its_senders_power() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let admin = app.dashboard_token(&w.admin, &w.org);
    let (_, b) =
        call(&app, "POST", "/v1/invitations", &admin, Some(json!({"email": "alt@example.com", "role": "ADMIN"}))).await;
    let link = b["data"]["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let (alt, _) = app.user().email("alt@example.com").create().await;
    app.state.accounts.remove_member(&w.org.id, &w.admin.id, Asker::Operator).await.unwrap();
    let err = app.state.accounts.accept_invitation(&link, &alt, "127.0.0.1").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "This invitation is no longer valid: the person who sent it can no longer invite to this role."
    );
    let memberships = app.state.accounts.memberships(&alt.id).await.unwrap();
    assert!(memberships.iter().all(|m| m.organization.id != w.org.id), "alt did not join");
}

#[actix_web::test]
async fn a_key_makes_no_key_that_outlives_it_or_runs_faster_and_huge_overlaps_are_refused() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let owner = app.dashboard_token(&w.owner, &w.org);
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let body = json!({"name": "slow", "scopes": ["read", "write"], "rate_limit_per_minute": 2, "expires_at": expires});
    let (_, b) = call(&app, "POST", "/v1/api-keys", &owner, Some(body)).await;
    let maker = b["data"]["key"].as_str().unwrap().to_owned();
    let (s, b) = call(&app, "POST", "/v1/api-keys", &maker, Some(json!({"name": "child", "scopes": ["read"]}))).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["rate_limit_per_minute"], 2, "inherits the maker's limit");
    assert!(!b["data"]["expires_at"].is_null(), "inherits the maker's expiry: {b}");
    let later = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let (s, b) =
        call(&app, "POST", "/v1/api-keys", &maker, Some(json!({"name": "c", "scopes": ["read"], "expires_at": later})))
            .await;
    assert_eq!((s, b["error"]["message"].as_str()), (403, Some("A key cannot make a key that outlives it.")));
    // A huge overlap is a validation error, not a panic.
    let (id, _) = app.make_key(&w.org, &w.owner, KeyKind::Secret, &["read"]).await;
    for n in [json!(100000000000000000i64), json!(-100000000000000000i64)] {
        let (s, b) =
            call(&app, "POST", &format!("/v1/api-keys/{id}/roll"), &owner, Some(json!({"expires_in": n}))).await;
        assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{n}: {b}");
    }
}

#[actix_web::test]
async fn a_public_client_is_never_a_resource_server_and_dashboard_refresh_tokens_stay_private() {
    let app = TestApp::spawn().await;
    let w = app.world().await;
    let owner = app.dashboard_token(&w.owner, &w.org);
    let body = json!({"name": "p", "type": "public", "grant_types": ["authorization_code"],
        "redirect_uris": ["http://127.0.0.1/cb"], "resource_server": true});
    let (s, b) = call(&app, "POST", "/v1/apps", &owner, Some(body)).await;
    assert_eq!((s, b["error"]["message"].as_str()), (400, Some("a resource server must be a confidential client")));
    // A dashboard refresh token is nobody else's business.
    let res = reqwest::Client::new()
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": w.owner.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let login: Value = res.json().await.unwrap();
    let refresh = login["data"]["refresh_token"].as_str().unwrap();
    let rs = app.oauth_client().await.resource_server().create().await;
    let (_, _, v) = crate::oauth_support::post_form(&app, "/oauth/introspect", &rs, &[("token", refresh)]).await;
    assert_eq!(v, json!({"active": false}));
}
