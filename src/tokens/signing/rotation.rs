//! When keys rotate, and how long the old ones stay: the schedule
//! (`oauth.key_rotation_days`, each key on its own clock from its
//! activation), the delay before a `next` key signs, the retention of a
//! retired key, and the pass every instance makes on each change poll.
//!
//! Every instance runs the pass; the database decides what happens once: a
//! scheduled `next` key is inserted in one transaction that checks the
//! schedule again (`insert_next_if_due`), an activation is a conditional
//! UPDATE (`activate_next`). So instances running together prepare one key
//! and activate it once.

use chrono::{DateTime, Duration, Utc};

use super::{ALGORITHMS, SigningAlgorithm, SigningError, SigningKeys, keys};
use crate::config::Config;
use crate::oauth::clients::MAX_ACCESS_TOKEN_TTL_SECS;
use crate::store::signing_keys::{self as db, KeyStatus, STATE_CURRENT, STATE_NEXT, STATE_RETIRED};
use crate::store::{Store, StoreError};
use crate::tokens::master_key::MasterKey;

/// The access-token lifetime of the dashboard's own sessions
/// (`oauth::dashboard`), which no configuration overrides.
const DASHBOARD_ACCESS_TTL_SECS: i64 = crate::oauth::dashboard::ACCESS_TTL_SECS;

/// The rotation settings, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPolicy {
    /// A current key is rotated this long after its activation; `None`: never on schedule.
    pub period: Option<Duration>,
    /// A `next` key signs once it has been published this long: the JWKS
    /// max-age plus one change poll (every instance serves it by then, and
    /// a JWKS cached before that has expired).
    pub activation_delay: Duration,
    /// The longest lifetime the configuration gives a token: access tokens
    /// (and the dashboard's) and ID tokens (`oidc.id_token_ttl_secs`).
    configured_lifetime: Duration,
    /// Added to the longest lifetime: the JWKS max-age, and one change poll
    /// during which an instance that has not yet seen an activation still
    /// signs with the key just retired.
    margin: Duration,
}

/// One signing key as an operator (the CLI's `signing-key list`) or an
/// administrator (the dashboard's read-only page) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyListing {
    pub kid: String,
    pub algorithm: String,
    /// `next`, `current` or `retired`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    /// A next key's activation; a retired key's end of publication.
    pub until: Option<DateTime<Utc>>,
    /// The current key of the algorithm that signs access tokens.
    pub signs_access_tokens: bool,
}

/// Every signing key of the server, with when it changes state next.
/// Blocking (it reads the database on this thread).
pub fn list_keys(config: &Config, store: &Store) -> Result<Vec<KeyListing>, SigningError> {
    let policy = RotationPolicy::from_config(config);
    let retention = policy.retired_retention(store)?;
    let access = config.oauth.signing_algorithm.parse::<SigningAlgorithm>().ok().map(SigningAlgorithm::as_str);
    Ok(SigningKeys::statuses(store)?
        .into_iter()
        .map(|k| {
            let until = match k.state.as_str() {
                STATE_NEXT => Some(policy.activates_at(&k)),
                STATE_RETIRED => k.retired_at.map(|at| at.and_utc() + retention),
                _ => None,
            };
            KeyListing {
                signs_access_tokens: k.state == STATE_CURRENT && Some(k.algorithm.as_str()) == access,
                created_at: k.created_at.and_utc(),
                activated_at: k.activated_at.map(|t| t.and_utc()),
                retired_at: k.retired_at.map(|t| t.and_utc()),
                until,
                kid: k.kid,
                algorithm: k.algorithm,
                state: k.state,
            }
        })
        .collect())
}

impl RotationPolicy {
    pub fn from_config(config: &Config) -> Self {
        let id_token_ttl = Duration::seconds(config.oidc.id_token_ttl_secs);
        let o = &config.oauth;
        let poll = Duration::milliseconds(i64::try_from(config.change_poll_interval_ms).unwrap_or(i64::MAX));
        let max_age = Duration::seconds(o.jwks_max_age_secs.into());
        let access = Duration::seconds(o.access_token_ttl_secs.max(DASHBOARD_ACCESS_TTL_SECS));
        Self {
            period: (o.key_rotation_days > 0).then(|| Duration::days(o.key_rotation_days.into())),
            activation_delay: max_age + poll,
            configured_lifetime: access.max(id_token_ttl),
            margin: max_age + poll,
        }
    }

    /// How long after its retirement a key stays published and verifying:
    /// the longest lifetime of a token it may have signed — configured, or
    /// a client's own access-token lifetime, which may be longer — plus the
    /// margin. Read from the database, since clients change at run time.
    ///
    /// Each client's lifetime counts up to `MAX_ACCESS_TOKEN_TTL_SECS`, the
    /// bound registration enforces and issuance applies: a row written
    /// before the bound cannot keep every retired key published for years.
    pub fn retired_retention(&self, store: &Store) -> Result<Duration, StoreError> {
        let longest_client = store.run_blocking(db::longest_client_access_ttl)?;
        // The longest of the clamped lifetimes is the clamped longest one.
        let clamped = longest_client.map(|secs| Duration::seconds(secs.min(MAX_ACCESS_TOKEN_TTL_SECS)));
        let lifetime = clamped.map_or(self.configured_lifetime, |client| self.configured_lifetime.max(client));
        Ok(lifetime + self.margin)
    }

    /// When the `next` key `next` starts signing.
    pub fn activates_at(&self, next: &KeyStatus) -> DateTime<Utc> {
        next.created_at.and_utc() + self.activation_delay
    }
}

/// What one housekeeping pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Housekeeping {
    /// The keys were re-read: another instance (or the CLI) changed them.
    pub reloaded: bool,
    /// `next` keys prepared on schedule.
    pub prepared: Vec<(SigningAlgorithm, String)>,
    /// `next` keys that started signing.
    pub activated: Vec<(SigningAlgorithm, String)>,
    /// Retired keys deleted at the end of their retention.
    pub pruned: usize,
}

impl SigningKeys {
    /// One pass, at `now`: picks up a change made elsewhere, activates each
    /// `next` key published for `activation_delay`, prepares a `next` key
    /// for each current key older than the period, applies the retention
    /// (clients may have changed) and deletes retired keys past it. A
    /// failure for one algorithm is logged and does not stop the others.
    pub fn housekeeping(
        &self,
        store: &Store,
        master: &MasterKey,
        policy: &RotationPolicy,
        now: DateTime<Utc>,
    ) -> Result<Housekeeping, SigningError> {
        let _pass = self.housekeeping.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut done = Housekeeping::default();
        let statuses = store.run_blocking(db::list_statuses)?;
        if self.snapshot().states != keys::states_of(statuses.iter().map(|s| (&s.kid, &s.state))) {
            self.reload(store, master)?;
            done.reloaded = true;
        }
        for algorithm in ALGORITHMS {
            let find = |state: &str| statuses.iter().find(|s| s.algorithm == algorithm.as_str() && s.state == state);
            let result = match (find(STATE_NEXT), find(STATE_CURRENT), policy.period) {
                (Some(next), _, _) if policy.activates_at(next) <= now => {
                    self.activate_next(store, master, algorithm, now).map(|kid| done.activated.push((algorithm, kid)))
                }
                (None, Some(current), Some(period)) => {
                    let started = current.activated_at.unwrap_or(current.created_at).and_utc();
                    match now.checked_sub_signed(period) {
                        Some(due) if started <= due => self
                            .prepare_due(store, master, algorithm, now, due)
                            .map(|kid| done.prepared.extend(kid.map(|kid| (algorithm, kid)))),
                        _ => Ok(()),
                    }
                }
                _ => Ok(()),
            };
            match result {
                // Another instance got there first.
                Ok(()) | Err(SigningError::NoNextKey) => {}
                Err(e) => {
                    tracing::warn!(%algorithm, error = %e, "signing-key rotation failed; trying again at the next poll")
                }
            }
        }
        let retention = policy.retired_retention(store)?;
        self.set_retired_retention(retention);
        // A DELETE only when a key is due: on SQLite even one that matches
        // nothing takes the write lock, on every instance at every poll.
        let expired =
            |s: &KeyStatus| s.state == STATE_RETIRED && s.retired_at.is_some_and(|at| at.and_utc() + retention <= now);
        if statuses.iter().any(expired) {
            done.pruned = self.prune_retired(store, now, retention)?;
        }
        Ok(done)
    }

    /// The scheduled `prepare_next`: inserts a new `next` key unless the
    /// algorithm has one, or its current key started after `due` (another
    /// instance rotated meanwhile). The kid when this call inserted it.
    fn prepare_due(
        &self,
        store: &Store,
        master: &MasterKey,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<Option<String>, SigningError> {
        let row = keys::new_row(master, algorithm, STATE_NEXT, now)?;
        if !store.run_blocking(|c| db::insert_next_if_due(c, &row, due.naive_utc()))? {
            return Ok(None);
        }
        tracing::info!(kid = %row.kid, %algorithm, "prepared the next signing key on schedule");
        self.reload(store, master)?;
        Ok(Some(row.kid))
    }
}
