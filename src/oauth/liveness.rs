//! Whether an access token whose signature verified is still live, from
//! memory: the facts `live_access_token` reads from the database — that its
//! `jti` is not denied, since when its user's tokens are revoked as a whole,
//! since when its app's tokens for that user are (a withdrawn consent),
//! which user a pairwise subject stands for — kept once read, and dropped
//! when the change log says they changed (a revocation, a family's end, a
//! password change or demotion, a withdrawn consent). A token's first check reads the database;
//! the ones after it do not.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::cache::{Cache, CacheStats};
use crate::changes::{Change, Changes};
use crate::config::CacheConfig;
use crate::store::changes::{ACCESS_TOKEN, CLIENT_TOKENS, USER_TOKENS};

pub struct Liveness {
    /// Tokens known not denied, by `jti`.
    live: Cache<()>,
    /// Since when each user's tokens are revoked as a whole (`None`: never).
    revoked_since: Cache<Option<NaiveDateTime>>,
    /// Since when an app's tokens for a user are revoked (`None`: never),
    /// by `user_id client_id`.
    client_revoked_since: Cache<Option<NaiveDateTime>>,
    /// The user behind each pairwise subject, by `organization subject`:
    /// never changes once written; goes with the user.
    pairwise: Cache<String>,
}

/// The generations of the four caches when a database read began.
pub struct Since([u64; 4]);

impl Liveness {
    /// `None` in strict mode: every check reads the database.
    pub fn new(config: &CacheConfig, changes: &Changes) -> Option<Arc<Self>> {
        if config.strict {
            return None;
        }
        let age = Duration::from_secs(config.max_age_secs);
        let this = Arc::new(Self {
            live: Cache::new(config.max_entries, age),
            revoked_since: Cache::new(config.max_entries, age),
            client_revoked_since: Cache::new(config.max_entries, age),
            pairwise: Cache::new(config.max_entries, age),
        });
        let t = this.clone();
        changes.subscribe(Arc::new(move |change| match change {
            Change::Everything => {
                t.live.clear();
                t.revoked_since.clear();
                t.client_revoked_since.clear();
                t.pairwise.clear();
            }
            Change::Item { topic: ACCESS_TOKEN, item } => t.live.forget(item),
            Change::Item { topic: USER_TOKENS, item } => {
                t.revoked_since.forget(item);
                t.pairwise.forget_where(|user_id| user_id == item);
            }
            Change::Item { topic: CLIENT_TOKENS, item } => t.client_revoked_since.forget(item),
            Change::Item { .. } => {}
        }));
        Some(this)
    }

    pub fn since(&self) -> Since {
        Since([
            self.live.generation(),
            self.revoked_since.generation(),
            self.pairwise.generation(),
            self.client_revoked_since.generation(),
        ])
    }

    /// The user behind a pairwise subject of `organization_id`, if known.
    pub fn pairwise_user(&self, organization_id: &str, subject: &str) -> Option<String> {
        self.pairwise.get(&format!("{organization_id} {subject}")).map(|u| (*u).clone())
    }

    /// `Some(live)` when every fact is in memory; `None`: ask the database.
    /// `user` is the user behind the token and its `iat`; `client_id` the
    /// app that holds it.
    pub fn is_live(&self, jti: &str, client_id: &str, user: Option<(&str, NaiveDateTime)>) -> Option<bool> {
        self.live.get(jti)?;
        match user {
            None => Some(true),
            Some((user_id, iat)) => {
                let since = self.revoked_since.get(user_id)?;
                let client_since = self.client_revoked_since.get(&client_key(user_id, client_id))?;
                Some(!since.is_some_and(|at| at > iat) && !client_since.is_some_and(|at| at > iat))
            }
        }
    }

    /// Each cache's counts, named for the metrics.
    pub fn cache_stats(&self) -> [(&'static str, CacheStats); 4] {
        [
            ("access_token_liveness", self.live.stats()),
            ("user_revocations", self.revoked_since.stats()),
            ("consent_revocations", self.client_revoked_since.stats()),
            ("pairwise_subjects", self.pairwise.stats()),
        ]
    }

    /// Keeps what a database read found (unless a change arrived meanwhile).
    pub fn remember(
        &self,
        since: &Since,
        jti: &str,
        denied: bool,
        client_id: &str,
        user: Option<(&str, Option<NaiveDateTime>, Option<NaiveDateTime>)>,
        pairwise: Option<(&str, &str, &str)>,
    ) {
        if !denied {
            self.live.insert(since.0[0], jti.to_owned(), Arc::new(()));
        }
        if let Some((user_id, revoked, client_revoked)) = user {
            self.revoked_since.insert(since.0[1], user_id.to_owned(), Arc::new(revoked));
            self.client_revoked_since.insert(since.0[3], client_key(user_id, client_id), Arc::new(client_revoked));
        }
        if let Some((organization_id, subject, user_id)) = pairwise {
            self.pairwise.insert(since.0[2], format!("{organization_id} {subject}"), Arc::new(user_id.to_owned()));
        }
    }
}

/// The key of `client_revoked_since`, as the change log names the item.
fn client_key(user_id: &str, client_id: &str) -> String {
    format!("{user_id} {client_id}")
}
