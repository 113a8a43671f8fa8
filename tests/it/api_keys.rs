//! API keys through /v1: every error code with its exact body, shown once,
//! listed masked, scopes within the creator's role, organizations kept
//! apart, revocation and expiry on the next request, rolling, rate limits.

use chrono::Duration;
use portcullis::accounts::{Organization, Role, User};
use portcullis::apikeys::{Environment, KeyKind};
use serde_json::{Value, json};

use crate::support::TestApp;

struct Caller {
    user: User,
    org: Organization,
}

impl TestApp {
    async fn member(&self, role: Role, org: Option<&Organization>) -> Caller {
        let mut b = self.user().role(role);
        if let Some(o) = org {
            b = b.org(&o.name);
        }
        let (user, org) = b.create().await;
        Caller { user, org }
    }

    async fn key(&self, caller: &Caller, scopes: &[&str]) -> (String, String) {
        self.secret_key(&caller.org.id, &caller.user.id, scopes).await
    }

    async fn api(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = reqwest::Client::new().request(method.parse().unwrap(), self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.json().await.unwrap_or(Value::Null))
    }
}

/// The error envelope, with the request id taken from the response header.
pub(crate) fn envelope(headers: &reqwest::header::HeaderMap, code: &str, message: &str, details: Value) -> Value {
    let request_id = headers["x-request-id"].to_str().unwrap();
    json!({"success": false, "error": {"code": code, "message": message, "details": details, "request_id": request_id}})
}

#[actix_web::test]
async fn missing_invalid_and_malformed_credentials_get_exact_401s() {
    let app = TestApp::spawn().await;
    let (s, h, b) = app.api("GET", "/v1/api-keys", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(b, envelope(&h, "MISSING_API_KEY", "API key is required.", json!({"header": "Authorization"})));
    assert_eq!(h["www-authenticate"], "Bearer realm=\"portcullis\"");

    let owner = app.member(Role::Owner, None).await;
    let (_, key) = app.key(&owner, &["read"]).await;
    let mut typo = key.clone().into_bytes();
    typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let unknown = portcullis::apikeys::format::generate(app.state.api_keys.words(), KeyKind::Secret, Environment::Live);
    for bad in [typo.as_str(), unknown.as_str(), "not-a-key", "a.b.c"] {
        let (s, h, b) = app.api("GET", "/v1/api-keys", Some(bad), None).await;
        assert_eq!(s, 401, "{bad}");
        let message = if bad == "a.b.c" {
            "The provided access token is invalid, expired, or not for the management API."
        } else {
            "The provided API key is invalid."
        };
        assert_eq!(b, envelope(&h, "INVALID_API_KEY", message, json!({})), "{bad}");
        assert!(h["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    }
}

#[actix_web::test]
async fn a_key_is_shown_once_and_listed_masked() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, admin_key) = app.key(&owner, &["read", "write"]).await;
    let (s, _, b) = app
        .api(
            "POST",
            "/v1/api-keys",
            Some(&admin_key),
            Some(json!({"name": "CI", "environment": "test", "scopes": ["read"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let plaintext = b["data"]["key"].as_str().unwrap().to_owned();
    assert!(plaintext.starts_with("sk_test_"));
    assert_eq!(b["data"]["prefix"], "sk_test_");
    assert_eq!(b["data"]["last_four"], json!(&plaintext[plaintext.len() - 4..]));
    let id = b["data"]["id"].as_str().unwrap().to_owned();

    let (_, _, list) = app.api("GET", "/v1/api-keys", Some(&admin_key), None).await;
    let text = list.to_string();
    assert!(!text.contains(&plaintext), "the list shows the key");
    assert!(list["data"].as_array().unwrap().iter().all(|k| k.get("key").is_none()));
    let (_, _, one) = app.api("GET", &format!("/v1/api-keys/{id}"), Some(&admin_key), None).await;
    assert_eq!(one["data"]["masked"], json!(format!("sk_test_…{}", &plaintext[plaintext.len() - 4..])));
    assert!(one["data"].get("key").is_none());
    // The new key works, with its own scopes.
    let (s, _, v) = app.api("GET", "/v1/auth/validate", Some(&plaintext), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["credential"]["environment"], "test");
    assert_eq!(v["data"]["credential"]["livemode"], false);
    assert_eq!(v["data"]["user"]["email"], json!(owner.user.email));
    assert_eq!(v["data"]["organization"]["name"], json!(owner.org.name));
}

#[actix_web::test]
async fn scopes_are_capped_by_the_creators_role_and_follow_it() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let viewer = app.member(Role::Viewer, Some(&owner.org)).await;
    let (_, viewer_key) = app.key(&viewer, &["read", "write", "delete"]).await;
    let (s, _, _) = app.api("GET", "/v1/api-keys", Some(&viewer_key), None).await;
    assert_eq!(s, 200);
    let (s, h, b) =
        app.api("POST", "/v1/api-keys", Some(&viewer_key), Some(json!({"name": "x", "scopes": ["read"]}))).await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        envelope(
            &h,
            "INSUFFICIENT_SCOPE",
            "This credential lacks the write scope.",
            json!({"required_scope": "write"})
        )
    );
    assert_eq!(h["www-authenticate"], "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"write\"");
    let (_, _, v) = app.api("GET", "/v1/auth/validate", Some(&viewer_key), None).await;
    assert_eq!(v["data"]["credential"]["scopes"], json!(["read"]));
    assert_eq!(v["data"]["role"], "VIEWER");

    // The creator leaves the organization: the key loses its power.
    use diesel::prelude::*;
    use portcullis::store::schema::memberships;
    let uid = viewer.user.id.clone();
    app.state
        .store
        .run(move |c| Ok(diesel::delete(memberships::table.filter(memberships::user_id.eq(uid))).execute(c)?))
        .await
        .unwrap();
    // Made past the server, as the CLI or another instance would: the
    // database's trigger logs it, and the next read of the log drops the key.
    let changes = app.state.changes.clone();
    tokio::task::spawn_blocking(move || changes.catch_up()).await.unwrap().unwrap();
    let (s, _, b) = app.api("GET", "/v1/api-keys", Some(&viewer_key), None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("INSUFFICIENT_SCOPE")));
}

#[actix_web::test]
async fn organizations_are_kept_apart() {
    let app = TestApp::spawn().await;
    let a = app.member(Role::Owner, None).await;
    let b = app.member(Role::Owner, None).await;
    let (_, key_a) = app.key(&a, &["read", "write", "delete"]).await;
    let (id_b, _) = app.key(&b, &["read"]).await;
    for (method, path) in [
        ("GET", format!("/v1/api-keys/{id_b}")),
        ("PATCH", format!("/v1/api-keys/{id_b}")),
        ("DELETE", format!("/v1/api-keys/{id_b}")),
        ("POST", format!("/v1/api-keys/{id_b}/roll")),
    ] {
        let body = (method == "PATCH").then(|| json!({"name": "mine now"}));
        let (s, h, body) = app.api(method, &path, Some(&key_a), body).await;
        assert_eq!(s, 404, "{method} {path}");
        assert_eq!(body, envelope(&h, "NOT_FOUND", "No such API key.", json!({})));
    }
    let (_, _, list) = app.api("GET", "/v1/api-keys", Some(&key_a), None).await;
    assert!(!list.to_string().contains(&id_b));
}

#[actix_web::test]
async fn revocation_and_expiry_take_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, admin) = app.key(&owner, &["read", "write", "delete"]).await;
    let (s, _, b) = app
        .api(
            "POST",
            "/v1/api-keys",
            Some(&admin),
            Some(json!({"name": "short", "scopes": ["read"], "expires_at": "2026-01-01T13:00:00Z"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (id, short) = (b["data"]["id"].as_str().unwrap().to_owned(), b["data"]["key"].as_str().unwrap().to_owned());
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&short), None).await.0, 200);
    app.clock.advance(Duration::hours(1));
    let (s, h, b) = app.api("GET", "/v1/auth/validate", Some(&short), None).await;
    assert_eq!(s, 401);
    assert_eq!(
        b,
        envelope(
            &h,
            "EXPIRED_API_KEY",
            "The API key has expired.",
            json!({"key_id": id, "expired_at": "2026-01-01T13:00:00Z"})
        )
    );

    let (victim_id, victim) = app.key(&owner, &["read"]).await;
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&victim), None).await.0, 200);
    let (s, _, b) = app.api("DELETE", &format!("/v1/api-keys/{victim_id}"), Some(&admin), None).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["revoked_at"], "2026-01-01T13:00:00Z");
    let (s, h, b) = app.api("GET", "/v1/auth/validate", Some(&victim), None).await;
    assert_eq!(s, 401);
    assert_eq!(
        b,
        envelope(
            &h,
            "REVOKED_API_KEY",
            "The API key has been revoked.",
            json!({"key_id": victim_id, "revoked_at": "2026-01-01T13:00:00Z"})
        )
    );
    // Revoked keys cannot be brought back or changed.
    let (s, _, b) =
        app.api("PATCH", &format!("/v1/api-keys/{victim_id}"), Some(&admin), Some(json!({"name": "again"}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")));
}

#[actix_web::test]
async fn rolling_keeps_the_old_key_for_the_overlap_only() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, admin) = app.key(&owner, &["read", "write"]).await;
    let (old_id, old) = app.key(&owner, &["read"]).await;
    let (s, _, b) =
        app.api("POST", &format!("/v1/api-keys/{old_id}/roll"), Some(&admin), Some(json!({"expires_in": 3600}))).await;
    assert_eq!(s, 201, "{b}");
    let new = b["data"]["new_key"]["key"].as_str().unwrap().to_owned();
    assert_eq!(b["data"]["new_key"]["rolled_from"], json!(old_id));
    assert_eq!(b["data"]["old_key"]["expires_at"], "2026-01-01T13:00:00Z");
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&old), None).await.0, 200);
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&new), None).await.0, 200);
    app.clock.advance(Duration::seconds(3600));
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&old), None).await.2["error"]["code"], "EXPIRED_API_KEY");
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&new), None).await.0, 200);

    // The default overlap is 24 h; 0 ends the old key at once.
    let (id2, key2) = app.key(&owner, &["read"]).await;
    let (_, _, b) = app.api("POST", &format!("/v1/api-keys/{id2}/roll"), Some(&admin), None).await;
    assert_eq!(b["data"]["old_key"]["expires_at"], "2026-01-02T13:00:00Z");
    let (id3, key3) = app.key(&owner, &["read"]).await;
    app.api("POST", &format!("/v1/api-keys/{id3}/roll"), Some(&admin), Some(json!({"expires_in": 0}))).await;
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&key3), None).await.0, 401);
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&key2), None).await.0, 200);
}

#[actix_web::test]
async fn developers_manage_only_their_own_keys() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let dev = app.member(Role::Developer, Some(&owner.org)).await;
    let (owners_id, _) = app.key(&owner, &["read"]).await;
    let (_, dev_key) = app.key(&dev, &["read", "write", "delete"]).await;
    let (s, _, _) = app.api("DELETE", &format!("/v1/api-keys/{owners_id}"), Some(&dev_key), None).await;
    assert_eq!(s, 403);
    let (s, _, b) =
        app.api("POST", "/v1/api-keys", Some(&dev_key), Some(json!({"name": "mine", "scopes": ["read"]}))).await;
    assert_eq!(s, 201);
    let mine = b["data"]["id"].as_str().unwrap();
    let (s, _, b) = app
        .api("PATCH", &format!("/v1/api-keys/{mine}"), Some(&dev_key), Some(json!({"scopes": ["read", "write"]})))
        .await;
    assert_eq!((s, b["error"]["message"].as_str()), (400, Some("scopes can only be narrowed; \"write\" is new")));
    let (s, _, _) = app.api("DELETE", &format!("/v1/api-keys/{mine}"), Some(&dev_key), None).await;
    assert_eq!(s, 200);
}

#[actix_web::test]
async fn bad_bodies_and_queries_are_validation_errors() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, key) = app.key(&owner, &["read", "write"]).await;
    for body in [
        json!({"name": "x"}),
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "scopes": ["root"]}),
        json!({"name": "", "scopes": ["read"]}),
        json!({"name": "x", "scopes": ["read"], "environment": "prod"}),
        json!({"name": "x", "scopes": ["read"], "type": "restricted"}),
        json!({"name": "x", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z"}),
        json!({"name": "x", "scopes": ["read"], "color": "blue"}),
    ] {
        let (s, h, b) = app.api("POST", "/v1/api-keys", Some(&key), Some(body.clone())).await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(b["error"]["code"], "VALIDATION_ERROR", "{body}");
        assert_eq!(b["error"]["request_id"], json!(h["x-request-id"].to_str().unwrap()));
    }
    let (s, _, b) = app.api("GET", "/v1/api-keys?limit=0", Some(&key), None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")));
    let res = reqwest::Client::new()
        .post(app.url("/v1/api-keys"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (s, _, b) = app.api("GET", "/v1/nothing-here", Some(&key), None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("NOT_FOUND")));
}

#[actix_web::test]
async fn restricted_keys_use_resource_scopes() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, key) = app.key(&owner, &["read", "write"]).await;
    let (s, _, b) = app
        .api(
            "POST",
            "/v1/api-keys",
            Some(&key),
            Some(json!({"name": "ro", "type": "restricted", "scopes": ["keys:read"]})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let rk = b["data"]["key"].as_str().unwrap().to_owned();
    assert!(rk.starts_with("rk_live_"));
    assert_eq!(app.api("GET", "/v1/api-keys", Some(&rk), None).await.0, 200);
    assert_eq!(app.api("POST", "/v1/api-keys", Some(&rk), Some(json!({"name": "x", "scopes": ["read"]}))).await.0, 403);
}

#[actix_web::test]
async fn keys_are_accepted_as_bearer_basic_and_x_api_key() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, key) = app.key(&owner, &["read"]).await;
    let http = reqwest::Client::new();
    let url = app.url("/v1/auth/validate");
    for req in [
        http.get(&url).bearer_auth(&key),
        http.get(&url).basic_auth(&key, None::<&str>),
        http.get(&url).header("x-api-key", &key),
    ] {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
}

#[actix_web::test]
async fn management_apps_act_on_v1_with_their_scopes_and_ordinary_machines_do_not() {
    let app = TestApp::spawn().await;
    let ordinary = app.oauth_client().await.create().await;
    let (_, _, token) = crate::oauth_support::post_form(
        &app,
        "/oauth/token",
        &ordinary,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    let (s, _, v) = app.api("GET", "/v1/auth/validate", token["access_token"].as_str(), None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("INVALID_API_KEY")), "{v}");

    let reg = app.oauth_client().await.management().create().await;
    let (_, _, token) = crate::oauth_support::post_form(
        &app,
        "/oauth/token",
        &reg,
        &[("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    let at = token["access_token"].as_str().unwrap();
    let (s, _, v) = app.api("GET", "/v1/auth/validate", Some(at), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["credential"]["type"], "management_app");
    assert_eq!(v["data"]["role"], "OWNER", "acts for the member who created it");
    assert_eq!(v["data"]["organization"]["id"], json!(reg.client.organization_id));
    assert_eq!(app.api("GET", "/v1/api-keys", Some(at), None).await.0, 200);
    assert_eq!(app.api("POST", "/v1/api-keys", Some(at), Some(json!({"name": "x", "scopes": ["read"]}))).await.0, 403);
    // Revoked: the next request fails.
    crate::oauth_support::post_form(&app, "/oauth/revoke", &reg, &[("token", at)]).await;
    let (s, _, b) = app.api("GET", "/v1/auth/validate", Some(at), None).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("REVOKED_API_KEY")));
}

#[actix_web::test]
async fn rate_limit_headers_and_429() {
    // The limiter runs on the wall clock (governor's), not the test clock:
    // at one request a minute nothing refills while this test runs, unless
    // it takes a whole minute, so every count below is exact.
    let app = TestApp::spawn_with(|c| {
        c.api.rate_limit_per_minute = 1;
        c.api.rate_limit_burst = 3;
        c.api.unauthenticated_per_minute = 1;
    })
    .await;
    let owner = app.member(Role::Owner, None).await;
    let (_, key) = app.key(&owner, &["read"]).await;
    for (remaining, reset) in [(2, "60"), (1, "120"), (0, "180")] {
        let (s, h, _) = app.api("GET", "/v1/auth/validate", Some(&key), None).await;
        assert_eq!(s, 200);
        assert_eq!(h["x-ratelimit-limit"], "1");
        assert_eq!(h["x-ratelimit-remaining"], remaining.to_string().as_str());
        assert_eq!(h["x-ratelimit-reset"], reset, "seconds until the burst is whole again");
    }
    let (s, h, b) = app.api("GET", "/v1/auth/validate", Some(&key), None).await;
    assert_eq!(s, 429);
    assert_eq!(b["error"]["code"], "RATE_LIMITED");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    // Unauthenticated requests are limited per IP.
    assert_eq!(app.api("GET", "/v1/api-keys", None, None).await.0, 401);
    assert_eq!(app.api("GET", "/v1/api-keys", None, None).await.0, 429);
    // Public endpoints carry the headers too, counted per IP (now spent).
    let (s, h, _) = app.api("GET", "/v1/openapi.json", None, None).await;
    assert_eq!((s, h["x-ratelimit-limit"].to_str().unwrap()), (429, "1"));
    assert_eq!(h["x-ratelimit-remaining"], "0");
}

#[actix_web::test]
async fn pagination_walks_every_key_once() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, key) = app.key(&owner, &["read"]).await;
    for _ in 0..4 {
        app.key(&owner, &["read"]).await;
        app.clock.advance(Duration::seconds(1));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/api-keys?limit=2&starting_after={c}"),
            None => "/v1/api-keys?limit=2".into(),
        };
        let (s, _, b) = app.api("GET", &path, Some(&key), None).await;
        assert_eq!(s, 200);
        for k in b["data"].as_array().unwrap() {
            seen.push(k["id"].as_str().unwrap().to_owned());
        }
        if b["has_more"] == false {
            assert_eq!(b["next_cursor"], Value::Null);
            break;
        }
        cursor = b["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 5);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5);
}

#[actix_web::test]
async fn verifying_writes_nothing_and_last_use_is_batched() {
    use diesel::prelude::*;
    use portcullis::store::schema::api_keys;
    let app = TestApp::spawn_with(|c| c.change_poll_interval_ms = 3_600_000).await;
    let owner = app.member(Role::Owner, None).await;
    let (id, key) = app.key(&owner, &["read"]).await;
    let last_used = |app: &TestApp, id: String| {
        let store = app.state.store.clone();
        async move {
            store
                .run(move |c| {
                    Ok(api_keys::table
                        .find(id)
                        .select(api_keys::last_used_at)
                        .first::<Option<chrono::NaiveDateTime>>(c)?)
                })
                .await
                .unwrap()
        }
    };
    for _ in 0..3 {
        assert_eq!(app.api("GET", "/v1/auth/validate", Some(&key), None).await.0, 200);
    }
    assert_eq!(last_used(&app, id.clone()).await, None, "the request path wrote nothing");
    let s = app.state.clone();
    assert_eq!(tokio::task::spawn_blocking(move || s.api_keys.flush_uses()).await.unwrap().unwrap(), 1);
    assert_eq!(last_used(&app, id.clone()).await.map(|t| t.and_utc()), Some(app.state.clock.now()));
    // Within the minute, further uses are not written again.
    app.api("GET", "/v1/auth/validate", Some(&key), None).await;
    let s = app.state.clone();
    assert_eq!(tokio::task::spawn_blocking(move || s.api_keys.flush_uses()).await.unwrap().unwrap(), 0);
}

#[actix_web::test]
async fn resource_servers_introspect_api_keys() {
    for refuse_test_keys in [false, true] {
        let app = TestApp::spawn_with(|c| c.api.refuse_test_keys = refuse_test_keys).await;
        let owner = app.member(Role::Owner, None).await;
        let rs = app.oauth_client().await.in_org(&owner.org.id).resource_server().create().await;
        let plain = app.oauth_client().await.in_org(&owner.org.id).create().await;
        let foreign_rs = app.oauth_client().await.resource_server().create().await;
        let (id, live) = app.key(&owner, &["read", "write", "delete"]).await;
        // Another organization's resource server learns nothing of the key.
        let (_, _, b) =
            crate::oauth_support::post_form(&app, "/oauth/introspect", &foreign_rs, &[("token", &live)]).await;
        assert_eq!(b, json!({"active": false}));
        let (_, _, b) = crate::oauth_support::post_form(&app, "/oauth/introspect", &rs, &[("token", &live)]).await;
        assert_eq!(b["active"], true);
        assert_eq!(b["token_type"], "api_key");
        assert_eq!(b["key_id"], json!(id));
        assert_eq!(b["org_id"], json!(owner.org.id));
        assert_eq!(b["livemode"], true);
        assert_eq!(b["scope"], "delete read write");
        // A client that is not a resource server learns nothing.
        let (_, _, b) = crate::oauth_support::post_form(&app, "/oauth/introspect", &plain, &[("token", &live)]).await;
        assert_eq!(b, json!({"active": false}));

        let (s, _, created) = app
            .api(
                "POST",
                "/v1/api-keys",
                Some(&live),
                Some(json!({"name": "t", "environment": "test", "scopes": ["read"]})),
            )
            .await;
        assert_eq!(s, 201);
        let test_key = created["data"]["key"].as_str().unwrap();
        let (_, _, b) = crate::oauth_support::post_form(&app, "/oauth/introspect", &rs, &[("token", test_key)]).await;
        assert_eq!(b["active"], json!(!refuse_test_keys), "refuse_test_keys={refuse_test_keys}");

        assert_eq!(app.api("DELETE", &format!("/v1/api-keys/{id}"), Some(&live), None).await.0, 200);
        let (_, _, b) = crate::oauth_support::post_form(&app, "/oauth/introspect", &rs, &[("token", &live)]).await;
        assert_eq!(b, json!({"active": false}), "revoked");
    }
}

#[actix_web::test]
async fn audit_events_record_who_did_what_from_where() {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, admin) = app.key(&owner, &["read", "write", "delete", "admin"]).await;
    let (s, created_headers, b) =
        app.api("POST", "/v1/api-keys", Some(&admin), Some(json!({"name": "audited", "scopes": ["read"]}))).await;
    assert_eq!(s, 201);
    let (id, key) = (b["data"]["id"].as_str().unwrap().to_owned(), b["data"]["key"].as_str().unwrap().to_owned());
    app.api("POST", &format!("/v1/api-keys/{id}/roll"), Some(&admin), Some(json!({"expires_in": 0}))).await;
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&key), None).await.0, 401); // expired by the roll
    let rolled_list = app.api("GET", "/v1/api-keys?limit=1", Some(&admin), None).await.2;
    let new_id = rolled_list["data"][0]["id"].as_str().unwrap().to_owned();
    app.api("DELETE", &format!("/v1/api-keys/{new_id}"), Some(&admin), None).await;
    assert_eq!(app.login(&app.new_browser(), &owner.user.email, "wrong password").await.status(), 400);
    // Recorded in the background, so that a known account answers as fast as an unknown one.
    assert_eq!(crate::support::audit_events_eventually(&app, &owner.org.id, "login.failed").await.len(), 1);

    let (s, _, log) = app.api("GET", "/v1/audit-events", Some(&admin), None).await;
    assert_eq!(s, 200, "{log}");
    let events = log["data"].as_array().unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["login.failed", "api_key.revoked", "api_key.used_expired", "api_key.rolled", "api_key.created"]
    );
    let created = events.iter().find(|e| e["action"] == "api_key.created").unwrap();
    assert_eq!(created["target"], json!(id));
    assert!(created["actor"].as_str().unwrap().starts_with("api_key:key_"));
    assert_eq!(created["request_id"], json!(created_headers["x-request-id"].to_str().unwrap()));
    assert_eq!(created["ip"], "127.0.0.1");
    assert_eq!(created["details"]["name"], "audited");
    assert_eq!(events[0]["actor"], json!(format!("user:{}", owner.user.id)));

    // Reading the log takes admin (or audit:read).
    let (_, reader) = app.key(&owner, &["read"]).await;
    assert_eq!(app.api("GET", "/v1/audit-events", Some(&reader), None).await.0, 403);
    // Other organizations see none of it.
    let other = app.member(Role::Owner, None).await;
    let (_, other_admin) = app.key(&other, &["read", "admin"]).await;
    let (_, _, theirs) = app.api("GET", "/v1/audit-events", Some(&other_admin), None).await;
    assert_eq!(theirs["data"], json!([]));
}

/// An app with an OWNER, and the OWNER's key to change their keys with.
async fn owner_with_admin_key() -> (TestApp, Caller, String) {
    let app = TestApp::spawn().await;
    let owner = app.member(Role::Owner, None).await;
    let (_, admin) = app.key(&owner, &["read", "write"]).await;
    (app, owner, admin)
}

#[actix_web::test]
async fn a_body_is_one_json_object_of_its_fields() {
    let (app, owner, admin) = owner_with_admin_key().await;
    let (id, _) = app.key(&owner, &["read"]).await;
    // serde reads a struct from an array of its fields in order: this was a
    // rename, answered 200, though the document asks for an object.
    let path = format!("/v1/api-keys/{id}");
    let (s, h, b) = app.api("PATCH", &path, Some(&admin), Some(json!(["renamed", null]))).await;
    assert_eq!(s, 400);
    assert_eq!(b, envelope(&h, "VALIDATION_ERROR", "Invalid JSON body: expected a JSON object", json!({})));
    assert_eq!(app.api("GET", &path, Some(&admin), None).await.2["data"]["name"], "test key");
}

#[actix_web::test]
async fn a_bad_roll_body_is_refused_not_read_as_no_body() {
    let (app, owner, admin) = owner_with_admin_key().await;
    let (id, old) = app.key(&owner, &["read"]).await;
    let roll = format!("/v1/api-keys/{id}/roll");
    // A misspelt field made the body "absent": the roll kept the old key a
    // day where the caller asked to end it now.
    let (s, h, b) = app.api("POST", &roll, Some(&admin), Some(json!({"expires_in": 0, "expire": true}))).await;
    assert_eq!(s, 400);
    let message = "Invalid JSON body: unknown field `expire`, expected `expires_in`";
    assert_eq!(b, envelope(&h, "VALIDATION_ERROR", message, json!({})));
    let (s, _, b) = app.api("POST", &roll, Some(&admin), Some(json!({"expires_in": "0"}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
    let (s, _, b) = app.api("POST", &roll, Some(&admin), Some(json!({"expires_in": 0.5}))).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("VALIDATION_ERROR")), "{b}");
    // Nothing was rolled: the old key has no end.
    assert_eq!(
        app.api("GET", &format!("/v1/api-keys/{id}"), Some(&admin), None).await.2["data"]["expires_at"],
        Value::Null
    );
    assert_eq!(app.api("GET", "/v1/auth/validate", Some(&old), None).await.0, 200);

    // A JSON integer may carry a zero fraction (JSON Schema's `integer`).
    let (s, _, b) = app.api("POST", &roll, Some(&admin), Some(json!({"expires_in": 3600.0}))).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["old_key"]["expires_at"], "2026-01-01T13:00:00Z");
    // `null` is no body, as an empty one is: the default overlap.
    let (id2, _) = app.key(&owner, &["read"]).await;
    let (s, _, b) = app.api("POST", &format!("/v1/api-keys/{id2}/roll"), Some(&admin), Some(Value::Null)).await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["old_key"]["expires_at"], "2026-01-02T12:00:00Z");
}
