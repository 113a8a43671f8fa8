//! Connections: the backend follows the URL scheme, decided once, never guessed.
//!
//! `diesel::MultiConnection` alone would try each backend in turn, and a
//! PostgreSQL URL that fails to connect would then be opened as a new SQLite
//! file named after the URL. The manager below picks the backend from the
//! scheme and reports failures with the URL (password removed).

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::StoreError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// A database location, parsed from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`, passed to libpq as given.
    Postgres(String),
    /// `sqlite://path` (relative) or `sqlite:///abs/path`.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        if let Some(path) = raw.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(StoreError::Config("sqlite:// URL names no file (use sqlite://data/portcullis.db)".into()));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        Err(StoreError::Config(format!(
            "unsupported database URL {}: use postgres://, postgresql:// or sqlite://",
            redact_url(raw)
        )))
    }

    /// The URL as it may appear in logs and errors: never with its password.
    pub fn redacted(&self) -> String {
        match self {
            Self::Postgres(url) => redact_url(url),
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
        }
    }
}

/// Replaces the password of `scheme://user:password@host/…`, and of a
/// `password=` query parameter (libpq reads one), with `***`. Read as
/// written, not as a URL parser would: a password typed without
/// percent-encoding may hold `/`, `?`, `@` or `%`, and everything between
/// the user's `:` and the last `@` is taken for it (an `@` later in the URL
/// only hides more). A string that is no URL keeps only what follows its
/// last `@`.
pub fn redact_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return match raw.rsplit_once('@') {
            Some((_, after)) => format!("***@{after}"),
            None => raw.to_owned(),
        };
    };
    let rest = match rest.rsplit_once('@') {
        Some((userinfo, after)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{after}"),
            None => format!("{userinfo}@{after}"),
        },
        None => rest.to_owned(),
    };
    format!("{scheme}://{}", redact_password_parameter(&rest))
}

/// `…password=VALUE…` → `…password=***…`, the name in any case, the value
/// up to the next `&`.
fn redact_password_parameter(s: &str) -> String {
    const NAME: &str = "password=";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.to_ascii_lowercase().find(NAME) {
        let starts_parameter = at == 0 || matches!(rest.as_bytes()[at - 1], b'?' | b'&');
        let value_start = at + NAME.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        if starts_parameter {
            let end = rest.find('&').unwrap_or(rest.len());
            out.push_str("***");
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The versions of the SQLite migrations this binary carries, oldest first,
/// as diesel records them in `__diesel_schema_migrations`.
pub fn sqlite_migration_versions() -> Result<Vec<String>, StoreError> {
    use diesel::migration::MigrationSource;
    let migrations = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map_err(|e| StoreError::Other(format!("embedded migrations: {e}")))?;
    let mut versions: Vec<String> = migrations.iter().map(|m| m.name().version().to_string()).collect();
    versions.sort();
    Ok(versions)
}

/// Applies this binary's pending SQLite migrations on `conn` (a restore's
/// copy); how many ran.
pub fn migrate_sqlite(conn: &mut SqliteConnection) -> Result<usize, StoreError> {
    conn.run_pending_migrations(SQLITE_MIGRATIONS)
        .map(|v| v.len())
        .map_err(|e| StoreError::Other(format!("migrating: {e}")))
}

/// One object of an SQLite schema: its type, name, table and SQL.
#[derive(Debug, Clone, PartialEq, Eq, diesel::QueryableByName)]
pub struct SchemaObject {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub tbl_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub sql: Option<String>,
}

/// Every table, index, trigger and view of an SQLite database with its SQL,
/// in a fixed order; the statistics tables ANALYZE makes aside (by their
/// exact names only).
pub fn sqlite_schema(conn: &mut SqliteConnection) -> Result<Vec<SchemaObject>, StoreError> {
    use diesel::RunQueryDsl;
    Ok(diesel::sql_query(
        "SELECT type AS kind, name, tbl_name, sql FROM sqlite_schema \
         WHERE name NOT IN ('sqlite_stat1', 'sqlite_stat2', 'sqlite_stat3', 'sqlite_stat4') ORDER BY type, name",
    )
    .load(conn)?)
}

/// The schema this binary's migrations make, on a scratch database in memory.
pub fn reference_sqlite_schema() -> Result<Vec<SchemaObject>, StoreError> {
    let mut scratch = SqliteConnection::establish(":memory:").map_err(|e| StoreError::Other(e.to_string()))?;
    migrate_sqlite(&mut scratch)?;
    sqlite_schema(&mut scratch)
}

/// r2d2 manager that opens the backend named by the URL and applies the
/// per-connection settings SQLite needs.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    /// SQLite: how long a writer waits for the write lock.
    busy_timeout: Duration,
}

impl Manager {
    pub fn new(url: DatabaseUrl, busy_timeout: Duration) -> Self {
        Self { url, busy_timeout }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                PgConnection::establish(url).map(DbConnection::Postgresql).map_err(r2d2::Error::ConnectionError)
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(&path.to_string_lossy()).map_err(r2d2::Error::ConnectionError)?;
                // The busy timeout comes first, so that switching to WAL waits
                // for a concurrent writer instead of failing at once. WAL lets
                // readers run beside the one writer; NORMAL syncs at
                // checkpoints only, which WAL keeps consistent across a crash.
                // A page cache of 512 KiB per connection (SQLite's default is
                // 2 MiB) holds the hot rows; the OS caches the rest of the file.
                conn.batch_execute(&format!("PRAGMA busy_timeout = {};", self.busy_timeout.as_millis()))
                    .map_err(r2d2::Error::QueryError)?;
                switch_to_wal(&mut conn, self.busy_timeout).map_err(r2d2::Error::QueryError)?;
                conn.batch_execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -512;")
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map(|_| ()).map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Switches a connection's file to WAL (a no-op once it is). Two processes
/// opening a fresh file at once both hold a shared lock and want the
/// exclusive one to switch it; SQLite answers one of them "database is
/// locked" at once, without its busy handler (waiting could never end while
/// both hold their shared locks). The loser lets go and tries again, within
/// the busy timeout; by then the winner has switched the file.
fn switch_to_wal(conn: &mut SqliteConnection, busy_timeout: Duration) -> diesel::QueryResult<()> {
    let deadline = std::time::Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match conn.batch_execute("PRAGMA journal_mode = WAL;") {
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("database is locked") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// A new SQLite file is made readable by its owner alone (it holds every
/// digest and sealed signing key; SQLite would make it 0644 under the usual
/// umask, and its -wal and -shm files copy its mode). Done before any
/// connection of this process opens it: closing a descriptor of the file
/// later would drop SQLite's locks (attacker round 11, findings 3 and 11).
fn create_private(path: &std::path::Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Config(format!("cannot create {}: {e}", path.display()))),
    }
}

/// Opens a pool and checks that the database answers, so a wrong URL fails
/// start-up with a clear message instead of the first request.
pub fn open_pool(url: &DatabaseUrl, settings: &super::PoolSettings) -> Result<Pool, StoreError> {
    if let DatabaseUrl::Sqlite(path) = url
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Config(format!("cannot create directory {}: {e}", dir.display())))?;
    }
    if let DatabaseUrl::Sqlite(path) = url {
        create_private(path)?;
    }
    let url = match url {
        DatabaseUrl::Postgres(raw) => DatabaseUrl::Postgres(bounded_postgres_url(raw, settings.timeout)),
        sqlite => sqlite.clone(),
    };
    let manager = Manager::new(url.clone(), settings.sqlite_busy_timeout);
    // Fail fast on the first connection: its error is the one worth showing.
    let mut probe = r2d2::ManageConnection::connect(&manager).map_err(|e| {
        StoreError::Unavailable(format!("cannot connect to {}: {}", url.redacted(), first_line(&e.to_string())))
    })?;
    drop(r2d2::ManageConnection::is_valid(&manager, &mut probe));
    r2d2::Pool::builder()
        .max_size(settings.size.max(1))
        .min_idle(Some(0))
        .connection_timeout(settings.timeout)
        .build(manager)
        .map_err(|e| StoreError::Unavailable(format!("cannot open pool for {}: {e}", url.redacted())))
}

/// The PostgreSQL URL with libpq settings that bound how long a connection
/// hangs on a server that stopped answering (a network partition refuses
/// nothing, so without them a query waits for the kernel to give up, a
/// quarter of an hour): a connect attempt, unacknowledged data
/// (`tcp_user_timeout`) and an idle connection (keepalives) each fail
/// after about `timeout`, the pool's wait for a connection. Settings the
/// URL makes itself are kept.
pub fn bounded_postgres_url(url: &str, timeout: Duration) -> String {
    let secs = timeout.as_secs().max(2);
    let bounds = [
        ("connect_timeout", secs.to_string()),
        ("tcp_user_timeout", (secs * 1000).to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", secs.to_string()),
        ("keepalives_interval", "1".to_owned()),
        ("keepalives_count", "3".to_owned()),
    ];
    let set: Vec<String> =
        url::Url::parse(url).map(|u| u.query_pairs().map(|(k, _)| k.into_owned()).collect()).unwrap_or_default();
    let mut out = url.to_owned();
    for (key, value) in bounds {
        if !set.iter().any(|k| k == key) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(&format!("{key}={value}"));
        }
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// The PostgreSQL advisory lock that instances starting at once take in
/// turn to migrate (an arbitrary constant: "portcull" in ASCII).
const MIGRATION_LOCK: i64 = 0x706f_7274_6375_6c6c;

/// Applies every embedded migration not yet applied; returns how many ran.
/// Several instances may start at once (a rolling deploy): they migrate one
/// after another, and the later ones find nothing left to do.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::BigInt;
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Other(format!("migration failed: {e}"));
    match conn {
        DbConnection::Postgresql(c) => {
            diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<BigInt, _>(MIGRATION_LOCK).execute(c)?;
            let applied = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()).map_err(failed);
            let unlocked =
                diesel::sql_query("SELECT pg_advisory_unlock($1)").bind::<BigInt, _>(MIGRATION_LOCK).execute(c);
            let applied = applied?;
            unlocked?;
            Ok(applied)
        }
        // One write transaction from the start: a second process waits for
        // it (the busy timeout) instead of failing on a lock upgrade.
        DbConnection::Sqlite(c) => {
            c.immediate_transaction(|c| c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()).map_err(failed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_connections_are_bounded_unless_the_url_says_otherwise() {
        let url = bounded_postgres_url("postgres://u@h/db", Duration::from_secs(5));
        assert_eq!(
            url,
            "postgres://u@h/db?connect_timeout=5&tcp_user_timeout=5000&keepalives=1&keepalives_idle=5\
             &keepalives_interval=1&keepalives_count=3"
        );
        let url = bounded_postgres_url("postgres://u@h/db?sslmode=require&connect_timeout=30", Duration::from_secs(1));
        assert!(
            url.starts_with("postgres://u@h/db?sslmode=require&connect_timeout=30&tcp_user_timeout=2000&"),
            "{url}"
        );
        assert_eq!(url.matches("connect_timeout").count(), 1);
    }

    #[test]
    fn scheme_picks_the_backend() {
        assert_eq!(DatabaseUrl::parse("sqlite://data/p.db").unwrap(), DatabaseUrl::Sqlite(PathBuf::from("data/p.db")));
        assert_eq!(DatabaseUrl::parse("sqlite:///tmp/p.db").unwrap(), DatabaseUrl::Sqlite(PathBuf::from("/tmp/p.db")));
        assert!(matches!(DatabaseUrl::parse("postgres://u@h/db").unwrap(), DatabaseUrl::Postgres(_)));
        assert!(matches!(DatabaseUrl::parse("postgresql://u@h/db").unwrap(), DatabaseUrl::Postgres(_)));
    }

    #[test]
    fn unknown_scheme_and_bare_path_are_refused_without_the_password() {
        for raw in ["mysql://root:hunter2@db/x", "data/portcullis.db", "sqlite://"] {
            let err = DatabaseUrl::parse(raw).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = DatabaseUrl::parse("mysql://root:hunter2@db/x").unwrap_err().to_string();
        assert!(err.contains("mysql://root:***@db/x"), "{err}");
    }

    #[test]
    fn redaction_hides_passwords_in_userinfo_and_query() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/p"), "postgres://app:***@db:5432/p");
        assert_eq!(redact_url("postgres://db/p?user=app&password=s3cret"), "postgres://db/p?user=app&password=***");
        assert_eq!(redact_url("postgres://db/p"), "postgres://db/p");
        assert_eq!(redact_url("redis://:s3cret@127.0.0.1:6379/2"), "redis://:***@127.0.0.1:6379/2");
        assert_eq!(redact_url("postgres://app@db/p"), "postgres://app@db/p");
    }

    /// A password typed as is, without percent-encoding, still never shows.
    #[test]
    fn redaction_hides_passwords_with_url_delimiters_in_them() {
        for password in ["p/ss", "p@ss", "p%40ss", "p?ss", "a/b@c%d?e", "123/x", "s3cret&x=1"] {
            // The start of every password, found nowhere else.
            let password = format!("Zq{password}");
            for raw in [
                format!("postgres://app:{password}@db:5432/p"),
                format!("postgresql://app:{password}@db/p?sslmode=require"),
                format!("postgres://db/p?user=app&password={password}"),
                format!("postgres://db/p?PASSWORD={password}&sslmode=require"),
                format!("redis://:{password}@127.0.0.1:6379"),
            ] {
                let shown = redact_url(&raw);
                assert!(!shown.contains("Zq"), "{raw} shown as {shown}");
                assert!(shown.contains("***"), "{shown}");
            }
        }
        assert_eq!(redact_url("postgres://app:a/b@c@db:5432/p"), "postgres://app:***@db:5432/p");
        assert_eq!(
            redact_url("postgres://db/p?passwordless=1&password=x&sslmode=require"),
            "postgres://db/p?passwordless=1&password=***&sslmode=require"
        );
    }

    #[test]
    fn connections_racing_to_switch_a_new_file_to_wal_all_open() {
        let dir = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let path = dir.path().join(format!("race-{round}.db"));
            let start = std::sync::Arc::new(std::sync::Barrier::new(6));
            let openers: Vec<_> = (0..6)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        let manager = Manager::new(DatabaseUrl::Sqlite(path), Duration::from_secs(5));
                        start.wait();
                        r2d2::ManageConnection::connect(&manager).map(drop).map_err(|e| e.to_string())
                    })
                })
                .collect();
            for opener in openers {
                assert_eq!(opener.join().unwrap(), Ok(()), "round {round}");
            }
        }
    }
}
