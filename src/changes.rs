//! How every instance learns what changed, so that its caches never answer
//! from a stale entry for long: the change log in the database (written by
//! the server and by triggers, see `store::changes`), read at every poll and
//! after every local change; on PostgreSQL also each entry's announcement on
//! `LISTEN portcullis_changes`, which arrives within milliseconds of the
//! commit. The log stays the fallback: a lost announcement (a dropped
//! listener connection) is read from it at the next poll.
//!
//! Ids in the log are not committed in order on PostgreSQL (a sequence value
//! is taken at insert, the row is seen at commit), so an id skipped by one
//! read is asked for again by later ones until it appears or `GAP_WAIT` has
//! passed (a rolled-back insert leaves a gap for good).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use crate::store::{DatabaseUrl, Store, StoreError, changes as rows};

/// What a cache is told: one item of a topic changed, or anything may have
/// (the log could not be read: drop everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Item { topic: &'a str, item: &'a str },
    Everything,
}

pub type Subscriber = Arc<dyn Fn(Change<'_>) + Send + Sync>;

/// How long an id missing from the log is asked for again: longer than
/// any transaction of ours stays open (and `cache.max_age_secs` bounds what
/// a transaction held open longer by hand could leave behind).
const GAP_WAIT: Duration = Duration::from_secs(600);
/// Most gaps remembered; beyond, caches are emptied instead.
const MAX_GAPS: usize = 10_000;
/// Entries read at once.
const PAGE: i64 = 1000;
/// At start, entries this far back are read again: a transaction that took
/// its id before start may commit after it.
const START_OVERLAP: i64 = 100;
/// How often the listener looks for announcements on its connection (a
/// non-blocking read of the socket).
const LISTEN_TICK: Duration = Duration::from_millis(2);
/// How often the listener asks its connection a question, so that a dead
/// one (a half-open TCP connection reads as merely quiet) is noticed.
const LISTEN_HEARTBEAT: Duration = Duration::from_secs(5);
/// libpq settings for the listener's connection: TCP keepalives, and a cap
/// on unacknowledged data, so a vanished server is noticed within seconds.
const LISTEN_CONNECTION: &str =
    "keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=10000";
/// How often the log is pruned, and how long entries are kept.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
const KEPT: chrono::Duration = chrono::Duration::hours(1);

struct Cursor {
    after: i64,
    /// Ids below `after` not seen yet, with when they were first missed.
    gaps: BTreeMap<i64, Instant>,
}

pub struct Changes {
    store: Store,
    subscribers: RwLock<Vec<Subscriber>>,
    cursor: Mutex<Cursor>,
    pruned: Mutex<Option<Instant>>,
}

impl Changes {
    /// Starts at the end of the log: caches are empty now.
    pub fn new(store: Store) -> Result<Arc<Self>, StoreError> {
        let last = store.run_blocking(rows::last_id)?;
        let changes = Arc::new(Self {
            store,
            subscribers: RwLock::new(Vec::new()),
            cursor: Mutex::new(Cursor { after: (last - START_OVERLAP).max(0), gaps: BTreeMap::new() }),
            pruned: Mutex::new(None),
        });
        // What this instance changes reaches its caches as its transaction
        // ends, before the request that made it is answered.
        let weak = Arc::downgrade(&changes);
        changes.store.on_local_changes(Box::new(move |topic, item| {
            if let Some(c) = weak.upgrade() {
                c.dispatch(Change::Item { topic, item });
            }
        }));
        Ok(changes)
    }

    pub fn subscribe(&self, subscriber: Subscriber) {
        self.subscribers.write().unwrap_or_else(|p| p.into_inner()).push(subscriber);
    }

    pub fn dispatch(&self, change: Change<'_>) {
        for s in self.subscribers.read().unwrap_or_else(|p| p.into_inner()).iter() {
            s(change);
        }
    }

    /// Reads the log since the last read and tells the caches. When it
    /// cannot be read, every cache is emptied: a change may have been missed.
    pub fn catch_up(&self) -> Result<usize, StoreError> {
        let result = self.read_log();
        if result.is_err() {
            self.dispatch(Change::Everything);
        }
        result
    }

    /// `catch_up` off the async workers, for a request that just changed
    /// something: once it returns, this instance's caches know.
    pub async fn catch_up_now(self: &Arc<Self>) {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || this.catch_up()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(cause = %e, "reading the change log failed; caches emptied"),
            Err(e) => {
                self.dispatch(Change::Everything);
                tracing::warn!(cause = %e, "reading the change log failed; caches emptied");
            }
        }
    }

    fn read_log(&self) -> Result<usize, StoreError> {
        // One reader at a time, so that the cursor moves forward only.
        let mut cursor = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        cursor.gaps.retain(|_, since| now.duration_since(*since) < GAP_WAIT);
        let mut seen = 0;
        loop {
            let (after, gaps) = (cursor.after, cursor.gaps.keys().copied().collect::<Vec<_>>());
            let entries = self.store.run_blocking(|conn| rows::entries_since(conn, after, &gaps, PAGE))?;
            for (id, topic, item) in &entries {
                if *id <= cursor.after {
                    cursor.gaps.remove(id);
                } else if *id - cursor.after > MAX_GAPS as i64 {
                    // Far too many ids missing to wait for each: start afresh.
                    cursor.gaps.clear();
                    cursor.after = *id;
                    self.dispatch(Change::Everything);
                } else {
                    for missing in cursor.after + 1..*id {
                        cursor.gaps.insert(missing, now);
                    }
                    cursor.after = *id;
                }
                self.dispatch(Change::Item { topic, item });
            }
            seen += entries.len();
            if cursor.gaps.len() > MAX_GAPS {
                cursor.gaps.clear();
                self.dispatch(Change::Everything);
            }
            if (entries.len() as i64) < PAGE {
                return Ok(seen);
            }
        }
    }

    /// Every `PRUNE_EVERY`, forgets log entries older than `KEPT`: every
    /// instance read them long ago. (Not at each poll: a delete takes
    /// SQLite's write lock even when it finds nothing.)
    pub fn prune_now_and_then(&self) -> Result<usize, StoreError> {
        {
            let mut last = self.pruned.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < PRUNE_EVERY) {
                return Ok(0);
            }
            *last = Some(Instant::now());
        }
        let before = (chrono::Utc::now() - KEPT).naive_utc();
        self.store.run_blocking(|conn| rows::prune(conn, before))
    }

    /// On PostgreSQL, a thread that listens for announcements and tells the
    /// caches as each arrives. It ends when `Changes` is dropped (the server
    /// stopped); after a lost connection it connects again and reads the log.
    pub fn listen(self: &Arc<Self>) {
        let DatabaseUrl::Postgres(url) = self.store.url().clone() else { return };
        let weak = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("change-listener".into()).spawn(move || listen(&weak, &url));
        if let Err(e) = spawned {
            tracing::warn!(cause = %e, "no change listener; changes arrive at each poll");
        }
    }
}

fn listen(changes: &Weak<Changes>, url: &str) {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let mut failures = 0u32;
    while changes.strong_count() > 0 {
        let sep = if url.contains('?') { '&' } else { '?' };
        let connected = PgConnection::establish(&format!("{url}{sep}{LISTEN_CONNECTION}"))
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                diesel::sql_query(format!("LISTEN {}", rows::CHANNEL)).execute(&mut conn).map_err(|e| e.to_string())?;
                Ok(conn)
            });
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(cause = %e, "change listener cannot connect; changes arrive at each poll");
                }
                std::thread::sleep(Duration::from_secs(1).min(Duration::from_millis(100) * failures));
                continue;
            }
        };
        failures = 0;
        // What was announced while no one listened is in the log.
        if let Some(c) = changes.upgrade() {
            let _ = c.catch_up();
        }
        let mut asked = std::time::Instant::now();
        loop {
            std::thread::sleep(LISTEN_TICK);
            let Some(c) = changes.upgrade() else { return };
            let mut lost = None;
            if asked.elapsed() >= LISTEN_HEARTBEAT {
                asked = std::time::Instant::now();
                if let Err(e) = diesel::sql_query("SELECT 1").execute(&mut conn) {
                    lost = Some(e);
                }
            }
            for n in conn.notifications_iter().take_while(|_| lost.is_none()) {
                match n {
                    Ok(n) => {
                        if let Some((topic, item)) = n.payload.split_once(':') {
                            c.dispatch(Change::Item { topic, item });
                        }
                    }
                    Err(e) => {
                        lost = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = lost {
                tracing::warn!(cause = %e, "change listener lost its connection; connecting again");
                c.dispatch(Change::Everything);
                break;
            }
        }
    }
}
