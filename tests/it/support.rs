//! The test fixture: the real app, built from the library, on a fresh
//! database per test (a SQLite file in a temporary directory, or a new
//! PostgreSQL database when TEST_DATABASE_URL is set), served on a random
//! loopback port, with a clock the test moves.

use std::sync::Arc;

use actix_web::web;
use chrono::{TimeZone, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use portcullis::accounts::{Organization, Role, User};
use portcullis::clock::ManualClock;
use portcullis::config::Config;
use portcullis::http::AppState;
use reqwest::redirect::Policy;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: web::Data<AppState>,
    /// The first instance owns the database; a second one borrows it.
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgTestDatabase>,
}

/// A PostgreSQL database made for one test and dropped after it.
pub(crate) struct PgTestDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgTestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).execute(&mut conn);
        }
    }
}

/// The URL of a fresh PostgreSQL database, when the suite runs on PostgreSQL.
pub(crate) fn fresh_postgres() -> Option<(String, PgTestDatabase)> {
    let admin_url = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())?;
    let name = format!("portcullis_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn =
        PgConnection::establish(&admin_url).unwrap_or_else(|e| panic!("TEST_DATABASE_URL does not answer: {e}"));
    diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    Some((url.to_string(), PgTestDatabase { admin_url, name }))
}

/// Builds the state (migrations, keys) and serves it on `listener`.
async fn start(config: Config, clock: Arc<ManualClock>, listener: std::net::TcpListener) -> web::Data<AppState> {
    let state =
        tokio::task::spawn_blocking(move || portcullis::build_state(config, clock)).await.unwrap().expect("app builds");
    let server = portcullis::serve(state.clone(), listener).expect("server starts");
    actix_web::rt::spawn(server);
    state
}

pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Builds the app with the test's changes to a default configuration.
    pub async fn spawn_with(change: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = Config {
            bind: addr.to_string(),
            issuer: format!("http://{addr}"),
            data_dir: dir.path().to_owned(),
            database_url: format!("sqlite://{}", dir.path().join("portcullis.db").display()),
            workers: Some(1),
            pool_size: 4,
            ..Config::default()
        };
        let pg = fresh_postgres().map(|(url, db)| {
            config.database_url = url;
            db
        });
        change(&mut config);
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()));
        let state = start(config, clock.clone(), listener).await;
        Self { base: format!("http://{addr}"), client: browser(), clock, state, _dir: Some(dir), _pg: pg }
    }

    /// Another instance on this one's database, as behind a load balancer:
    /// its own caches and change poller, the same issuer, master key and
    /// clock. It must not outlive `self`, which owns the database.
    pub async fn second_instance(&self) -> TestApp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = Config { bind: addr.to_string(), ..self.state.config.clone() };
        let state = start(config, self.clock.clone(), listener).await;
        TestApp {
            base: format!("http://{addr}"),
            client: browser(),
            clock: self.clock.clone(),
            state,
            _dir: None,
            _pg: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A second browser, with its own cookies.
    pub fn new_browser(&self) -> reqwest::Client {
        browser()
    }

    /// A live secret key of `organization_id` made by `creator`: its id and
    /// the key itself.
    pub async fn secret_key(&self, organization_id: &str, creator: &str, scopes: &[&str]) -> (String, String) {
        let (key, plaintext) = self
            .state
            .api_keys
            .create(portcullis::apikeys::NewApiKey {
                organization_id: organization_id.into(),
                created_by: Some(creator.into()),
                name: "test key".into(),
                kind: portcullis::apikeys::KeyKind::Secret,
                environment: portcullis::apikeys::Environment::Live,
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

    pub fn user(&self) -> UserBuilder<'_> {
        UserBuilder {
            app: self,
            email: format!("user-{}@example.com", uuid::Uuid::new_v4().simple()),
            password: PASSWORD.into(),
            org: format!("Org {}", uuid::Uuid::new_v4().simple()),
            role: Role::Owner,
        }
    }
}

/// A client that keeps cookies and does not follow redirects, so tests
/// see every 303 and Location.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().expect("client")
}

pub struct UserBuilder<'a> {
    app: &'a TestApp,
    email: String,
    password: String,
    org: String,
    role: Role,
}

impl UserBuilder<'_> {
    pub fn email(mut self, email: &str) -> Self {
        self.email = email.into();
        self
    }
    pub fn org(mut self, org: &str) -> Self {
        self.org = org.into();
        self
    }
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
    pub async fn create(self) -> (User, Organization) {
        let (user, org, _) = self
            .app
            .state
            .accounts
            .create_user(&self.email, &self.password, &self.org, self.role)
            .await
            .expect("user created");
        (user, org)
    }
}

/// The CSRF token of the first form in a page.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no csrf_token in page:\n{html}")) + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

/// GETs a page and returns its CSRF token.
pub async fn form_token(client: &reqwest::Client, url: &str) -> String {
    let res = client.get(url).send().await.expect("get form");
    assert_eq!(res.status(), 200, "GET {url}");
    csrf_token(&res.text().await.unwrap())
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

impl TestApp {
    /// Signs in through the login form; returns the response (303 on success).
    pub async fn login(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        let token = form_token(client, &self.url("/login")).await;
        client
            .post(self.url("/login"))
            .form(&[("csrf_token", token.as_str()), ("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// The dashboard page's HTML, asserting it is served (signed in).
    pub async fn dashboard(&self, client: &reqwest::Client) -> String {
        let res = client.get(self.url("/dashboard")).send().await.unwrap();
        assert_eq!(res.status(), 200, "dashboard should be served to a signed-in browser");
        res.text().await.unwrap()
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Everything the server logs, for tests that check what never reaches a
/// log. The first call installs a global subscriber writing into memory;
/// every test running at the same time logs there too, so look for values
/// that only your test made.
pub fn captured_logs() -> CapturedLogs {
    use std::sync::{Mutex, OnceLock};
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let logs = LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let installed = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        assert!(installed.is_ok(), "another global subscriber was installed first");
        buffer
    });
    CapturedLogs(logs.clone())
}

pub struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A request body sent chunked (no Content-Length), in 8 KiB pieces.
pub fn chunked_body(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(chunks))
}

/// One /v1 request with a bearer credential: status and JSON body.
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    credential: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().request(method.parse().unwrap(), app.url(path)).bearer_auth(credential);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(serde_json::Value::Null))
}

/// The organization's audit events with `action`, waiting (bounded) for
/// the first one: some are recorded in the background, after the answer.
pub async fn audit_events_eventually(
    app: &TestApp,
    organization_id: &str,
    action: &str,
) -> Vec<portcullis::audit::AuditEvent> {
    let mut found = Vec::new();
    for _ in 0..200 {
        let events = portcullis::audit::list(&app.state.store, organization_id, None, 100).await.unwrap().unwrap();
        found = events.into_iter().filter(|e| e.action == action).collect();
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    found
}
