use crate::support::TestApp;

#[actix_web::test]
async fn healthz_and_readyz_answer() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["status"], "ready");
}

#[actix_web::test]
async fn every_response_has_a_request_id_kept_only_when_well_formed() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/login", "/no/such/page", "/dashboard"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert!(id.starts_with("req_") && id.len() == 28, "{path}: {id}");
    }
    let res = app.client.get(app.url("/healthz")).header("X-Request-Id", "upstream-42.a_b").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "upstream-42.a_b");
    for bad in ["has space", "<script>", &"x".repeat(200)] {
        let res = app.client.get(app.url("/healthz")).header("X-Request-Id", bad).send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(id.starts_with("req_"), "{id}");
    }
}

#[actix_web::test]
async fn unknown_path_is_a_404_page() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("404 · Not Found"));
}

#[actix_web::test]
async fn stylesheet_is_served_by_the_binary() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/static/app.css")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");
    assert!(res.text().await.unwrap().contains(".card"));
}

/// A TCP relay to PostgreSQL that the test can cut and restore, to stage a
/// database outage without touching the server.
struct Relay {
    port: u16,
    target: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String, port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let conns2 = conns.clone();
        let target2 = target.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target2.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(conn);
            }
        });
        Self { port, target, tasks: vec![accept], conns }
    }

    /// Closes the listener and every relayed connection.
    fn cut(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// The database goes away under a running server and comes back: /readyz
/// says 503 meanwhile and 200 after, without a restart; /healthz stays 200.
/// Staged for the backend the suite runs on.
#[actix_web::test]
async fn readyz_follows_the_database_down_and_back_up() {
    if crate::support::on_postgres() { postgres_cut_off().await } else { sqlite_file_taken_away().await }
}

/// 503 with Retry-After from /readyz, and /healthz still 200.
async fn assert_not_ready(app: &TestApp) {
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["status"], "unavailable");
    // The liveness check does not depend on the database.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

/// PostgreSQL: the server's connections go through a relay that is cut.
async fn postgres_cut_off() {
    let admin = url::Url::parse(&std::env::var("TEST_DATABASE_URL").unwrap()).unwrap();
    let target = format!("{}:{}", admin.host_str().unwrap(), admin.port().unwrap_or(5432));
    let mut relay = Relay::start(target, 0).await;
    let port = relay.port;
    let app = TestApp::spawn_with(|c| {
        let mut u = url::Url::parse(&c.database_url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(port)).unwrap();
        c.database_url = u.to_string();
        c.pool_timeout_secs = 1;
    })
    .await;
    let (user, _) = app.user().create().await;
    app.login(&app.client, &user.email, crate::support::PASSWORD).await;
    assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), 200);

    relay.cut();
    assert_not_ready(&app).await;
    // Pages that need the database say so with 503, not 500.
    let res = app.client.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("temporarily unavailable"));

    let relay = Relay::start(relay.target.clone(), port).await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "ready again without a restart");
    app.dashboard(&app.client).await;
    drop(relay);
}

/// SQLite: the database file is moved away under the server. Its pooled
/// connections still hold the old file open, but what they would write now
/// is lost with it: not ready, until the file is back.
async fn sqlite_file_taken_away() {
    let app = TestApp::spawn().await;
    let (user, _) = app.user().create().await;
    app.login(&app.client, &user.email, crate::support::PASSWORD).await;
    assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), 200);
    let file = std::path::PathBuf::from(app.state.config.database_url.strip_prefix("sqlite://").unwrap());
    let away = file.with_extension("away");

    std::fs::rename(&file, &away).unwrap();
    assert_not_ready(&app).await;
    assert!(!file.exists(), "the readiness check made a new, empty database in its place");

    std::fs::rename(&away, &file).unwrap();
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200, "ready again without a restart");
    app.dashboard(&app.client).await;
}

/// This process's POSIX locks on the file at `path` (from /proc/locks).
fn locks_held_on(path: &std::path::Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(path).unwrap().ino();
    let pid = std::process::id().to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "1: POSIX ADVISORY READ <pid> <maj>:<min>:<inode> <start> <end>"
            f.get(1) == Some(&"POSIX")
                && f.get(4) == Some(&pid.as_str())
                && f.get(5).and_then(|d| d.rsplit(':').next()) == Some(ino.to_string().as_str())
        })
        .count()
}

/// Closing any descriptor of a file drops every POSIX lock the process
/// holds on it, SQLite's included; a readiness check must open nothing
/// (attacker round 11, finding 3: another process then deleted the live WAL).
#[actix_web::test]
async fn readiness_checks_leave_the_servers_sqlite_locks_in_place() {
    if crate::support::on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let db = std::path::PathBuf::from(app.state.config.database_url.trim_start_matches("sqlite://"));
    // The pool opens connections on demand: a read first, so one is open.
    let (owner, _) = app.user().create().await;
    assert_eq!(app.login(&app.new_browser(), &owner.email, crate::support::PASSWORD).await.status(), 303);
    let before = locks_held_on(&db);
    assert!(before > 0, "the server holds SQLite's locks on its database file");
    for _ in 0..3 {
        assert_eq!(app.client.get(app.url("/readyz")).send().await.unwrap().status(), 200);
    }
    assert_eq!(locks_held_on(&db), before, "a readiness check dropped the server's locks");
}

/// The SQLite files hold every digest and sealed signing key: readable by
/// the server's user alone, whatever the umask (attacker round 11, finding 11).
#[actix_web::test]
async fn the_sqlite_files_the_server_creates_are_its_own() {
    use std::os::unix::fs::PermissionsExt;
    if crate::support::on_postgres() {
        return;
    }
    let app = TestApp::spawn().await;
    let db = std::path::PathBuf::from(app.state.config.database_url.trim_start_matches("sqlite://"));
    app.user().create().await;
    let mut seen = 0;
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(meta) = std::fs::metadata(&file) {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{}", file.display());
            seen += 1;
        }
    }
    assert!(seen >= 2, "the database and its WAL exist");
}
