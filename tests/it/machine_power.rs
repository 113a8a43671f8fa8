//! Nothing a machine (a management app's client-credentials token) makes
//! exceeds the machine: the keys it makes never manage members and die
//! with its token, the keys it rolls likewise, the apps it makes are
//! machines within its scopes. Round 1 of the attacker's review, F-1: a
//! one-hour machine token minted a never-expiring `admin` key that acted
//! for the app's creator, changed roles and invited OWNERs.

use chrono::{DateTime, Duration, Utc};
use portcullis::accounts::{Role, User};
use portcullis::apikeys::{Environment, KeyKind, NewApiKey};
use portcullis::clock::Clock;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, call};

/// An organization as the attacker found it: alice its OWNER (signed in at
/// the dashboard), bob a DEVELOPER, and alice's management app.
struct Setup {
    alice: User,
    org_id: String,
    dashboard: String,
    bob: User,
    app_id: String,
    app_secret: String,
}

impl TestApp {
    async fn alice_and_her_management_app(&self) -> Setup {
        let (alice, org) = self.user().create().await;
        let (bob, _) = self.user().org(&org.name).role(Role::Developer).create().await;
        let dashboard = self.signed_in(&alice).await;
        let body = json!({"name": "mg2", "grant_types": ["client_credentials"],
            "scopes": ["read", "write", "delete", "admin"], "management": true});
        let (s, b) = call(self, "POST", "/v1/apps", &dashboard, Some(body)).await;
        assert_eq!(s, 201, "{b}");
        let app_id = b["data"]["client_id"].as_str().unwrap().to_owned();
        let app_secret = b["data"]["client_secret"].as_str().unwrap().to_owned();
        Setup { alice, org_id: org.id, dashboard, bob, app_id, app_secret }
    }

    /// A dashboard session's access token, through /v1/auth/login.
    pub(crate) async fn signed_in(&self, user: &User) -> String {
        let res = reqwest::Client::new()
            .post(self.url("/v1/auth/login"))
            .json(&json!({"email": user.email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let b: Value = res.json().await.unwrap();
        b["data"]["access_token"].as_str().unwrap_or_else(|| panic!("login: {b}")).to_owned()
    }

    /// A client-credentials token of the app, from the token endpoint.
    pub(crate) async fn machine_token(&self, id: &str, secret: &str, scope: &str) -> String {
        let res = reqwest::Client::new()
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap();
        let b: Value = res.json().await.unwrap();
        b["access_token"].as_str().unwrap_or_else(|| panic!("token: {b}")).to_owned()
    }

    /// When a credential stops working, as /v1/auth/validate tells it.
    async fn expiry_of(&self, credential: &str) -> DateTime<Utc> {
        let (s, b) = call(self, "GET", "/v1/auth/validate", credential, None).await;
        assert_eq!(s, 200, "{b}");
        parse_time(&b["data"]["credential"]["expires_at"])
    }

    /// A key alice made at the dashboard, through the domain.
    async fn alices_key(
        &self,
        s: &Setup,
        scopes: &[&str],
        expires_at: Option<DateTime<Utc>>,
        rate: Option<u32>,
    ) -> String {
        let (key, _) = self
            .state
            .api_keys
            .create(NewApiKey {
                organization_id: s.org_id.clone(),
                created_by: Some(s.alice.id.clone()),
                name: "alice's".into(),
                kind: KeyKind::Secret,
                environment: Environment::Live,
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                expires_at,
                rate_limit_per_minute: rate,
                made_by_key: None,
                made_by_app: None,
                made_by_secret: None,
            })
            .await
            .unwrap();
        key.id
    }
}

fn parse_time(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// A refusal's exact `error`, without its request id.
fn refusal(status: u16, b: &Value) -> (u16, Value) {
    assert_eq!(b["success"], false, "{b}");
    let mut error = b["error"].clone();
    error.as_object_mut().unwrap().remove("request_id");
    (status, error)
}

fn denied(scope: &str, reason: &str) -> (u16, Value) {
    (
        403,
        json!({"code": "INSUFFICIENT_SCOPE", "message": reason,
            "details": {"required_scope": scope, "reason": reason}}),
    )
}

fn lacks(scope: &str) -> (u16, Value) {
    (
        403,
        json!({"code": "INSUFFICIENT_SCOPE", "message": format!("This credential lacks the {scope} scope."),
            "details": {"required_scope": scope}}),
    )
}

const MACHINES_NEVER: &str = "Machines never manage members or invitations.";

fn no_member_keys(scope: &str) -> String {
    format!(
        "A management app cannot grant {scope:?}: machines never manage members or invitations, nor make keys that do."
    )
}

#[actix_web::test]
async fn a_management_apps_token_makes_no_key_that_manages_members_or_outlives_the_token() {
    let app = TestApp::spawn().await;
    let s = app.alice_and_her_management_app().await;
    let mt = app.machine_token(&s.app_id, &s.app_secret, "read write delete admin").await;
    let bob = format!("/v1/members/{}", s.bob.id);

    // The machine itself: never (this held before).
    let (st, b) = call(&app, "PATCH", &bob, &mt, Some(json!({"role": "ADMIN"}))).await;
    assert_eq!(refusal(st, &b), denied("admin", MACHINES_NEVER));

    // The attacker's key, and its restricted twin: refused, nothing made.
    let (st, b) =
        call(&app, "POST", "/v1/api-keys", &mt, Some(json!({"name": "k2", "scopes": ["read", "write", "admin"]})))
            .await;
    assert_eq!(refusal(st, &b), denied("admin", &no_member_keys("admin")));
    let restricted = json!({"name": "k3", "type": "restricted", "scopes": ["members:read", "members:write"]});
    let (st, b) = call(&app, "POST", "/v1/api-keys", &mt, Some(restricted)).await;
    assert_eq!(refusal(st, &b), denied("members:write", &no_member_keys("members:write")));
    assert!(app.state.api_keys.list(&s.org_id, None, 100).await.unwrap().is_empty(), "no key was made");

    // What it may make: everything else it holds, `audit:read` included,
    // living no longer than the token.
    let body = json!({"name": "k4", "scopes": ["read", "write", "audit:read"]});
    let (st, b) = call(&app, "POST", "/v1/api-keys", &mt, Some(body)).await;
    assert_eq!(st, 201, "{b}");
    let key = b["data"]["key"].as_str().unwrap().to_owned();
    let token_exp = app.expiry_of(&mt).await;
    assert_eq!(parse_time(&b["data"]["expires_at"]), token_exp, "unset, it inherits the token's expiry");
    assert_eq!(app.expiry_of(&key).await, token_exp);
    assert_eq!(call(&app, "GET", "/v1/audit-events", &key, None).await.0, 200);

    // That key acts for alice, yet manages no member and invites nobody.
    let (st, b) = call(&app, "PATCH", &bob, &key, Some(json!({"role": "ADMIN"}))).await;
    assert_eq!(refusal(st, &b), lacks("admin"));
    let invite = json!({"email": "zz@example.com", "role": "OWNER"});
    let (st, b) = call(&app, "POST", "/v1/invitations", &key, Some(invite)).await;
    assert_eq!(refusal(st, &b), lacks("admin"));
    let member = app.state.accounts.member(&s.org_id, &s.bob.id).await.unwrap().unwrap();
    assert_eq!(member.role, Role::Developer, "bob's role is unchanged");
    let (_, b) = call(&app, "GET", "/v1/invitations", &s.dashboard, None).await;
    assert_eq!(b["data"], json!([]), "no invitation was made");

    // Nor a key it makes, nor a key set to live longer than the token.
    let (st, b) = call(&app, "POST", "/v1/api-keys", &key, Some(json!({"name": "k5", "scopes": ["admin"]}))).await;
    assert_eq!(refusal(st, &b).1["code"], "INSUFFICIENT_SCOPE", "{b}");
    let later = (token_exp + Duration::seconds(1)).to_rfc3339();
    let body = json!({"name": "k6", "scopes": ["read"], "expires_at": later});
    let (st, b) = call(&app, "POST", "/v1/api-keys", &mt, Some(body)).await;
    assert_eq!(refusal(st, &b), denied("write", "A management app's token cannot make a key that outlives it."));
    let faster = json!({"name": "k7", "scopes": ["read"], "rate_limit_per_minute": 601});
    let (st, b) = call(&app, "POST", "/v1/api-keys", &mt, Some(faster)).await;
    assert_eq!(
        refusal(st, &b),
        denied("write", "A management app's token cannot make a key with a higher rate limit than its own.")
    );

    // When the token ends, so does the key.
    app.clock.advance(token_exp - app.clock.now() + Duration::seconds(1));
    let (st, b) = call(&app, "GET", "/v1/auth/validate", &key, None).await;
    assert_eq!((st, b["error"]["code"].as_str()), (401, Some("EXPIRED_API_KEY")), "{b}");
}

#[actix_web::test]
async fn a_management_apps_token_rolls_no_key_that_manages_members_outlives_it_or_runs_faster() {
    let app = TestApp::spawn_with(|c| c.api.max_rate_limit_per_minute = 6000).await;
    let s = app.alice_and_her_management_app().await;
    let mt = app.machine_token(&s.app_id, &s.app_secret, "read write delete admin").await;
    let soon = app.clock.now() + Duration::minutes(10);
    let roll = |id: String| format!("/v1/api-keys/{id}/roll");
    let no_overlap = || Some(json!({"expires_in": 0}));

    // Alice's admin key: rolling it would hand the machine member power.
    let admin_key = app.alices_key(&s, &["read", "admin"], Some(soon), None).await;
    let (st, b) = call(&app, "POST", &roll(admin_key), &mt, no_overlap()).await;
    assert_eq!(refusal(st, &b), denied("admin", &no_member_keys("admin")));

    // A key that never expires, or runs faster: it would outlive the token.
    let outliving = "A management app's token cannot roll a key that would outlive it or run faster than it.";
    let forever = app.alices_key(&s, &["read"], None, None).await;
    let (st, b) = call(&app, "POST", &roll(forever.clone()), &mt, no_overlap()).await;
    assert_eq!(refusal(st, &b), denied("write", outliving));
    let fast = app.alices_key(&s, &["read"], Some(soon), Some(6000)).await;
    let (st, b) = call(&app, "POST", &roll(fast), &mt, no_overlap()).await;
    assert_eq!(refusal(st, &b), denied("write", outliving));
    let live = app.state.api_keys.get(&s.org_id, &forever).await.unwrap();
    assert!(live.expires_at.is_none() && live.revoked_at.is_none(), "the refused roll left the old key alone");

    // Within the token's life and rate, and without member power: rolled.
    let within = app.alices_key(&s, &["read"], Some(soon), None).await;
    let (st, b) = call(&app, "POST", &roll(within), &mt, no_overlap()).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(parse_time(&b["data"]["new_key"]["expires_at"]), soon);
}

#[actix_web::test]
async fn an_app_a_management_app_makes_is_a_machine_within_the_makers_scopes() {
    let app = TestApp::spawn().await;
    let s = app.alice_and_her_management_app().await;
    let mt = app.machine_token(&s.app_id, &s.app_secret, "read write delete admin").await;

    // A machine makes no management app nor resource server: an app's
    // secret never expires, so either would outlive it.
    for (flag, what) in [("management", "management apps"), ("resource_server", "resource servers")] {
        let body = json!({"name": "child", "grant_types": ["client_credentials"], "scopes": ["read"], flag: true});
        let (st, b) = call(&app, "POST", "/v1/apps", &mt, Some(body)).await;
        assert_eq!(
            refusal(st, &b),
            denied("admin", &format!("A management app makes no {what}: they would outlive it."))
        );
    }
    // Nor turns one on later, nor takes the secret of one it did not make.
    let plain = json!({"name": "plain", "grant_types": ["client_credentials"], "scopes": ["read"]});
    let (st, b) = call(&app, "POST", "/v1/apps", &mt, Some(plain)).await;
    assert_eq!(st, 201, "{b}");
    let plain_id = b["data"]["client_id"].as_str().unwrap().to_owned();
    let (st, b) = call(&app, "PATCH", &format!("/v1/apps/{plain_id}"), &mt, Some(json!({"management": true}))).await;
    assert_eq!(refusal(st, &b), denied("admin", "A management app makes no management apps: they would outlive it."));
    let alices =
        json!({"name": "other", "grant_types": ["client_credentials"], "scopes": ["read"], "management": true});
    let (st, b) = call(&app, "POST", "/v1/apps", &s.dashboard, Some(alices)).await;
    assert_eq!(st, 201, "{b}");
    let other = b["data"]["client_id"].as_str().unwrap().to_owned();
    let (st, b) = call(&app, "POST", &format!("/v1/apps/{other}/rotate-secret"), &mt, None).await;
    let changes_none = "A management app changes no other management app or resource server.";
    assert_eq!(refusal(st, &b), denied("admin", changes_none));
    // Nor changes or deletes one (a resource server included).
    let resource_server =
        json!({"name": "rs", "grant_types": ["client_credentials"], "scopes": ["read"], "resource_server": true});
    let (st, b) = call(&app, "POST", "/v1/apps", &s.dashboard, Some(resource_server)).await;
    assert_eq!(st, 201, "{b}");
    let rs = b["data"]["client_id"].as_str().unwrap().to_owned();
    for id in [&other, &rs] {
        let widen = json!({"scopes": ["read", "write", "admin"]});
        let (st, b) = call(&app, "PATCH", &format!("/v1/apps/{id}"), &mt, Some(widen)).await;
        assert_eq!(refusal(st, &b), denied("admin", changes_none));
        let (st, b) = call(&app, "DELETE", &format!("/v1/apps/{id}"), &mt, None).await;
        assert_eq!(refusal(st, &b), denied("admin", changes_none));
        let (st, b) = call(&app, "GET", &format!("/v1/apps/{id}"), &s.dashboard, None).await;
        assert_eq!((st, &b["data"]["scopes"]), (200, &json!(["read"])), "unchanged: {b}");
    }

    // The machine itself invites nobody and removes nobody.
    let invite = json!({"email": "zz@example.com", "role": "OWNER"});
    let (st, b) = call(&app, "POST", "/v1/invitations", &mt, Some(invite)).await;
    assert_eq!(refusal(st, &b), denied("admin", MACHINES_NEVER));
    let (st, b) = call(&app, "DELETE", &format!("/v1/members/{}", s.bob.id), &mt, None).await;
    assert_eq!(refusal(st, &b), denied("admin", MACHINES_NEVER));

    // A narrower token gives no app beyond it, and no management app.
    let narrow = app.machine_token(&s.app_id, &s.app_secret, "read write").await;
    let beyond = json!({"name": "b", "grant_types": ["client_credentials"], "scopes": ["admin"]});
    let (st, b) = call(&app, "POST", "/v1/apps", &narrow, Some(beyond)).await;
    assert_eq!(refusal(st, &b), denied("admin", "This credential cannot grant \"admin\": it does not hold it."));
    let management =
        json!({"name": "m", "grant_types": ["client_credentials"], "scopes": ["read"], "management": true});
    let (st, b) = call(&app, "POST", "/v1/apps", &narrow, Some(management)).await;
    assert_eq!(refusal(st, &b), denied("admin", "A management app makes no management apps: they would outlive it."));

    // Its own secret it may rotate (last: the old one stops working).
    let (st, b) = call(&app, "POST", &format!("/v1/apps/{}/rotate-secret", s.app_id), &mt, None).await;
    assert_eq!(st, 200, "{b}");
}
