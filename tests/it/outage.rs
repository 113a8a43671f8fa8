//! The database goes away under load and comes back. Every request that
//! needs it is answered quickly with "try again" (503 in each endpoint's
//! own error shape), threads do not pile up, `/readyz` says 503, and when
//! the database returns, service resumes without a restart.
//!
//! PostgreSQL is cut off two ways through a relay: refused (connections
//! reset: a stopped server) and silent (nothing answers, nothing is
//! refused: a network partition). SQLite is locked by another process's
//! write transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::oauth_support::Registered;
use crate::support::{TestApp, on_postgres};

const FORWARD: u8 = 0;
/// Connections reset, new ones refused at once.
const REFUSE: u8 = 1;
/// Nothing forwarded, nothing closed: a partition.
const SILENT: u8 = 2;

/// A TCP relay to PostgreSQL whose state the test sets.
struct Relay {
    port: u16,
    state: Arc<AtomicU8>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(AtomicU8::new(FORWARD));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (target, state) = (target.clone(), shared.clone());
                tokio::spawn(relay(inbound, target, state));
            }
        });
        Self { port, state, accept }
    }

    fn set(&self, state: u8) {
        self.state.store(state, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One relayed connection: forwarded while the state is FORWARD; on
/// REFUSE both sides are dropped (reset); on SILENT both are held open and
/// nothing passes until the state changes, then they are dropped.
async fn relay(mut inbound: tokio::net::TcpStream, target: String, state: Arc<AtomicU8>) {
    let changed = |from: u8| {
        let state = state.clone();
        async move {
            while state.load(Ordering::SeqCst) == from {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    match state.load(Ordering::SeqCst) {
        REFUSE => return,
        SILENT => return changed(SILENT).await,
        _ => {}
    }
    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = changed(FORWARD) => {
            if state.load(Ordering::SeqCst) == SILENT {
                changed(SILENT).await;
            }
        }
    }
}

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
}

/// What a burst of requests that all need the database got: for each, its
/// status, its body, and how long it took.
async fn burst(app: &TestApp, key: &str, reg: &Registered) -> Vec<(String, u16, Value, Duration)> {
    let mut tasks = Vec::new();
    for i in 0..48 {
        let (client, base, key) = (reqwest::Client::new(), app.base.clone(), key.to_owned());
        let (id, secret) = (reg.client.client_id.clone(), reg.secret.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let (what, req) = match i % 3 {
                0 => (
                    "POST /v1/api-keys",
                    client
                        .post(format!("{base}/v1/api-keys"))
                        .bearer_auth(&key)
                        .json(&serde_json::json!({"name": format!("outage {i}"), "scopes": ["read"]})),
                ),
                1 => ("GET /v1/api-keys", client.get(format!("{base}/v1/api-keys")).bearer_auth(&key)),
                _ => (
                    "POST /oauth/token",
                    client.post(format!("{base}/oauth/token")).basic_auth(id, secret).form(&[
                        ("grant_type", "authorization_code"),
                        ("code", "no-such-code-at-all-000000000000000000000000"),
                        ("code_verifier", "v".repeat(43).as_str()),
                    ]),
                ),
            };
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            (what.to_owned(), status, serde_json::from_str(&text).unwrap_or(Value::String(text)), started.elapsed())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Every answer says "try again" in its own shape, within `bound`.
fn all_try_again(answers: &[(String, u16, Value, Duration)], bound: Duration, during: &str) -> Duration {
    let mut slowest = Duration::ZERO;
    for (what, status, body, took) in answers {
        assert_eq!(*status, 503, "{during}: {what}: {body}");
        if what.starts_with("POST /v1") || what.starts_with("GET /v1") {
            assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{during}: {what}");
        } else {
            assert_eq!(body["error"], "temporarily_unavailable", "{during}: {what}");
        }
        assert!(*took <= bound, "{during}: {what} took {took:?}");
        slowest = slowest.max(*took);
    }
    slowest
}

async fn readyz(app: &TestApp) -> u16 {
    reqwest::get(app.url("/readyz")).await.unwrap().status().as_u16()
}

/// Asks until a write succeeds again; returns how long that took.
async fn recovered(app: &TestApp, key: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let res = reqwest::Client::new()
            .post(app.url("/v1/api-keys"))
            .bearer_auth(key)
            .json(&serde_json::json!({"name": "after", "scopes": ["read"]}))
            .send()
            .await
            .unwrap();
        if res.status() == 201 {
            assert_eq!(readyz(app).await, 200);
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "not back after {within:?}: {}", res.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_database_outage_under_load_is_answered_at_once_and_survived() {
    if on_postgres() { postgres_cut_off_under_load().await } else { sqlite_locked_under_load().await }
}

async fn postgres_cut_off_under_load() {
    let admin = url::Url::parse(&std::env::var("TEST_DATABASE_URL").unwrap()).unwrap();
    let relay = Relay::start(format!("{}:{}", admin.host_str().unwrap(), admin.port().unwrap_or(5432))).await;
    let port = relay.port;
    let app = TestApp::spawn_with(|c| {
        let mut u = url::Url::parse(&c.database_url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(port)).unwrap();
        c.database_url = u.to_string();
        c.pool_timeout_secs = 1;
        c.pool_size = 4;
        c.workers = Some(2);
        c.api.rate_limit_per_minute = 60_000;
        c.api.rate_limit_burst = 10_000;
    })
    .await;
    let (user, org) = app.user().create().await;
    let (_, key) = app.secret_key(&org.id, &user.id, &["read", "write"]).await;
    let reg = app.oauth_client().await.create().await;
    assert_eq!(burst(&app, &key, &reg).await.iter().filter(|a| a.1 >= 500).count(), 0, "all well before the outage");

    // A refused connection fails at once: the pool's wait (1 s) bounds a
    // request. A silent database is waited for at most 2 s per step of a
    // request (the pool's wait, then as long again for an answer), and a
    // key's creation takes three.
    for (state, name, bound) in [(REFUSE, "refused", 3), (SILENT, "silent", 8)] {
        let before = threads();
        relay.set(state);
        let answers = burst(&app, &key, &reg).await;
        let slowest = all_try_again(&answers, Duration::from_secs(bound), name);
        let grown = threads().saturating_sub(before);
        assert!(grown <= 12, "{name}: {grown} more threads after {} requests", answers.len());
        assert_eq!(readyz(&app).await, 503, "{name}");
        relay.set(FORWARD);
        let back = recovered(&app, &key, Duration::from_secs(30)).await;
        eprintln!(
            "PostgreSQL {name}: {} requests answered 503 within {slowest:?}, {grown} more threads; writes back {back:?} after",
            answers.len()
        );
    }
}

async fn sqlite_locked_under_load() {
    let app = TestApp::spawn_with(|c| {
        c.sqlite_busy_timeout_ms = 500;
        c.pool_timeout_secs = 1;
        c.workers = Some(2);
        c.api.rate_limit_per_minute = 60_000;
        c.api.rate_limit_burst = 10_000;
    })
    .await;
    let (user, org) = app.user().create().await;
    let (_, key) = app.secret_key(&org.id, &user.id, &["read", "write"]).await;
    let reg = app.oauth_client().await.create().await;
    let path = app.state.config.database_url.strip_prefix("sqlite://").unwrap().to_owned();
    // Another process (here: another connection) holds the write lock.
    let (locked, wait) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut other = diesel::SqliteConnection::establish(&path).unwrap();
        other.batch_execute("BEGIN IMMEDIATE").unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(4));
        other.batch_execute("ROLLBACK").unwrap();
    });
    wait.recv().unwrap();
    let before = threads();
    let started = Instant::now();
    let answers = burst(&app, &key, &reg).await;
    let grown = threads().saturating_sub(before);
    let writes: Vec<_> = answers.iter().filter(|a| a.0 == "POST /v1/api-keys").cloned().collect();
    let slowest = all_try_again(&writes, Duration::from_secs(4), "locked");
    // Reads may run beside the writer (WAL), when a connection is free of
    // the writes waiting for the lock; otherwise they too are told to try
    // again, within the same bound.
    for (what, status, body, took) in answers.iter().filter(|a| a.0 != "POST /v1/api-keys") {
        assert!(*took <= Duration::from_secs(4), "{what} took {took:?}");
        match (what.as_str(), *status) {
            (_, 200) => {}
            ("GET /v1/api-keys", 503) => assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE"),
            ("POST /oauth/token", 400) => assert_eq!(body["error"], "invalid_grant"),
            ("POST /oauth/token", 503) => assert_eq!(body["error"], "temporarily_unavailable"),
            _ => panic!("{what}: {status} {body}"),
        }
    }
    assert!(grown <= 12, "{grown} more threads");
    assert!(started.elapsed() < Duration::from_secs(4), "answered before the lock was let go");
    holder.join().unwrap();
    let back = recovered(&app, &key, Duration::from_secs(10)).await;
    eprintln!(
        "SQLite locked: {} writes answered 503 within {slowest:?}, reads served, {grown} more threads; writes back {back:?} after",
        writes.len()
    );
}
