//! The change log (`cache_invalidations`): what changed, for the caches of
//! every instance. The server writes client changes here itself; triggers
//! write every change to API keys, memberships and organizations (see the
//! migration `change_triggers`), and on PostgreSQL announce each entry on
//! the channel `portcullis_changes` as its transaction commits.

use std::cell::RefCell;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::cache_invalidations;
use super::{DbConnection, StoreError};

/// The PostgreSQL channel on which each entry is announced, as `topic:item`.
pub const CHANNEL: &str = "portcullis_changes";

/// Topics of entries the triggers write for access-token liveness.
pub const ACCESS_TOKEN: &str = "access_token";
pub const USER_TOKENS: &str = "user_tokens";
/// `{user_id} {client_id}`: the user withdrew their consent to the app.
pub const CLIENT_TOKENS: &str = "client_tokens";

thread_local! {
    /// What the store functions run on this thread changed, for this
    /// instance's caches: `Store::run` hands it to them when its closure
    /// returns, that is after the closure's transaction committed (or
    /// failed: dropping a cache entry for nothing is harmless).
    static LOCAL: RefCell<Vec<(&'static str, String)>> = const { RefCell::new(Vec::new()) };
}

/// Notes a change for this instance's caches (the triggers tell the others).
pub fn note_local(topic: &'static str, item: &str) {
    LOCAL.with(|l| l.borrow_mut().push((topic, item.to_owned())));
}

/// The changes noted on this thread since the last call.
pub fn take_local() -> Vec<(&'static str, String)> {
    LOCAL.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Tells every instance that `item` of `topic` changed. Entries carry the
/// wall-clock time, as the triggers' do: it only decides when they are
/// pruned.
pub fn record_invalidation(conn: &mut DbConnection, topic: &str, item: &str) -> Result<(), StoreError> {
    diesel::insert_into(cache_invalidations::table)
        .values((
            cache_invalidations::topic.eq(topic),
            cache_invalidations::item.eq(item),
            cache_invalidations::created_at.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Entries after `after`, and those of `gaps` (ids below it that had not
/// committed when it was read), oldest first, at most `limit`.
pub fn entries_since(
    conn: &mut DbConnection,
    after: i64,
    gaps: &[i64],
    limit: i64,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    let mut q = cache_invalidations::table.filter(cache_invalidations::id.gt(after)).into_boxed();
    if !gaps.is_empty() {
        q = q.or_filter(cache_invalidations::id.eq_any(gaps.to_vec()));
    }
    Ok(q.order(cache_invalidations::id.asc())
        .select((cache_invalidations::id, cache_invalidations::topic, cache_invalidations::item))
        .limit(limit)
        .load(conn)?)
}

pub fn last_id(conn: &mut DbConnection) -> Result<i64, StoreError> {
    use diesel::dsl::max;
    Ok(cache_invalidations::table.select(max(cache_invalidations::id)).first::<Option<i64>>(conn)?.unwrap_or(0))
}

/// Forgets entries older than `before`: every instance has read them.
pub fn prune(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(cache_invalidations::table.filter(cache_invalidations::created_at.lt(before))).execute(conn)?)
}
