//! Rate limits shared through Redis: several instances allow the rate once,
//! not once each. Redis down: `open` limits on each instance alone,
//! `closed` answers 503; /readyz says which.
//!
//! The tests that need a real Redis read TEST_REDIS_URL (`.ci/run` starts
//! one and sets it); they are `#[ignore]`d, and fail when run without it.
//! The ones pointed at a closed port need nothing.

use portcullis::config::{Config, RedisFailure};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::api_apps::owner_key;
use crate::support::TestApp;

const NEEDS_REDIS: &str = "needs Redis: TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test -- --include-ignored";

fn redis_url() -> String {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("{NEEDS_REDIS}"),
    }
}

/// A prefix of this test's own, so tests sharing one Redis never meet.
fn own_prefix() -> String {
    format!("portcullis-test-{}", uuid::Uuid::new_v4().simple())
}

/// At one request a minute nothing refills while a test runs (unless it
/// takes a whole minute), so every count below is exact.
fn small_limits(c: &mut Config, redis_url: &str, prefix: &str, failure: RedisFailure) {
    c.api.rate_limit_per_minute = 1;
    c.api.rate_limit_burst = 5;
    c.api.unauthenticated_per_minute = 1;
    c.api.rate_limit_redis_url = Some(redis_url.to_owned());
    c.api.rate_limit_redis_prefix = prefix.to_owned();
    c.api.rate_limit_redis_failure = failure;
}

async fn get(app: &TestApp, path: &str, key: Option<&str>) -> (u16, HeaderMap, Value) {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[actix_web::test]
#[ignore = "needs Redis: TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test -- --include-ignored"]
async fn two_instances_allow_the_burst_once_between_them() {
    let (url, prefix) = (redis_url(), own_prefix());
    let first = TestApp::spawn_with(|c| {
        small_limits(c, &url, &prefix, RedisFailure::Closed);
        // A loaded machine must not turn a slow answer into a 503 here.
        c.api.rate_limit_redis_timeout_ms = 2_000;
    })
    .await;
    let second = first.second_instance().await;
    let (_, key) = owner_key(&first).await;

    // Alternating between the instances, the one burst of 5 is spent, and
    // each answer counts what both have taken.
    for (i, remaining) in ["4", "3", "2", "1", "0"].into_iter().enumerate() {
        let app = if i % 2 == 0 { &first } else { &second };
        let (s, h, b) = get(app, "/v1/auth/validate", Some(&key)).await;
        assert_eq!(s, 200, "request {i}: {b}");
        assert_eq!(header(&h, "x-ratelimit-limit"), "1");
        assert_eq!(header(&h, "x-ratelimit-remaining"), remaining, "request {i}");
        assert_eq!(header(&h, "x-ratelimit-reset"), ((i + 1) * 60).to_string(), "request {i}");
    }
    for app in [&second, &first] {
        let (s, h, b) = get(app, "/v1/auth/validate", Some(&key)).await;
        assert_eq!((s, b["error"]["code"].as_str()), (429, Some("RATE_LIMITED")), "{b}");
        let retry: u64 = header(&h, "retry-after").parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(header(&h, "x-ratelimit-remaining"), "0");
        assert_eq!(header(&h, "x-ratelimit-reset"), "300");
    }

    // Unauthenticated requests from one IP are shared too: one a minute.
    assert_eq!(get(&first, "/v1/openapi.json", None).await.0, 200);
    assert_eq!(get(&second, "/v1/openapi.json", None).await.0, 429);

    // The state is one theoretical arrival time per key, which expires.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:rl:*")).query_async(&mut con).await.unwrap();
    keys.sort();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys[0].starts_with(&format!("{prefix}:rl:1-5:")), "{keys:?}");
    assert_eq!(keys[1], format!("{prefix}:rl:ip:127.0.0.1"));
    for k in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(k).query_async(&mut con).await.unwrap();
        assert!(ttl > 0 && ttl <= 301_000, "{k}: {ttl}");
    }
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut con).await.unwrap();

    let (s, _, b) = get(&first, "/readyz", None).await;
    assert_eq!((s, b["redis"].as_str()), (200, Some("up")), "{b}");
}

/// Nothing listens on port 1.
const CLOSED_PORT: &str = "redis://127.0.0.1:1";

#[actix_web::test]
async fn redis_down_failing_open_limits_each_instance_alone() {
    let logs = crate::support::captured_logs();
    let prefix = own_prefix();
    let first = TestApp::spawn_with(|c| small_limits(c, CLOSED_PORT, &prefix, RedisFailure::Open)).await;
    let second = first.second_instance().await;
    let (_, key) = owner_key(&first).await;

    // Each instance allows the burst on its own, then limits.
    for app in [&first, &second] {
        for remaining in ["4", "3", "2", "1", "0"] {
            let (s, h, b) = get(app, "/v1/auth/validate", Some(&key)).await;
            assert_eq!(s, 200, "{b}");
            assert_eq!(header(&h, "x-ratelimit-remaining"), remaining);
        }
        let (s, h, b) = get(app, "/v1/auth/validate", Some(&key)).await;
        assert_eq!((s, b["error"]["code"].as_str()), (429, Some("RATE_LIMITED")), "{b}");
        assert!(!header(&h, "retry-after").is_empty());
    }

    // Ready, since it serves, and it says Redis is down.
    let (s, _, b) = get(&first, "/readyz", None).await;
    assert_eq!((s, b["status"].as_str(), b["redis"].as_str()), (200, Some("ready"), Some("down")), "{b}");

    // One warning per instance, at the first failure, not one per request.
    let warned = logs.text().lines().filter(|l| l.contains("WARN") && l.contains(&prefix)).count();
    assert_eq!(warned, 2, "{}", logs.text());
}

#[actix_web::test]
async fn redis_down_failing_closed_answers_503_and_is_not_ready() {
    let prefix = own_prefix();
    let app = TestApp::spawn_with(|c| small_limits(c, CLOSED_PORT, &prefix, RedisFailure::Closed)).await;
    let (_, key) = owner_key(&app).await;

    for key in [Some(key.as_str()), None] {
        let (s, h, b) = get(&app, "/v1/auth/validate", key).await;
        assert_eq!((s, b["success"].as_bool()), (503, Some(false)), "{b}");
        assert_eq!(b["error"]["code"], "SERVICE_UNAVAILABLE");
        let retry: u64 = header(&h, "retry-after").parse().unwrap();
        assert!(retry >= 1, "{retry}");
    }

    let (s, h, b) = get(&app, "/readyz", None).await;
    assert_eq!((s, b["reason"].as_str()), (503, Some("redis not answering")), "{b}");
    assert!(!header(&h, "retry-after").is_empty());
}

/// A TCP relay to Redis that a test can cut (closing every connection and
/// refusing new ones) and restore.
struct Relay {
    url: String,
    up: tokio::sync::watch::Sender<bool>,
}

async fn relay_to(redis_url: &str) -> Relay {
    let target = redis::Client::open(redis_url).unwrap().get_connection_info().addr().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let (up, watch) = tokio::sync::watch::channel(true);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let (mut watch, target) = (watch.clone(), target.clone());
            tokio::spawn(async move {
                if !*watch.borrow() {
                    return;
                }
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = watch.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    Relay { url, up }
}

#[actix_web::test]
#[ignore = "needs Redis: TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test -- --include-ignored"]
async fn an_outage_is_logged_once_and_the_limits_are_shared_again_when_redis_returns() {
    let logs = crate::support::captured_logs();
    let (relay, prefix) = (relay_to(&redis_url()).await, own_prefix());
    let app = TestApp::spawn_with(|c| {
        small_limits(c, &relay.url, &prefix, RedisFailure::Open);
        c.api.rate_limit_redis_timeout_ms = 2_000;
    })
    .await;
    let (_, key) = owner_key(&app).await;
    let remaining =
        async || header(&get(&app, "/v1/auth/validate", Some(&key)).await.1, "x-ratelimit-remaining").to_owned();
    let said = |what: &str| logs.text().lines().filter(|l| l.contains(&prefix) && l.contains(what)).count();

    assert_eq!(remaining().await, "4", "counted in Redis");
    relay.up.send_replace(false);
    // Counted on this instance alone, which has seen none of them yet.
    assert_eq!(remaining().await, "4");
    assert_eq!(remaining().await, "3");
    assert_eq!(said("failed"), 1, "{}", logs.text());
    let (s, _, b) = get(&app, "/readyz", None).await;
    assert_eq!((s, b["redis"].as_str()), (200, Some("down")), "{b}");

    relay.up.send_replace(true);
    let mut back = false;
    for _ in 0..200 {
        if get(&app, "/readyz", None).await.2["redis"] == "up" {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(back, "Redis never answered /readyz again");
    // Redis's count goes on where it was (this instance's would say 2).
    assert_eq!(remaining().await, "3");
    assert_eq!((said("failed"), said("answers again")), (1, 1), "{}", logs.text());
}
