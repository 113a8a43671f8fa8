//! The binary: CLI commands, configuration errors, start-up checks,
//! graceful shutdown, logs without secrets.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::accounts::Accounts;
use portcullis::accounts::passwords::PasswordHashing;
use portcullis::clock::SystemClock;
use portcullis::config::Config;

use crate::support::{PASSWORD, PgTestDatabase, fresh_postgres};

// The administrative commands against a running app's database.
#[path = "cli_admin.rs"]
mod admin;

/// A directory for the binary and a fresh database of the suite's backend:
/// a new PostgreSQL database (dropped after) when TEST_DATABASE_URL is set,
/// else SQLite in the directory.
pub(crate) struct Workspace {
    dir: tempfile::TempDir,
    pub(crate) database_url: String,
    _pg: Option<PgTestDatabase>,
}

impl Workspace {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg) = match fresh_postgres() {
            Some((url, db)) => (url, Some(db)),
            None => (format!("sqlite://{}", dir.path().join("data/p.db").display()), None),
        };
        Self { dir, database_url, _pg: pg }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary in this directory, on this database.
    pub(crate) fn portcullis(&self) -> Command {
        let mut cmd = portcullis(self.path());
        cmd.env("PORTCULLIS_DATABASE_URL", &self.database_url);
        cmd
    }

    /// Creates `email`, owner of a new organization `org`, with the binary.
    pub(crate) fn create_user(&self, email: &str, org: &str) {
        let mut cmd = self.portcullis();
        cmd.args(["user", "create", "--email", email, "--org", org]);
        let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
        assert!(out.status.success(), "{}", text(&out));
    }

    /// `client create --org Acme --name RP` with `args`: the exit code and
    /// what it printed.
    pub(crate) fn client_create(&self, args: &[&str]) -> (Option<i32>, String) {
        let out =
            self.portcullis().args(["client", "create", "--org", "Acme", "--name", "RP"]).args(args).output().unwrap();
        (out.status.code(), text(&out))
    }

    /// A configuration for the library on this database and directory.
    pub(crate) fn config(&self) -> Config {
        Config { database_url: self.database_url.clone(), data_dir: self.path().join("data"), ..Config::default() }
    }
}

/// The port in the JSON log line that says the server listens.
pub(crate) fn listening_port(log: &str) -> u16 {
    let line = log.lines().find(|l| l.contains("portcullis listening")).expect("a listening line");
    let json: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let addr = json["addr"].as_str().unwrap_or_else(|| panic!("no addr in {line}"));
    addr.parse::<std::net::SocketAddr>().unwrap_or_else(|e| panic!("{e}: {addr}")).port()
}

/// The binary, in `dir`, on SQLite there, with none of the caller's
/// PORTCULLIS_* settings.
pub(crate) fn portcullis(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") || key == "DATABASE_URL" || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.env("PORTCULLIS_DATA_DIR", dir.join("data"));
    cmd.env("PORTCULLIS_DATABASE_URL", format!("sqlite://{}", dir.join("data/p.db").display()));
    cmd
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // A command refused before it reads its input (a bad flag) closes the
    // pipe first: that is its answer, not the test's failure.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn hashing(config: &Config) -> PasswordHashing {
    PasswordHashing::new(&config.password_hash).unwrap()
}

pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn help_explains_each_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = portcullis(dir.path()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = text(&out);
    for word in ["serve", "migrate", "user", "--config"] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    let out = portcullis(dir.path()).args(["user", "create", "--help"]).output().unwrap();
    let help = text(&out);
    assert!(help.contains("--email") && help.contains("--org") && help.contains("--role"), "{help}");
    assert!(help.contains("standard input"), "{help}");
}

#[test]
fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = portcullis(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is up to date"));
    assert!(dir.path().join("data/p.db").is_file());
    // Idempotent.
    assert!(portcullis(dir.path()).arg("migrate").output().unwrap().status.success());
}

#[test]
fn migration_folders_have_the_same_names() {
    let names = |backend: &str| {
        let mut v: Vec<String> =
            std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        v.sort();
        v
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend).join(name).join(file);
                assert!(path.is_file(), "{} missing", path.display());
            }
        }
    }
}

#[actix_web::test]
async fn user_create_reads_the_password_from_stdin() {
    let dir = Workspace::new();
    let mut cmd = dir.portcullis();
    cmd.args(["user", "create", "--email", "Root@Example.com", "--org", "Acme", "--role", "admin"]);
    let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("created user Root@Example.com"), "{}", text(&out));
    assert!(text(&out).contains("as ADMIN of new organization Acme"), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD));

    // A second user joins the same organization.
    let mut cmd = dir.portcullis();
    cmd.args(["user", "create", "--email", "dev@example.com", "--org", "Acme", "--role", "DEVELOPER"]);
    let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
    assert!(text(&out).contains("as DEVELOPER of organization Acme"), "{}", text(&out));

    let config = dir.config();
    let store = portcullis::open_store(&config).unwrap();
    let accounts = Accounts::new(store, Arc::new(SystemClock), config.login_throttle.clone(), hashing(&config), 3600);
    let user = accounts.authenticate("root@example.com", PASSWORD, "test").await.unwrap();
    let m = accounts.memberships(&user.id).await.unwrap();
    assert_eq!((m[0].organization.name.as_str(), m[0].role.as_str()), ("Acme", "ADMIN"));
}

#[test]
fn user_create_refuses_bad_input_clearly() {
    let dir = Workspace::new();
    let mut cmd = dir.portcullis();
    cmd.args(["user", "create", "--email", "a@example.com", "--org", "Acme"]);
    let out = run_with_stdin(cmd, "short\n");
    assert!(!out.status.success());
    assert!(text(&out).contains("at least 10 characters"), "{}", text(&out));

    let mut cmd = dir.portcullis();
    cmd.args(["user", "create", "--email", "a@example.com", "--org", "Acme", "--role", "root"]);
    let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown role"), "{}", text(&out));

    let mut cmd = dir.portcullis();
    cmd.args(["user", "create", "--email", "a@example.com", "--org", "Acme"]);
    let out = run_with_stdin(cmd, "");
    assert!(!out.status.success());
    assert!(text(&out).contains("no password on standard input"), "{}", text(&out));

    // The same email twice.
    for expect_ok in [true, false] {
        let mut cmd = dir.portcullis();
        cmd.args(["user", "create", "--email", "twice@example.com", "--org", "Acme"]);
        let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
        assert_eq!(out.status.success(), expect_ok, "{}", text(&out));
    }
}

#[test]
fn database_url_errors_name_the_url_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = portcullis(dir.path())
        .arg("migrate")
        .env("PORTCULLIS_DATABASE_URL", "mysql://root:hunter2@db/x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("unsupported database URL mysql://root:***@db/x"), "{t}");
    assert!(!t.contains("hunter2"));

    // Nothing listens on port 1: a clear error, never a fallback to SQLite.
    let out = portcullis(dir.path())
        .arg("migrate")
        .env_remove("PORTCULLIS_DATABASE_URL")
        .env("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/portcullis")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("cannot connect to postgres://app:***@127.0.0.1:1/portcullis"), "{t}");
    assert!(!t.contains("hunter2"), "{t}");
    assert!(!dir.path().join("data/p.db").exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().contains("postgres"))
    );

    let out = portcullis(dir.path()).arg("migrate").env("PORTCULLIS_DATABASE_URL", "data/bare.db").output().unwrap();
    assert!(!out.status.success());
    assert!(!dir.path().join("data/bare.db").exists());
}

#[test]
fn configuration_errors_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), "bind = \"127.0.0.1:0\"\npool_sise = 3\n").unwrap();
    let out = portcullis(dir.path()).args(["--config", "p.toml", "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("pool_sise"), "{}", text(&out));

    let out = portcullis(dir.path()).args(["--config", "missing.toml", "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("missing.toml"), "{}", text(&out));

    // An https issuer needs a real master key.
    let out =
        portcullis(dir.path()).arg("serve").env("PORTCULLIS_ISSUER", "https://auth.example.com").output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("PORTCULLIS_MASTER_KEY"), "{}", text(&out));
    assert!(!dir.path().join("data/master.key").exists());
}

struct Running {
    child: std::process::Child,
    stderr: BufReader<std::process::ChildStderr>,
    log: String,
    port: u16,
}

/// Starts `portcullis serve` with JSON logs on a port the system picks,
/// and waits until it listens.
fn start_server(workspace: &Workspace) -> Running {
    let mut child = workspace
        .portcullis()
        .arg("serve")
        .env("PORTCULLIS_BIND", "127.0.0.1:0")
        .env("PORTCULLIS_LOG_FORMAT", "json")
        .env("PORTCULLIS_WORKERS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log.contains("portcullis listening") {
        assert!(Instant::now() < deadline, "server did not start: {log}");
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("server exited: {log}");
        }
        log.push_str(&line);
    }
    let port = listening_port(&log);
    let scheme = workspace.database_url.split_once("://").unwrap().0;
    assert!(log.contains(&format!(r#""database":"{scheme}://"#)), "serves the suite's database: {log}");
    // Signal handlers are installed when the server task first runs: wait
    // until it answers, so a signal sent next is handled, not fatal.
    while std::net::TcpStream::connect(("127.0.0.1", port))
        .and_then(|mut s| {
            write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut r = String::new();
            s.read_to_string(&mut r)?;
            Ok(r.starts_with("HTTP/1.1 200"))
        })
        .map_or(true, |ok| !ok)
    {
        assert!(Instant::now() < deadline, "server did not answer: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Running { child, stderr, log, port }
}

impl Running {
    /// Sends `signal` and waits for a clean exit; returns the whole log.
    fn stop_with(mut self, signal: &str) -> String {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let exit = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "server did not stop on {signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        self.stderr.read_to_string(&mut self.log).unwrap();
        assert!(exit.success(), "exit {exit:?} on {signal}: {}", self.log);
        assert!(self.log.contains("\"stopped\""), "{}", self.log);
        self.log
    }
}

#[test]
fn serve_logs_json_without_secrets_and_stops_on_sigterm() {
    let dir = Workspace::new();
    let server = start_server(&dir);
    assert!(dir.path().join("data/master.key").is_file(), "development master key generated");
    assert!(server.log.contains("generated a development master key"), "{}", server.log);

    // A sign-in attempt whose password and query must not reach the log.
    let secret = "pw-that-must-not-be-logged";
    let body = format!("email=a%40b.io&password={secret}&csrf_token=x");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "POST /login?code=query-secret HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-me-1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(response.to_ascii_lowercase().contains("x-request-id: trace-me-1"));

    let log = server.stop_with("-TERM");
    let served = log.lines().find(|l| l.contains("trace-me-1")).unwrap_or_else(|| panic!("no request line: {log}"));
    let json: serde_json::Value = serde_json::from_str(served).unwrap();
    assert_eq!(json["status"], 403, "{served}");
    assert!(!log.contains(secret) && !log.contains("query-secret"), "{log}");
}

#[test]
fn serve_stops_on_ctrl_c() {
    let dir = Workspace::new();
    start_server(&dir).stop_with("-INT");
}

#[test]
fn client_create_list_and_rotate_secret() {
    let dir = Workspace::new();
    let mut cmd = dir.portcullis();
    cmd.args(["user", "create", "--email", "ops@example.com", "--org", "Acme"]);
    assert!(run_with_stdin(cmd, &format!("{PASSWORD}\n")).status.success());

    let out = dir
        .portcullis()
        .args(["client", "create", "--org", "Acme", "--name", "Billing Sync", "--grant", "client_credentials"])
        .args(["--scope", "read", "--scope", "write"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    let value =
        |label: &str| printed.lines().find_map(|l| l.strip_prefix(label)).map(|v| v.trim().to_owned()).expect(label);
    let (client_id, secret) = (value("client_id:"), value("client_secret:"));
    assert!(client_id.starts_with("pc_"));
    assert!(secret.len() >= 43);

    let out = dir.portcullis().args(["client", "list", "--org", "Acme"]).output().unwrap();
    let listed = text(&out);
    assert!(listed.contains(&client_id) && listed.contains("Billing Sync") && listed.contains("client_credentials"));
    assert!(!listed.contains(&secret), "the secret is shown once only");

    let out = dir.portcullis().args(["client", "rotate-secret", &client_id, "--grace", "60"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the previous secret keeps working for 60 s"));

    // Bad input: a clear error and a failing exit.
    for args in [
        vec!["client", "create", "--org", "Nope", "--name", "x", "--grant", "client_credentials"],
        vec!["client", "create", "--org", "Acme", "--name", "x", "--grant", "authorization_code"],
        vec!["client", "create", "--org", "Acme", "--name", "x", "--grant", "client_credentials", "--scope", "payroll"],
        vec!["client", "rotate-secret", "pc_unknown"],
    ] {
        let out = dir.portcullis().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains("error:"), "{args:?}: {}", text(&out));
    }
    let out = dir
        .portcullis()
        .args(["client", "create", "--org", "Acme", "--name", "x", "--grant", "password"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[actix_web::test]
async fn organizations_are_named_by_id_or_an_unambiguous_name() {
    // Finding 11: `--org NAME` broke as soon as two organizations shared a
    // name (sign-up allows it) and accepted no id.
    let dir = Workspace::new();
    let mut cmd = dir.portcullis();
    cmd.args(["user", "create", "--email", "first@example.com", "--org", "Acme"]);
    assert!(run_with_stdin(cmd, &format!("{PASSWORD}\n")).status.success());
    let config = dir.config();
    let store = portcullis::open_store(&config).unwrap();
    let accounts = Accounts::new(store, Arc::new(SystemClock), config.login_throttle.clone(), hashing(&config), 3600);
    let portcullis::accounts::SignUp::Created { organization: Some(second), .. } =
        accounts.sign_up("second@example.com", PASSWORD, "Acme", "127.0.0.1").await.unwrap()
    else {
        panic!("a new email signs up")
    };

    let out = dir.portcullis().args(["org", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let listed = text(&out);
    assert_eq!(listed.lines().filter(|l| l.contains("\tAcme\t1 members")).count(), 2, "{listed}");
    assert!(listed.contains(&second.id));

    let out = dir
        .portcullis()
        .args(["client", "create", "--org", "Acme", "--name", "x", "--grant", "client_credentials"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("2 organizations are named \"Acme\": give one of their ids"), "{}", text(&out));
    assert!(text(&out).contains(&second.id));

    let out = dir
        .portcullis()
        .args(["client", "create", "--org", &second.id, "--name", "x", "--grant", "client_credentials"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut cmd = dir.portcullis();
    cmd.args(["user", "create", "--email", "third@example.com", "--org", &second.id, "--role", "VIEWER"]);
    let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    let third = accounts.authenticate("third@example.com", PASSWORD, "test").await.unwrap();
    let m = accounts.memberships(&third.id).await.unwrap();
    assert_eq!((m.len(), m[0].organization.id.as_str(), m[0].role.as_str()), (1, second.id.as_str(), "VIEWER"));
}

#[test]
fn keys_list_rotate_and_retire() {
    let dir = Workspace::new();
    let keys = |args: &[&str]| {
        let mut cmd = dir.portcullis();
        cmd.env("PORTCULLIS_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").arg("keys").args(args);
        cmd.output().unwrap()
    };
    let listed = || -> Vec<serde_json::Value> {
        let out = keys(&["list", "--json"]);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let kid_of = |list: &[serde_json::Value], alg: &str, state: &str| -> String {
        let found = list.iter().find(|k| k["algorithm"] == alg && k["state"] == state);
        found.unwrap_or_else(|| panic!("no {state} {alg} key in {list:?}"))["kid"].as_str().unwrap().to_owned()
    };

    // The first rotation creates the current keys too: one per algorithm, then RS256's next.
    let out = keys(&["rotate", "--algorithm", "RS256"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let list = listed();
    assert_eq!(list.len(), 4, "{list:?}");
    let (old, next) = (kid_of(&list, "RS256", "current"), kid_of(&list, "RS256", "next"));
    assert!(stdout.starts_with(&format!("RS256\tnext\t{next}\tactivates after ")), "{stdout}");
    let access: Vec<&serde_json::Value> = list.iter().filter(|k| k["signs_access_tokens"] == true).collect();
    assert_eq!(access.len(), 1);
    assert_eq!((access[0]["algorithm"].as_str(), access[0]["state"].as_str()), (Some("ES256"), Some("current")));
    let row = list.iter().find(|k| k["kid"] == next.as_str()).unwrap();
    assert!(row["activated_at"].is_null() && row["until"].is_string(), "{row}");

    // Again: the prepared key is kept, not doubled.
    let out = keys(&["rotate", "--algorithm", "RS256"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{next}\talready prepared")));
    assert_eq!(listed().len(), 4);

    // A current or next key cannot be retired.
    let es = kid_of(&list, "ES256", "current");
    for (kid, state) in [(&es, "current"), (&next, "next")] {
        let out = keys(&["retire", kid]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("error: key {kid} is the {state} key and cannot be retired")), "{err}");
    }

    // A kid is base64url: one that begins with '-' is a kid, not an option.
    let out = keys(&["retire", "-x7-unknown"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // --now: the next key signs at once, with a warning.
    let out = keys(&["rotate", "--algorithm", "RS256", "--now"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("RS256\tcurrent\t{next}\tretired {old}\n"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: "), "{}", text(&out));
    let list = listed();
    assert_eq!((kid_of(&list, "RS256", "current"), kid_of(&list, "RS256", "retired")), (next.clone(), old.clone()));

    // Tab-separated: kid, algorithm, state, created, activated, retired, until, access.
    let out = keys(&["list"]);
    let tsv = String::from_utf8(out.stdout).unwrap();
    let line = tsv.lines().find(|l| l.starts_with(&old)).unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!((fields.len(), fields[1], fields[2], fields[7]), (8, "RS256", "retired", "-"), "{line}");
    assert!(fields[5] != "-" && fields[6] != "-", "retired and published until: {line}");

    // A retired key is removed at once; unknown kids are refused.
    let out = keys(&["retire", &old]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{old}\tremoved\n"));
    assert!(listed().iter().all(|k| k["kid"] != old.as_str()));
    let out = keys(&["retire", &old]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no signing key has the kid"), "{}", text(&out));

    // `all` rotates the three; a bad algorithm is a usage error.
    let out = keys(&["rotate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    assert_eq!(listed().iter().filter(|k| k["state"] == "next").count(), 3);
    let out = keys(&["rotate", "--algorithm", "RS512"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ES256, RS256 or EdDSA, or all"), "{}", text(&out));
}

#[test]
fn output_into_a_closed_pipe_ends_the_command_without_a_panic() {
    let dir = Workspace::new();
    dir.create_user("pipe@example.com", "Pipes");
    let (reader, writer) = std::io::pipe().unwrap();
    // The reader is gone before the command writes: its first line meets EPIPE.
    drop(reader);
    let create = ["client", "create", "--org", "Pipes", "--name", "Piped", "--grant", "client_credentials"];
    let out = dir.portcullis().args(create).stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "ended by SIGPIPE, as `ls | head` would: {stderr}");
}

#[test]
fn pretty_logs_into_a_file_or_pipe_carry_no_colour_codes() {
    let dir = Workspace::new();
    let mut child = dir
        .portcullis()
        .arg("serve")
        .env("PORTCULLIS_BIND", "127.0.0.1:0")
        .env("PORTCULLIS_LOG_FORMAT", "pretty")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("portcullis listening") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        log.push_str(&line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("portcullis listening"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in a piped log: {log:?}");
}
