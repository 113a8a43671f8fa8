//! Storage: diesel over one `DbConnection` that is SQLite or PostgreSQL.
//!
//! Everything here is synchronous; `Store::run` moves it off the async
//! workers. Errors leave this layer as `StoreError` and nothing else.

pub mod api_keys;
pub mod audit;
pub mod changes;
pub mod clients;
pub mod conn;
pub mod consents;
pub mod email_outbox;
pub mod email_verifications;
pub mod form_submissions;
pub mod grants;
pub mod invitations;
pub mod models;
pub mod oidc_logins;
pub mod orgs;
pub mod pairwise_subjects;
pub mod password_resets;
pub mod schema;
pub mod sessions;
pub mod signing_keys;
pub mod sqlite_files;
pub mod throttle;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

pub use conn::{DatabaseUrl, DbConnection, Pool};

/// What can go wrong in storage, as the domain needs to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A foreign key refused the write: what it points at does not exist.
    #[error("missing reference: {0}")]
    ForeignKey(String),
    /// The database did not answer (pool timeout, connection refused).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Concurrent writers kept this one out (SQLite still locked after the
    /// busy timeout; a PostgreSQL deadlock or serialization failure after
    /// the retries): the same request may well succeed when tried again.
    #[error("database busy: {0}")]
    Busy(String),
    /// The configuration names a database we cannot use.
    #[error("{0}")]
    Config(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => Self::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => Self::Conflict(info.message().to_owned()),
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                Self::ForeignKey(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                Self::Busy(info.message().to_owned())
            }
            // SQLITE_BUSY / SQLITE_LOCKED and PostgreSQL's 40P01 reach diesel
            // without a kind of their own: their messages are fixed.
            Error::DatabaseError(DatabaseErrorKind::Unknown, info) if is_contention(info.message()) => {
                Self::Busy(info.message().to_owned())
            }
            other => Self::Other(other.to_string()),
        }
    }
}

fn is_contention(message: &str) -> bool {
    message.starts_with("database is locked")
        || message.starts_with("database table is locked")
        || message.starts_with("deadlock detected")
}

impl StoreError {
    /// True when the request should be answered "try again" (503), not as
    /// a fault: the database is down or was too busy.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Busy(_))
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// How many times a PostgreSQL transaction that lost a serialization race
/// or a deadlock is run in all before `Busy` is answered.
const TRANSIENT_ATTEMPTS: u32 = 4;

/// Holds, until the end of the current transaction, a PostgreSQL advisory
/// lock named by `key` (the same on every instance): writers that take it
/// first serialize on something no row lock covers, such as rows another
/// transaction is about to insert. Nothing on SQLite, where a write
/// transaction already excludes every other.
pub fn lock_until_commit(conn: &mut DbConnection, key: &str) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(advisory_lock_id(key))
            .execute(pg)?;
    }
    Ok(())
}

/// A 64-bit advisory-lock id for `key`: the first 8 bytes of its SHA-256.
pub fn advisory_lock_id(key: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Runs `f` in a transaction that serializes with every other writer from
/// its first read: on SQLite `BEGIN IMMEDIATE` takes the write lock before
/// anything is read, so two of these can never decide on the same state and
/// none ever has to upgrade a read lock under a concurrent writer (which
/// SQLite refuses at once, whatever the busy timeout); on PostgreSQL a plain
/// transaction, in which the caller locks the rows it decides on (`FOR
/// UPDATE`). Commits when `f` returns `Ok`, so a decision that also answers
/// "no" (`Ok(Err(..))`) keeps what it wrote.
///
/// A PostgreSQL transaction that deadlocks or fails to serialize is rolled
/// back and run again, a bounded number of times after a short random
/// pause, so `f` must only write through `c` (it may run more than once);
/// after the last attempt the answer is `Busy`. SQLite needs no retry: its
/// busy timeout is the wait.
///
/// Inside another transaction this is a savepoint of it, and the outer
/// transaction's attempts cover it.
pub fn write_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnMut(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    transaction(conn, Isolation::ReadCommitted, f)
}

/// `write_transaction` at SERIALIZABLE isolation on PostgreSQL, for
/// decisions no row lock can guard (a row that does not exist yet).
pub fn serializable_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnMut(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    transaction(conn, Isolation::Serializable, f)
}

/// The transaction manager behind `DbConnection`, whichever backend.
type TxManager = <DbConnection as diesel::Connection>::TransactionManager;

#[derive(Clone, Copy)]
enum Isolation {
    ReadCommitted,
    Serializable,
}

fn transaction<T>(
    conn: &mut DbConnection,
    isolation: Isolation,
    mut f: impl FnMut(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    use diesel::Connection;
    use diesel::connection::TransactionManager;
    use rand::Rng;
    let depth = TxManager::transaction_manager_status_mut(conn).transaction_depth()?;
    if depth.is_some() {
        return conn.transaction(f);
    }
    let mut attempt = 1;
    loop {
        let outcome = attempt_once(conn, isolation, &mut f);
        match outcome {
            Err(StoreError::Busy(cause)) if matches!(conn, DbConnection::Postgresql(_)) => {
                if attempt == TRANSIENT_ATTEMPTS {
                    return Err(StoreError::Busy(cause));
                }
                let pause = rand::thread_rng().gen_range(2..=10) * u64::from(attempt);
                tracing::debug!(%cause, attempt, "transaction lost a race; trying again");
                std::thread::sleep(Duration::from_millis(pause));
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn attempt_once<T>(
    conn: &mut DbConnection,
    isolation: Isolation,
    f: &mut impl FnMut(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match (&mut *conn, isolation) {
        (DbConnection::Sqlite(c), _) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        (DbConnection::Postgresql(c), Isolation::ReadCommitted) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?
        }
        (DbConnection::Postgresql(c), Isolation::Serializable) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN ISOLATION LEVEL SERIALIZABLE")?
        }
    }
    match f(conn) {
        // A failed COMMIT is rolled back by diesel and comes back here.
        Ok(v) => TxManager::commit_transaction(conn).map(|()| v).map_err(StoreError::from),
        Err(e) => {
            // The cause is what the caller needs; a failed rollback leaves
            // the connection broken, and r2d2 discards it.
            let _ = TxManager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// How the connection pool behaves.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Connections at most.
    pub size: u32,
    /// Wait for a free connection before `Unavailable`.
    pub timeout: Duration,
    /// SQLite: wait for another writer before `Busy`.
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { size: 10, timeout: Duration::from_secs(5), sqlite_busy_timeout: Duration::from_secs(5) }
    }
}

/// The shared handle to the database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    url: DatabaseUrl,
    /// One permit per pooled connection, handed out first come, first
    /// served: a request waits for a connection here, on the async side,
    /// in order, instead of on a blocking thread in the pool's unordered
    /// wake-ups (which left a few requests waiting far longer than the rest).
    turns: Arc<tokio::sync::Semaphore>,
    /// How long a request waits for its turn before 503.
    wait: Duration,
    /// How long a request waits for the database to answer once it has its
    /// turn, before 503 (`answer_bound`).
    answer: Duration,
    /// Hears, after each `run`, what its closure noted for this instance's
    /// caches (`changes::note_local`).
    local_changes: Arc<std::sync::OnceLock<LocalChanges>>,
    /// SQLite: the shared lock on `<db>-lock`, held while any clone of the
    /// store lives, which keeps `portcullis restore` out (`sqlite_files`).
    _in_use: Option<Arc<std::fs::File>>,
    /// Where `run` records how long it waited for its connection (metrics).
    pool_wait: Arc<std::sync::OnceLock<metrics::Histogram>>,
}

/// The pool's connections now, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Open, in use or idle.
    pub connections: u32,
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

pub type LocalChanges = Box<dyn Fn(&str, &str) + Send + Sync>;

impl Store {
    /// Connects, checks the database answers and applies pending migrations.
    pub fn open(url: DatabaseUrl, settings: &PoolSettings) -> Result<Self, StoreError> {
        // Before any connection, which would create the file a restore is
        // about to put in place.
        let in_use = match &url {
            DatabaseUrl::Sqlite(path) => Some(Arc::new(sqlite_files::hold_shared(path, settings.timeout)?)),
            DatabaseUrl::Postgres(_) => None,
        };
        let pool = conn::open_pool(&url, settings)?;
        let turns = Arc::new(tokio::sync::Semaphore::new(settings.size.max(1) as usize));
        let local_changes = Arc::new(std::sync::OnceLock::new());
        let answer = answer_bound(settings);
        let pool_wait = Arc::new(std::sync::OnceLock::new());
        let store =
            Self { pool, url, turns, wait: settings.timeout, answer, local_changes, _in_use: in_use, pool_wait };
        Ok(store)
    }

    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.pool.get()?;
        conn::run_migrations(&mut conn)
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let asked = std::time::Instant::now();
        let pool_wait = self.pool_wait.get().cloned();
        let turn = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Unavailable("timed out waiting for a database connection".into()))?
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let local = self.local_changes.clone();
        let work = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let result = pool.get().map_err(StoreError::from).and_then(|mut conn| {
                if let Some(h) = pool_wait {
                    h.record(asked.elapsed());
                }
                f(&mut conn)
            });
            tell(&local);
            result
        });
        // A database that accepts and then never answers (a hung server)
        // would hold the request forever. It is told to try again instead;
        // the blocking thread keeps its turn until the database answers or
        // its connection fails, so at most one thread per connection waits.
        // What it was writing may still commit, as with an answer lost on
        // the way: clients retry idempotently or find out.
        match tokio::time::timeout(self.answer, work).await {
            Ok(done) => done.map_err(|e| StoreError::Other(format!("database task failed: {e}")))?,
            Err(_) => Err(StoreError::Unavailable("the database did not answer in time".into())),
        }
    }

    /// Runs `f` synchronously (CLI commands, start-up).
    pub fn run_blocking<T>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let result = self.pool.get().map_err(StoreError::from).and_then(|mut conn| f(&mut conn));
        tell(&self.local_changes);
        result
    }

    /// Where `run` records its waits for a connection (once; the metrics).
    pub fn record_pool_waits(&self, histogram: metrics::Histogram) {
        let _ = self.pool_wait.set(histogram);
    }

    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState { connections: state.connections, idle: state.idle_connections, max: self.pool.max_size() }
    }

    /// Where the changes that closures note go (once; the change log's reader).
    pub fn on_local_changes(&self, hear: LocalChanges) {
        let _ = self.local_changes.set(hear);
    }

    /// True when the database answers within `timeout`: readiness.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let pool = self.pool.clone();
        let sqlite_file = match &self.url {
            DatabaseUrl::Sqlite(path) => Some(path.clone()),
            DatabaseUrl::Postgres(_) => None,
        };
        tokio::task::spawn_blocking(move || {
            use diesel::r2d2::R2D2Connection;
            // SQLite: pooled connections keep a moved or deleted file open
            // and answer, but what they write is lost with it. Checked
            // before any connection is taken, since a new one would create
            // an empty file in its place. Never by opening the file:
            // closing any descriptor of it drops every POSIX lock this
            // process holds on it, SQLite's included, and another process
            // would then take itself for the last one and delete the live
            // WAL (attacker round 11, finding 3). `metadata` opens nothing.
            if sqlite_file.is_some_and(|file| !std::fs::metadata(file).is_ok_and(|m| m.is_file())) {
                return false;
            }
            pool.get_timeout(timeout).map(|mut c| c.ping().is_ok()).unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}

/// The longest a request waits for the database once it holds a
/// connection's turn: the pool's wait (to check the connection out, or
/// connect), then the longer of that and SQLite's busy timeout (a write
/// waiting for another's). Queries themselves take milliseconds.
fn answer_bound(settings: &PoolSettings) -> Duration {
    settings.timeout + settings.timeout.max(settings.sqlite_busy_timeout)
}

/// Hands what the closure just run noted to the listener, if any; forgets it otherwise.
fn tell(local: &std::sync::OnceLock<LocalChanges>) {
    let noted = changes::take_local();
    if let Some(hear) = local.get() {
        for (topic, item) in &noted {
            hear(topic, item);
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> StoreError {
        Error::DatabaseError(kind, Box::new(message.to_owned())).into()
    }

    #[test]
    fn contention_is_busy_and_transient_other_faults_are_not() {
        use DatabaseErrorKind::{SerializationFailure, Unknown};
        for (kind, message) in [
            (Unknown, "database is locked"),
            (Unknown, "database table is locked: consents"),
            (Unknown, "deadlock detected"),
            (SerializationFailure, "could not serialize access due to concurrent update"),
        ] {
            let e = database_error(kind, message);
            assert!(matches!(e, StoreError::Busy(_)) && e.is_transient(), "{message}: {e:?}");
        }
        let other = database_error(Unknown, "no such table: users");
        assert!(matches!(other, StoreError::Other(_)) && !other.is_transient());
        assert!(StoreError::Unavailable("pool timed out".into()).is_transient());
        assert!(!StoreError::Conflict("unique".into()).is_transient());
    }

    /// A write transaction holds SQLite's write lock from its first
    /// statement, reads included: a second writer cannot begin meanwhile.
    /// Nested, it is a savepoint of the outer one.
    #[test]
    fn sqlite_write_transactions_lock_from_the_start_and_nest() {
        use diesel::RunQueryDsl;
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().unwrap();
        let settings = PoolSettings { size: 2, ..PoolSettings::default() };
        let store = Store::open(DatabaseUrl::Sqlite(dir.path().join("t.db")), &settings).unwrap();
        store.migrate().unwrap();
        let mut other = store.pool.get().unwrap();
        other.batch_execute("PRAGMA busy_timeout = 0").unwrap();
        let count = |c: &mut DbConnection| -> i64 {
            diesel::dsl::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT COUNT(*) FROM organizations)"))
                .get_result(c)
                .unwrap()
        };
        store
            .run_blocking(|conn| {
                write_transaction(conn, |c| {
                    assert_eq!(count(c), 0);
                    let refused = write_transaction(&mut other, |_| Ok(()));
                    assert!(matches!(refused, Err(StoreError::Busy(_))), "{refused:?}");
                    write_transaction(c, |inner| {
                        inner.batch_execute(
                            "INSERT INTO organizations (id, name, created_at) VALUES ('o', 'O', '2026-01-01 00:00:00')",
                        )?;
                        Ok(())
                    })
                })
            })
            .unwrap();
        assert_eq!(count(&mut other), 1, "the savepoint's write is committed with the outer transaction");
        assert!(write_transaction(&mut other, |_| Ok(())).is_ok(), "the lock is released at commit");
    }
}
