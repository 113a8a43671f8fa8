//! Storage: diesel over one `DbConnection` that is SQLite or PostgreSQL.
//!
//! Everything here is synchronous; `Store::run` moves it off the async
//! workers. Errors leave this layer as `StoreError` and nothing else.

pub mod api_keys;
pub mod audit;
pub mod clients;
pub mod conn;
pub mod grants;
pub mod invitations;
pub mod models;
pub mod orgs;
pub mod schema;
pub mod sessions;
pub mod signing_keys;
pub mod throttle;
pub mod users;

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
            other => Self::Other(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// Runs `f` in a transaction that serializes with every other writer from
/// its first read: on SQLite `BEGIN IMMEDIATE` takes the write lock before
/// anything is read, so two of these can never decide on the same state; on
/// PostgreSQL a plain transaction, in which the caller locks the rows it
/// decides on (`FOR UPDATE`). Commits when `f` returns `Ok`, so a decision
/// that also answers "no" (`Ok(Err(..))`) keeps what it wrote.
///
/// Diesel's transaction manager is told about the transaction, so a nested
/// `transaction` inside `f` becomes a savepoint instead of a second BEGIN.
pub fn write_transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    use diesel::Connection;
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        DbConnection::Postgresql(_) => conn.transaction(f),
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
            match f(conn) {
                Ok(v) => {
                    <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
                    Ok(v)
                }
                Err(e) => {
                    // The cause is what the caller needs; a failed rollback
                    // leaves the connection broken, and r2d2 discards it.
                    let _ = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn);
                    Err(e)
                }
            }
        }
    }
}

/// The shared handle to the database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    url: DatabaseUrl,
}

impl Store {
    /// Connects, checks the database answers and applies pending migrations.
    pub fn open(url: DatabaseUrl, pool_size: u32, timeout: Duration) -> Result<Self, StoreError> {
        let pool = conn::open_pool(&url, pool_size, timeout)?;
        let store = Self { pool, url };
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
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Other(format!("database task failed: {e}")))?
    }

    /// Runs `f` synchronously (CLI commands, start-up).
    pub fn run_blocking<T>(&self, f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// True when the database answers within `timeout`: readiness.
    pub async fn ping(&self, timeout: Duration) -> bool {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            use diesel::r2d2::R2D2Connection;
            pool.get_timeout(timeout).map(|mut c| c.ping().is_ok()).unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}
