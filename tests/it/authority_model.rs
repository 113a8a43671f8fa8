//! The authority model under random sequences (proptest): members'
//! roles change, members leave, keys make keys, keys register apps (some
//! for management). After every step, every credential's power is exactly
//! its scopes ∩ what its acting member's *current* role allows — as
//! `/v1/auth/validate` reports it and as the audit log (which needs
//! `admin`) grants or refuses it — and a creation succeeded exactly when
//! it stayed within its maker's power.
//!
//! The oracle below is written from docs/authority.md, not from the code:
//! VIEWER reads; DEVELOPER also writes, deletes and manages webhooks;
//! ADMIN and OWNER hold everything, `admin` too; a member who left holds
//! nothing.

use std::collections::BTreeSet;

use portcullis::accounts::Role;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};

use crate::support::{TestApp, call};

const BROAD: [&str; 5] = ["read", "write", "delete", "admin", "webhook"];

/// What a role allows of the broad scopes (the oracle).
fn allowed(role: Option<Role>) -> BTreeSet<String> {
    let names: &[&str] = match role {
        Some(Role::Owner | Role::Admin) => &BROAD,
        Some(Role::Developer) => &["read", "write", "delete", "webhook"],
        Some(Role::Viewer) => &["read"],
        None => &[],
    };
    names.iter().map(|s| s.to_string()).collect()
}

#[derive(Debug, Clone)]
enum Op {
    /// The OWNER sets member `0` (of the three others) to a role.
    SetRole(usize, Role),
    /// The OWNER removes a member.
    Remove(usize),
    /// Key `n` (modulo how many there are) makes a key with these scopes.
    KeyFromKey(usize, Vec<&'static str>),
    /// Key `n` registers a client-credentials app; `true`: for management.
    AppFromKey(usize, Vec<&'static str>, bool),
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Owner), Just(Role::Admin), Just(Role::Developer), Just(Role::Viewer)]
}

fn op() -> impl Strategy<Value = Op> {
    let scopes = || proptest::sample::subsequence(BROAD.to_vec(), 1..=BROAD.len());
    prop_oneof![
        3 => (0..3usize, role()).prop_map(|(m, r)| Op::SetRole(m, r)),
        1 => (0..3usize).prop_map(Op::Remove),
        4 => (any::<usize>(), scopes()).prop_map(|(k, s)| Op::KeyFromKey(k, s)),
        2 => (any::<usize>(), scopes(), any::<bool>()).prop_map(|(k, s, m)| Op::AppFromKey(k, s, m)),
    ]
}

struct Member {
    user_id: String,
    /// `None` once removed.
    role: Option<Role>,
}

struct Key {
    plaintext: String,
    /// Index into the members; 0 is the OWNER who never changes.
    creator: usize,
    scopes: BTreeSet<String>,
}

struct App {
    client_id: String,
    secret: String,
    creator: usize,
    scopes: BTreeSet<String>,
}

struct World<'a> {
    app: &'a TestApp,
    members: Vec<Member>,
    keys: Vec<Key>,
    apps: Vec<App>,
    created: usize,
}

fn strings(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn scopes_of(v: &Value) -> BTreeSet<String> {
    v.as_array().unwrap_or(&Vec::new()).iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()
}

impl World<'_> {
    fn power(&self, creator: usize, scopes: &BTreeSet<String>) -> BTreeSet<String> {
        scopes.intersection(&allowed(self.members[creator].role)).cloned().collect()
    }

    async fn apply(&mut self, op: &Op, trail: &str) {
        let owner_key = self.keys[0].plaintext.clone();
        match op {
            Op::SetRole(m, role) => {
                let member = &mut self.members[m + 1];
                if member.role.is_none() {
                    return;
                }
                let path = format!("/v1/members/{}", member.user_id);
                let (s, b) = call(self.app, "PATCH", &path, &owner_key, Some(json!({"role": role.as_str()}))).await;
                assert_eq!(s, 200, "{trail}: {b}");
                member.role = Some(*role);
            }
            Op::Remove(m) => {
                let member = &mut self.members[m + 1];
                if member.role.is_none() {
                    return;
                }
                let (s, b) =
                    call(self.app, "DELETE", &format!("/v1/members/{}", member.user_id), &owner_key, None).await;
                assert_eq!(s, 200, "{trail}: {b}");
                member.role = None;
            }
            Op::KeyFromKey(n, requested) => {
                let parent = &self.keys[n % self.keys.len()];
                let (creator, requested) = (parent.creator, strings(requested));
                let power = self.power(creator, &parent.scopes);
                let (s, b) = call(
                    self.app,
                    "POST",
                    "/v1/api-keys",
                    &parent.plaintext,
                    Some(json!({"name": "made by a key", "scopes": requested})),
                )
                .await;
                let due = power.contains("write") && requested.is_subset(&power);
                assert_eq!(s == 201, due, "{trail}: power {power:?}, asked {requested:?}: {s} {b}");
                if s == 201 {
                    assert_eq!(scopes_of(&b["data"]["scopes"]), requested, "{trail}");
                    let plaintext = b["data"]["key"].as_str().unwrap().to_owned();
                    self.keys.push(Key { plaintext, creator, scopes: requested });
                    self.created += 1;
                }
            }
            Op::AppFromKey(n, requested, management) => {
                let parent = &self.keys[n % self.keys.len()];
                let (creator, requested) = (parent.creator, strings(requested));
                let power = self.power(creator, &parent.scopes);
                let body = json!({
                    "name": "machine", "grant_types": ["client_credentials"], "scopes": requested,
                    "management": management
                });
                let (s, b) = call(self.app, "POST", "/v1/apps", &parent.plaintext, Some(body)).await;
                let within = power.contains("write") && requested.is_subset(&power);
                if s == 201 {
                    assert!(within, "{trail}: an app beyond its maker's power {power:?}: {requested:?}");
                    let administrator = matches!(self.members[creator].role, Some(Role::Owner | Role::Admin));
                    if *management {
                        assert!(administrator, "{trail}: only an ADMIN or OWNER makes a management app");
                        self.apps.push(App {
                            client_id: b["data"]["client_id"].as_str().unwrap().to_owned(),
                            secret: b["data"]["client_secret"].as_str().unwrap().to_owned(),
                            creator,
                            scopes: requested,
                        });
                    }
                    self.created += 1;
                } else if !*management {
                    assert!(!within, "{trail}: refused within its maker's power {power:?}: {requested:?}: {s} {b}");
                }
            }
        }
    }

    /// Every credential holds exactly its due, now.
    async fn check(&self, trail: &str) {
        for (i, key) in self.keys.iter().enumerate() {
            let power = self.power(key.creator, &key.scopes);
            let (s, v) = call(self.app, "GET", "/v1/auth/validate", &key.plaintext, None).await;
            if self.members[key.creator].role.is_none() {
                assert!(s != 200 || scopes_of(&v["data"]["credential"]["scopes"]).is_empty(), "{trail}: key {i}: {v}");
            } else {
                assert_eq!(s, 200, "{trail}: key {i}: {v}");
                assert_eq!(scopes_of(&v["data"]["credential"]["scopes"]), power, "{trail}: key {i}");
            }
            let (s, b) = call(self.app, "GET", "/v1/audit-events?limit=1", &key.plaintext, None).await;
            assert_eq!(s == 200, power.contains("admin"), "{trail}: key {i} reading the audit log: {s} {b}");
        }
        for app in &self.apps {
            let res = reqwest::Client::new()
                .post(self.app.url("/oauth/token"))
                .basic_auth(&app.client_id, Some(&app.secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            let (s, t) = (res.status().as_u16(), res.json::<Value>().await.unwrap());
            if s != 200 {
                continue;
            }
            let token = t["access_token"].as_str().unwrap();
            let (s, v) = call(self.app, "GET", "/v1/auth/validate", token, None).await;
            let held = if s == 200 { scopes_of(&v["data"]["credential"]["scopes"]) } else { BTreeSet::new() };
            let power = self.power(app.creator, &app.scopes);
            assert!(held.is_subset(&power), "{trail}: a machine holds {held:?} beyond {power:?}");
            // It may hold `admin` (the audit log), but never changes a member:
            // not even the OWNER to OWNER, which would change nothing.
            let owner = format!("/v1/members/{}", self.members[0].user_id);
            let (s, b) = call(self.app, "PATCH", &owner, token, Some(json!({"role": "OWNER"}))).await;
            assert_eq!(s, 403, "{trail}: a machine never manages members: {b}");
            let (s, b) = call(self.app, "GET", "/v1/audit-events?limit=1", token, None).await;
            assert_eq!(s == 200, held.contains("admin"), "{trail}: a machine reading the audit log: {s} {b}");
        }
    }
}

#[actix_web::test]
async fn no_credential_ever_holds_more_than_its_members_current_role_allows() {
    let app = TestApp::spawn_with(|c| {
        c.api.rate_limit_per_minute = 60_000;
        c.api.rate_limit_burst = 10_000;
        c.password_hash.memory_kib = 1024;
    })
    .await;
    let mut runner = TestRunner::new(ProptestConfig { cases: 32, ..ProptestConfig::default() });
    let sequences = proptest::collection::vec(op(), 4..20);
    let mut created = 0;
    for case in 0..32 {
        let ops = sequences.new_tree(&mut runner).unwrap().current();
        let (owner, org) = app.user().create().await;
        let mut members = vec![Member { user_id: owner.id.clone(), role: Some(Role::Owner) }];
        for role in [Role::Admin, Role::Developer, Role::Viewer] {
            let (user, _) = app.user().org(&org.name).role(role).create().await;
            members.push(Member { user_id: user.id, role: Some(role) });
        }
        // Each member's own key with every broad scope, capped by the role.
        let mut keys = Vec::new();
        for (creator, m) in members.iter().enumerate() {
            let (_, plaintext) = app.secret_key(&org.id, &m.user_id, &BROAD).await;
            keys.push(Key { plaintext, creator, scopes: strings(&BROAD) });
        }
        let mut world = World { app: &app, members, keys, apps: Vec::new(), created: 0 };
        world.check(&format!("case {case}, at the start")).await;
        for (step, op) in ops.iter().enumerate() {
            let trail = format!("case {case}, step {step} of {ops:?}");
            world.apply(op, &trail).await;
            world.check(&trail).await;
        }
        created += world.created;
    }
    assert!(created > 0, "no sequence created anything: the model checked nothing");
}
