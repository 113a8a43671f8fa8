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

use serde_json::{Value, json};

use crate::cli::Workspace;
use crate::oauth_support::REDIRECT;
use crate::processes::Instance;
use crate::support::on_postgres;
use crate::two_processes::{App, EMAIL, new_key, register, session};

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

/// What a burst of requests that all need the database got: for each, its
/// status, its body, and how long it took.
async fn burst(server: &Instance, key: &str, app: &App) -> Vec<(String, u16, Value, Duration)> {
    let mut tasks = Vec::new();
    for i in 0..48 {
        let (client, base, key) = (reqwest::Client::new(), server.base.clone(), key.to_owned());
        let (id, secret) = (app.id.clone(), Some(app.secret.clone()));
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

async fn readyz(server: &Instance) -> u16 {
    reqwest::get(server.url("/readyz")).await.unwrap().status().as_u16()
}

/// Asks until a write succeeds again; returns how long that took.
async fn recovered(server: &Instance, key: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let res = reqwest::Client::new()
            .post(server.url("/v1/api-keys"))
            .bearer_auth(key)
            .json(&serde_json::json!({"name": "after", "scopes": ["read"]}))
            .send()
            .await
            .unwrap();
        if res.status() == 201 {
            assert_eq!(readyz(server).await, 200);
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

/// A server process on `database_url` with small bounds (a 1 s pool wait,
/// 4 connections, SQLite's busy timeout 0.5 s) and no rate limit in the
/// way; the owner's key and an app to redeem codes with.
async fn serve(workspace: &Workspace, database_url: &str) -> (Instance, String, App) {
    let env = [
        ("PORTCULLIS_DATABASE_URL", database_url.to_owned()),
        ("PORTCULLIS_POOL_TIMEOUT_SECS", "1".to_owned()),
        ("PORTCULLIS_POOL_SIZE", "4".to_owned()),
        ("PORTCULLIS_SQLITE_BUSY_TIMEOUT_MS", "500".to_owned()),
        ("PORTCULLIS_API__RATE_LIMIT_PER_MINUTE", "60000".to_owned()),
        ("PORTCULLIS_API__RATE_LIMIT_BURST", "60000".to_owned()),
    ];
    workspace.create_user(EMAIL, "Acme");
    let server = Instance::start(workspace, &env).await;
    let owner = session(&server).await;
    let (_, key) = new_key(&server, &owner, json!({"name": "ops", "scopes": ["read", "write"]})).await;
    let app = register(
        &server,
        &owner,
        json!({"name": "App", "redirect_uris": [REDIRECT], "scopes": ["read"], "grant_types": ["authorization_code"]}),
    )
    .await;
    (server, key, app)
}

async fn postgres_cut_off_under_load() {
    let workspace = Workspace::new();
    let mut url = url::Url::parse(&workspace.database_url).unwrap();
    let relay = Relay::start(format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(relay.port)).unwrap();
    let (server, key, app) = serve(&workspace, url.as_str()).await;
    assert_eq!(burst(&server, &key, &app).await.iter().filter(|a| a.1 >= 500).count(), 0, "all well before the outage");

    // A refused connection fails at once: the pool's wait (1 s) bounds a
    // request. A silent database is waited for at most 2 s per step of a
    // request (the pool's wait, then as long again for an answer), and a
    // key's creation takes three.
    for (state, name, bound) in [(REFUSE, "refused", 3), (SILENT, "silent", 8)] {
        let before = server.threads();
        relay.set(state);
        let answers = burst(&server, &key, &app).await;
        let slowest = all_try_again(&answers, Duration::from_secs(bound), name);
        let grown = server.threads().saturating_sub(before);
        assert!(grown <= 8, "{name}: {grown} more threads after {} requests", answers.len());
        assert_eq!(readyz(&server).await, 503, "{name}");
        relay.set(FORWARD);
        let back = recovered(&server, &key, Duration::from_secs(30)).await;
        eprintln!(
            "PostgreSQL {name}: {} requests answered 503 within {slowest:?}, {grown} more threads; writes back {back:?} after",
            answers.len()
        );
    }
}

async fn sqlite_locked_under_load() {
    let workspace = Workspace::new();
    let (server, key, app) = serve(&workspace, &workspace.database_url).await;
    let path = workspace.database_url.strip_prefix("sqlite://").unwrap().to_owned();
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
    let before = server.threads();
    let started = Instant::now();
    let answers = burst(&server, &key, &app).await;
    let grown = server.threads().saturating_sub(before);
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
    assert!(grown <= 8, "{grown} more threads");
    assert!(started.elapsed() < Duration::from_secs(4), "answered before the lock was let go");
    holder.join().unwrap();
    let back = recovered(&server, &key, Duration::from_secs(10)).await;
    eprintln!(
        "SQLite locked: {} writes answered 503 within {slowest:?}, reads served or told to wait, {grown} more threads; \
         writes back {back:?} after",
        writes.len()
    );
}
