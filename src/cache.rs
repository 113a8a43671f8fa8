//! A verification cache: entries loaded from the database, dropped when
//! the change log says they changed (`changes`), and in any case after
//! `max_age`. A load that raced a change is never kept: every drop moves a
//! generation forward, and an entry is only stored when no drop happened
//! between the start of its load and its insertion.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Cache<V> {
    entries: RwLock<HashMap<String, (Arc<V>, Instant)>>,
    generation: AtomicU64,
    max_entries: usize,
    max_age: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
}

/// What a cache has done since it was made, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `get`s answered from memory.
    pub hits: u64,
    /// `get`s that found nothing, or an entry too old.
    pub misses: u64,
    /// Entries dropped because the change log (or a clear) said so.
    pub invalidations: u64,
    /// Entries held now.
    pub entries: usize,
}

impl<V> Cache<V> {
    pub fn new(max_entries: usize, max_age: Duration) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            max_entries,
            max_age,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    /// The entry, unless it is older than `max_age`.
    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let found = entries.get(key).filter(|(_, loaded)| loaded.elapsed() < self.max_age).map(|(v, _)| v.clone());
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Whether a fresh entry is held, without counting a lookup.
    pub fn holds(&self, key: &str) -> bool {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries.get(key).is_some_and(|(_, loaded)| loaded.elapsed() < self.max_age)
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            entries: self.len(),
        }
    }

    fn invalidated(&self, before: usize, after: usize) {
        self.invalidations.fetch_add(before.saturating_sub(after) as u64, Ordering::Relaxed);
    }

    /// Take this before reading the database, give it to `insert` after.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores what a load read, unless something was dropped since it began
    /// (what it read may be older than that change). Full: expired entries
    /// go, then half of the others, picked by the map's random order (a
    /// flood of distinct keys costs reloads, never memory, and empties no
    /// one's cache at once).
    pub fn insert(&self, since: u64, key: String, value: Arc<V>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != since {
            return;
        }
        if entries.len() >= self.max_entries && !entries.contains_key(&key) {
            entries.retain(|_, (_, loaded)| loaded.elapsed() < self.max_age);
            let mut i = 0usize;
            if entries.len() >= self.max_entries {
                entries.retain(|_, _| {
                    i += 1;
                    i.is_multiple_of(2)
                });
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Drops every entry `changed` picks.
    pub fn forget_where(&self, changed: impl Fn(&V) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        let before = entries.len();
        entries.retain(|_, (v, _)| !changed(v));
        self.invalidated(before, entries.len());
    }

    pub fn forget(&self, key: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        if entries.remove(key).is_some() {
            self.invalidated(1, 0);
        }
    }

    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.invalidated(entries.len(), 0);
        entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_that_raced_a_change_is_not_kept() {
        let cache = Cache::new(10, Duration::from_secs(60));
        let before = cache.generation();
        cache.forget("k"); // a change lands while the load reads the old row
        cache.insert(before, "k".into(), Arc::new(1));
        assert!(cache.get("k").is_none());
        let now = cache.generation();
        cache.insert(now, "k".into(), Arc::new(2));
        assert_eq!(cache.get("k").as_deref(), Some(&2));
    }

    #[test]
    fn forget_where_drops_only_what_it_picks() {
        let cache = Cache::new(10, Duration::from_secs(60));
        for i in 0..4 {
            cache.insert(cache.generation(), format!("k{i}"), Arc::new(i));
        }
        cache.forget_where(|v| v % 2 == 0);
        assert_eq!((0..4).filter(|i| cache.get(&format!("k{i}")).is_some()).collect::<Vec<_>>(), vec![1, 3]);
    }

    #[test]
    fn stats_count_hits_misses_and_what_changes_dropped() {
        let cache = Cache::new(10, Duration::from_secs(60));
        for i in 0..4 {
            cache.insert(cache.generation(), format!("k{i}"), Arc::new(i));
        }
        assert!(cache.get("k0").is_some() && cache.get("k1").is_some() && cache.get("nope").is_none());
        cache.forget("k0");
        cache.forget("k0"); // already gone: nothing dropped
        cache.forget_where(|v| *v == 1);
        cache.clear(); // k2 and k3
        let stats = cache.stats();
        assert_eq!(stats, CacheStats { hits: 2, misses: 1, invalidations: 4, entries: 0 });
    }

    #[test]
    fn entries_expire_and_a_full_cache_never_grows() {
        let cache = Cache::new(3, Duration::ZERO);
        cache.insert(cache.generation(), "a".into(), Arc::new(1));
        assert!(cache.get("a").is_none(), "older than max_age");
        let cache = Cache::new(3, Duration::from_secs(60));
        for i in 0..10 {
            cache.insert(cache.generation(), format!("k{i}"), Arc::new(i));
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get("k9").as_deref(), Some(&9));
    }
}
