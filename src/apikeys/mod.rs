//! API keys: format and checksum, creation (shown once, stored as a
//! digest), verification, revocation, rolling, last-used tracking.

pub mod format;
pub mod policy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use crate::accounts::Role;
use crate::cache::Cache;
use crate::changes::{Change, Changes};
use crate::clock::Clock;
use crate::config::CacheConfig;
use crate::oauth::scopes::{self, ScopeRegistry, ScopeSet};
use crate::problem::{self, Problem};
use crate::store::api_keys::{self as rows, ApiKeyRow};
use crate::store::{Store, StoreError};
use crate::tokens::opaque;
pub use format::{Environment, KeyKind, KeyWords};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub organization_id: String,
    pub created_by: Option<String>,
    pub name: String,
    pub kind: KeyKind,
    pub environment: Environment,
    pub prefix: String,
    pub last_four: String,
    pub scopes: ScopeSet,
    pub rate_limit_per_minute: Option<u32>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub rolled_from: Option<String>,
    /// The key through which it was made: it ends with that key.
    pub made_by_key: Option<String>,
    /// The management app whose token made it: it ends with that app.
    pub made_by_app: Option<String>,
    /// The client secret that token was issued under: it ends with it.
    pub made_by_secret: Option<String>,
}

/// A key that verified: the key, its organization, its creator's role and
/// what it may do now.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    pub key: ApiKey,
    pub organization_name: String,
    pub role: Option<Role>,
    pub creator_email: Option<String>,
    pub effective_scopes: ScopeSet,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    /// Bad format or checksum (no database call), or no such key.
    Invalid,
    Expired {
        key_id: String,
        organization_id: String,
        at: DateTime<Utc>,
    },
    Revoked {
        key_id: String,
        organization_id: String,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// What is wrong with the request (see `crate::problem`).
    #[error("{0}")]
    Validation(Problem),
    #[error("not found")]
    NotFound,
    /// The key making a key was revoked, or expired, while it asked.
    #[error("the key making this key was revoked or has expired")]
    MakerEnded,
    /// The member the key would act for left the organization meanwhile.
    #[error("the member this key would act for is no longer in the organization")]
    CreatorLeft,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The part of a key request a complaint is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    Name,
    Type,
    Environment,
    Scopes,
    ExpiresAt,
    RateLimit,
    /// How long a rolled key keeps working.
    Overlap,
}

pub struct NewApiKey {
    pub organization_id: String,
    pub created_by: Option<String>,
    pub name: String,
    pub kind: KeyKind,
    pub environment: Environment,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<u32>,
    /// Made through this API key (it ends the new key with it).
    pub made_by_key: Option<String>,
    /// Made with this management app's token (it ends the new key with it).
    pub made_by_app: Option<String>,
    /// Made with a token issued under this client secret (it ends the new
    /// key with it).
    pub made_by_secret: Option<String>,
}

/// What a credential's creations are made through besides the person they
/// act for: a key, or a management app's token. They end with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MadeThrough {
    pub key: Option<String>,
    pub app: Option<String>,
    /// The client secret the management app's token was issued under.
    pub secret: Option<String>,
}

fn from_row(r: ApiKeyRow) -> Result<ApiKey, StoreError> {
    let bad = |what: &str| StoreError::Other(format!("api key {}: malformed {what}", r.id));
    Ok(ApiKey {
        kind: KeyKind::parse(&r.kind).ok_or_else(|| bad("kind"))?,
        environment: Environment::parse(&r.environment).ok_or_else(|| bad("environment"))?,
        scopes: scopes::parse(&r.scopes).map_err(|_| bad("scopes"))?,
        rate_limit_per_minute: r.rate_limit_per_minute.and_then(|n| u32::try_from(n).ok()),
        expires_at: r.expires_at.map(|t| t.and_utc()),
        created_at: r.created_at.and_utc(),
        last_used_at: r.last_used_at.map(|t| t.and_utc()),
        revoked_at: r.revoked_at.map(|t| t.and_utc()),
        id: r.id,
        organization_id: r.organization_id,
        created_by: r.created_by,
        name: r.name,
        prefix: r.prefix,
        last_four: r.last_four,
        rolled_from: r.rolled_from,
        made_by_key: r.made_by_key,
        made_by_app: r.made_by_app,
        made_by_secret: r.made_by_secret,
    })
}

/// Why the store would not write a key, as the domain tells it.
fn refused(why: rows::MakerEnded) -> KeyError {
    match why {
        rows::MakerEnded::CreatorLeft => KeyError::CreatorLeft,
        rows::MakerEnded::Revoked | rows::MakerEnded::Expired => KeyError::MakerEnded,
    }
}

pub fn new_key_id() -> String {
    // Time-ordered, so keys created in the same instant list in creation order.
    format!("key_{}", uuid::Uuid::now_v7().simple())
}

impl KeyError {
    /// A problem the pages show in the domain's words ([`Problem::Other`]).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Validation(Problem::other(message))
    }
}

pub struct ApiKeys {
    store: Store,
    clock: Arc<dyn Clock>,
    registry: Arc<ScopeRegistry>,
    words: KeyWords,
    /// Uses not yet written to `last_used_at`: key id → last use.
    pending_uses: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Last time each key's use was written, to write at most once a minute.
    written_uses: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Keys by digest, as last read (none: every verification reads the
    /// database), and the change log that keeps them current.
    cache: Option<Arc<Cache<StoredKey>>>,
    changes: Option<Arc<Changes>>,
    verifications: crate::metrics::Counters<crate::metrics::KeyVerification>,
}

/// What verification reads of a key: the key, its organization's name and
/// its creator's role there now. Revocation and expiry are checked at
/// each use against the clock.
#[derive(Debug)]
pub struct StoredKey {
    key: ApiKey,
    organization_name: String,
    role: Option<Role>,
    creator_email: Option<String>,
}

impl ApiKeys {
    pub fn new(store: Store, clock: Arc<dyn Clock>, registry: Arc<ScopeRegistry>, words: KeyWords) -> Self {
        Self {
            store,
            clock,
            registry,
            words,
            pending_uses: Mutex::new(HashMap::new()),
            written_uses: Mutex::new(HashMap::new()),
            cache: None,
            changes: None,
            verifications: Default::default(),
        }
    }

    /// Counts each verification's outcome there.
    pub fn with_metrics(mut self, verifications: crate::metrics::Counters<crate::metrics::KeyVerification>) -> Self {
        self.verifications = verifications;
        self
    }

    /// Verifies from memory (unless `config.strict`); an entry goes when
    /// the change log names its key, its creator's membership or its
    /// organization. Changes made here are read back before the call that
    /// made them returns.
    pub fn with_cache(mut self, config: &CacheConfig, changes: &Arc<Changes>) -> Self {
        self.changes = Some(changes.clone());
        if config.strict {
            return self;
        }
        let cache = Arc::new(Cache::new(config.max_entries, std::time::Duration::from_secs(config.max_age_secs)));
        let c = cache.clone();
        changes.subscribe(Arc::new(move |change| forget_changed(&c, change)));
        self.cache = Some(cache);
        self
    }

    /// Whether the key is held in memory (a verification of it reads no
    /// database).
    pub fn is_cached(&self, presented: &str) -> bool {
        self.cache.as_ref().is_some_and(|c| c.holds(&opaque::digest(presented)))
    }

    /// The key cache's counts, none in strict mode.
    pub fn cache_stats(&self) -> Option<crate::cache::CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    /// This instance's caches see the change just made (the database's
    /// triggers logged it).
    async fn caught_up(&self) {
        if let Some(changes) = &self.changes {
            changes.catch_up_now().await;
        }
    }

    pub fn words(&self) -> &KeyWords {
        &self.words
    }

    /// Scopes a key of `kind` may be given: restricted keys only resource
    /// scopes; all must be known.
    pub fn check_scopes(&self, kind: KeyKind, requested: &[String]) -> Result<ScopeSet, KeyError> {
        let mut set = ScopeSet::new();
        for s in requested {
            let known = policy::BROAD_SCOPES.contains(&s.as_str())
                || policy::RESOURCE_SCOPES.contains(&s.as_str())
                || self.registry.describe(s).is_some();
            if !known || s == scopes::OFFLINE_ACCESS {
                return Err(KeyError::invalid(format!("unknown scope {s:?}")));
            }
            if kind == KeyKind::Restricted && !s.contains(':') {
                return Err(KeyError::Validation(Problem::RestrictedScope(s.clone())));
            }
            set.insert(s.clone());
        }
        if set.is_empty() {
            return Err(KeyError::Validation(Problem::NoScope));
        }
        Ok(set)
    }

    /// The scopes a key may be given, each with its description, in the
    /// order a form lists them: the broad ones, the resource ones, then the
    /// operator's own (`scopes` in the configuration). Protocol scopes
    /// (`offline_access`, OpenID's) are no key's business.
    pub fn key_scopes(&self) -> Vec<(String, String)> {
        let built_in = policy::BROAD_SCOPES.iter().chain(policy::RESOURCE_SCOPES.iter()).map(|s| {
            let description = self.registry.describe(s).or_else(|| policy::describe_resource(s)).unwrap_or(s);
            ((*s).to_owned(), description.to_owned())
        });
        let protocol = [scopes::OFFLINE_ACCESS, scopes::OPENID, scopes::PROFILE, scopes::EMAIL];
        let operator = self
            .registry
            .all()
            .iter()
            .filter(|d| !protocol.contains(&d.name.as_str()) && !policy::BROAD_SCOPES.contains(&d.name.as_str()))
            .map(|d| (d.name.clone(), d.description.clone()));
        built_in.chain(operator).collect()
    }

    /// What `create` checks of a new key before writing it, with the part
    /// of the request each complaint is about (a form shows it there).
    pub fn check_new(&self, new: &NewApiKey) -> Result<(String, ScopeSet), (KeyField, KeyError)> {
        let name = problem::check_name(&new.name).map_err(|p| (KeyField::Name, KeyError::Validation(p)))?;
        let scopes = self.check_scopes(new.kind, &new.scopes).map_err(|e| (KeyField::Scopes, e))?;
        if new.expires_at.is_some_and(|t| t <= self.clock.now()) {
            return Err((KeyField::ExpiresAt, KeyError::invalid("expires_at must be in the future")));
        }
        if new.rate_limit_per_minute == Some(0) {
            return Err((KeyField::RateLimit, KeyError::invalid("rate_limit_per_minute must be positive")));
        }
        Ok((name, scopes))
    }

    /// Creates a key; the plaintext is returned here, once.
    pub async fn create(&self, new: NewApiKey) -> Result<(ApiKey, String), KeyError> {
        let (name, scopes) = self.check_new(&new).map_err(|(_, e)| e)?;
        let now = self.clock.now();
        let plaintext = format::generate(&self.words, new.kind, new.environment);
        let row = self.row_for(&plaintext, &new, name, &scopes, now, None);
        let (maker, at) = (new.made_by_key.clone(), now.naive_utc());
        let row = self
            .store
            .run(move |conn| rows::insert_new_key(conn, &row, maker.as_deref(), at))
            .await?
            .map_err(refused)?;
        Ok((from_row(row)?, plaintext))
    }

    fn row_for(
        &self,
        plaintext: &str,
        new: &NewApiKey,
        name: String,
        scopes: &ScopeSet,
        now: DateTime<Utc>,
        rolled_from: Option<String>,
    ) -> ApiKeyRow {
        let (prefix, last_four) = format::masked(plaintext);
        ApiKeyRow {
            id: new_key_id(),
            organization_id: new.organization_id.clone(),
            created_by: new.created_by.clone(),
            name,
            kind: new.kind.as_str().into(),
            environment: new.environment.as_str().into(),
            prefix,
            last_four,
            key_digest: opaque::digest(plaintext),
            scopes: scopes::join(scopes),
            rate_limit_per_minute: new.rate_limit_per_minute.and_then(|n| i32::try_from(n).ok()),
            expires_at: new.expires_at.map(|t| t.naive_utc()),
            created_at: now.naive_utc(),
            last_used_at: None,
            revoked_at: None,
            rolled_from,
            made_by_key: new.made_by_key.clone(),
            made_by_app: new.made_by_app.clone(),
            made_by_secret: new.made_by_secret.clone(),
        }
    }

    /// The hot path: format and checksum (no I/O), digest, the key from
    /// memory (one indexed lookup on a miss), scope arithmetic. Writes
    /// nothing; the use is noted in memory.
    pub async fn verify(&self, presented: &str) -> Result<Result<VerifiedKey, VerifyFailure>, StoreError> {
        self.verify_from(presented, false).await
    }

    /// `verify` from the database, past the cache (which it refreshes):
    /// for requests that change something. A key that lost its power a
    /// moment ago on another instance makes nothing (no key, no app) in the
    /// moment before the change reaches this instance's cache.
    pub async fn verify_fresh(&self, presented: &str) -> Result<Result<VerifiedKey, VerifyFailure>, StoreError> {
        self.verify_from(presented, true).await
    }

    async fn verify_from(
        &self,
        presented: &str,
        fresh: bool,
    ) -> Result<Result<VerifiedKey, VerifyFailure>, StoreError> {
        use crate::metrics::KeyVerification as Outcome;
        let result = self.verify_once(presented, fresh).await;
        self.verifications.count(match &result {
            Ok(Ok(_)) => Outcome::Valid,
            Ok(Err(VerifyFailure::Invalid)) => Outcome::Invalid,
            Ok(Err(VerifyFailure::Revoked { .. })) => Outcome::Revoked,
            Ok(Err(VerifyFailure::Expired { .. })) => Outcome::Expired,
            Err(_) => Outcome::Error,
        });
        result
    }

    async fn verify_once(
        &self,
        presented: &str,
        fresh: bool,
    ) -> Result<Result<VerifiedKey, VerifyFailure>, StoreError> {
        if format::parse(&self.words, presented).is_none() {
            return Ok(Err(VerifyFailure::Invalid));
        }
        let digest = opaque::digest(presented);
        let cached = if fresh { None } else { self.cache.as_ref().and_then(|c| c.get(&digest)) };
        let stored = match cached {
            Some(stored) => stored,
            None => match self.load(digest).await? {
                Some(stored) => stored,
                None => return Ok(Err(VerifyFailure::Invalid)),
            },
        };
        let key = &stored.key;
        let now = self.clock.now();
        if let Some(at) = key.revoked_at {
            return Ok(Err(VerifyFailure::Revoked {
                key_id: key.id.clone(),
                organization_id: key.organization_id.clone(),
                at,
            }));
        }
        if let Some(at) = key.expires_at.filter(|t| *t <= now) {
            return Ok(Err(VerifyFailure::Expired {
                key_id: key.id.clone(),
                organization_id: key.organization_id.clone(),
                at,
            }));
        }
        self.note_use(&key.id, now);
        Ok(Ok(VerifiedKey {
            effective_scopes: policy::effective(&key.scopes, stored.role),
            organization_name: stored.organization_name.clone(),
            role: stored.role,
            creator_email: stored.creator_email.clone(),
            key: key.clone(),
        }))
    }

    /// The key with this digest from the database, kept in the cache
    /// unless a change arrived while it was read. Unknown digests are not
    /// kept: made-up keys cost a lookup each, never memory.
    async fn load(&self, digest: String) -> Result<Option<Arc<StoredKey>>, StoreError> {
        let since = self.cache.as_ref().map(|c| c.generation());
        let d = digest.clone();
        let found = self.store.run(move |conn| rows::find_for_verification(conn, &d)).await?;
        let Some((row, org, role, creator_email)) = found else { return Ok(None) };
        // The digest matched by index; compare again in constant time anyway.
        if !opaque::constant_time_eq(&row.key_digest, &digest) {
            return Ok(None);
        }
        let stored = Arc::new(StoredKey {
            key: from_row(row)?,
            organization_name: org.name,
            role: role.and_then(|r| r.parse::<Role>().ok()),
            creator_email,
        });
        if let (Some(cache), Some(since)) = (&self.cache, since) {
            cache.insert(since, digest, stored.clone());
        }
        Ok(Some(stored))
    }

    /// RFC 7662 answer for a key, for a resource server of `organization_id`:
    /// active, scope (what the key may do now), organization, environment,
    /// key id, expiry. Another organization's key is inactive to it.
    /// `refuse_test` makes test keys inactive (a production deployment).
    pub async fn introspect(
        &self,
        presented: &str,
        organization_id: &str,
        refuse_test: bool,
    ) -> Result<serde_json::Value, StoreError> {
        let inactive = serde_json::json!({ "active": false });
        let Ok(v) = self.verify(presented).await? else { return Ok(inactive) };
        if v.key.organization_id != organization_id || (refuse_test && v.key.environment == Environment::Test) {
            return Ok(inactive);
        }
        let mut body = serde_json::json!({
            "active": true,
            "token_type": "api_key",
            "scope": scopes::join(&v.effective_scopes),
            "key_id": v.key.id,
            "org_id": v.key.organization_id,
            "organization": v.organization_name,
            "livemode": v.key.environment == Environment::Live,
            "environment": v.key.environment.as_str(),
            "iat": v.key.created_at.timestamp(),
        });
        if let Some(user) = &v.key.created_by {
            body["sub"] = serde_json::json!(user);
        }
        if let Some(exp) = v.key.expires_at {
            body["exp"] = serde_json::json!(exp.timestamp());
        }
        Ok(body)
    }

    fn note_use(&self, key_id: &str, now: DateTime<Utc>) {
        let written = self.written_uses.lock().unwrap_or_else(|p| p.into_inner()).get(key_id).copied();
        if written.is_some_and(|w| now - w < Duration::minutes(1)) {
            return;
        }
        self.pending_uses.lock().unwrap_or_else(|p| p.into_inner()).insert(key_id.to_owned(), now);
    }

    /// Writes the noted uses to `last_used_at` (at most once a minute per
    /// key). Runs in the background, never on a request.
    pub fn flush_uses(&self) -> Result<usize, StoreError> {
        let pending: Vec<(String, DateTime<Utc>)> =
            self.pending_uses.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        if pending.is_empty() {
            return Ok(0);
        }
        let batch = pending.clone();
        self.store.run_blocking(move |conn| {
            for (id, at) in &batch {
                rows::touch_last_used(conn, id, at.naive_utc())?;
            }
            Ok(())
        })?;
        let mut written = self.written_uses.lock().unwrap_or_else(|p| p.into_inner());
        if written.len() > 100_000 {
            written.clear();
        }
        for (id, at) in &pending {
            written.insert(id.clone(), *at);
        }
        Ok(pending.len())
    }

    pub async fn get(&self, organization_id: &str, id: &str) -> Result<ApiKey, KeyError> {
        let (o, i) = (organization_id.to_owned(), id.to_owned());
        let row = self.store.run(move |conn| rows::find_key(conn, &o, &i)).await?.ok_or(KeyError::NotFound)?;
        Ok(from_row(row)?)
    }

    /// A page of keys, newest first; `after` is the last key of the previous page.
    pub async fn list(&self, organization_id: &str, after: Option<&str>, limit: i64) -> Result<Vec<ApiKey>, KeyError> {
        let cursor = match after {
            Some(id) => {
                let k = self.get(organization_id, id).await.map_err(|e| match e {
                    KeyError::NotFound => KeyError::invalid("unknown cursor"),
                    other => other,
                })?;
                Some((k.created_at.naive_utc(), k.id))
            }
            None => None,
        };
        let o = organization_id.to_owned();
        let rows = self.store.run(move |conn| rows::list_keys(conn, &o, cursor, limit)).await?;
        rows.into_iter().map(|r| from_row(r).map_err(KeyError::from)).collect()
    }

    /// Revokes at once and for good; the next request with the key fails,
    /// on every instance (verification reads the database).
    pub async fn revoke(&self, organization_id: &str, id: &str) -> Result<ApiKey, KeyError> {
        let key = self.get(organization_id, id).await?;
        let now = self.clock.now().naive_utc();
        let i = key.id.clone();
        self.store.run(move |conn| rows::revoke_key(conn, &i, now)).await?;
        self.caught_up().await;
        self.get(organization_id, id).await
    }

    /// Renames, or narrows the scopes (never widens them).
    pub async fn update(
        &self,
        organization_id: &str,
        id: &str,
        name: Option<&str>,
        scopes: Option<&[String]>,
    ) -> Result<ApiKey, KeyError> {
        let key = self.get(organization_id, id).await?;
        if key.revoked_at.is_some() {
            return Err(KeyError::invalid("a revoked key cannot be changed"));
        }
        let name = match name {
            Some(n) => problem::check_name(n).map_err(KeyError::Validation)?,
            None => key.name.clone(),
        };
        let scopes = match scopes {
            Some(s) => {
                let set = self.check_scopes(key.kind, s)?;
                if let Some(extra) = set.iter().find(|s| !key.scopes.contains(*s)) {
                    return Err(KeyError::invalid(format!("scopes can only be narrowed; {extra:?} is new")));
                }
                set
            }
            None => key.scopes.clone(),
        };
        let (i, j) = (key.id.clone(), scopes::join(&scopes));
        self.store.run(move |conn| rows::update_key(conn, &i, &name, &j)).await?;
        self.caught_up().await;
        self.get(organization_id, id).await
    }

    /// Rolls a key (Stripe-style): a new key with the same settings, and the
    /// old one kept alive for `overlap` (zero: it stops now).
    pub async fn roll(
        &self,
        organization_id: &str,
        id: &str,
        overlap: Duration,
        rolled_by: Option<String>,
        rolled_through: MadeThrough,
    ) -> Result<(ApiKey, String, ApiKey), KeyError> {
        let old = self.get(organization_id, id).await?;
        if old.revoked_at.is_some() {
            return Err(KeyError::invalid("a revoked key cannot be rolled"));
        }
        if overlap < Duration::zero() || overlap > Duration::days(30) {
            return Err(KeyError::invalid("expires_in must be between 0 and 30 days"));
        }
        let now = self.clock.now();
        let new = NewApiKey {
            organization_id: old.organization_id.clone(),
            created_by: rolled_by.or_else(|| old.created_by.clone()),
            name: old.name.clone(),
            kind: old.kind,
            environment: old.environment,
            scopes: old.scopes.iter().cloned().collect(),
            expires_at: old.expires_at.filter(|t| *t > now),
            rate_limit_per_minute: old.rate_limit_per_minute,
            // Rolled through another key, the successor is made through
            // that key: its holder got a new secret, which must end with it
            // (a child rolling its maker gets nothing that outlives either:
            // attacker round 11, finding 1). A key rolling itself, or a
            // person, hands the successor the old key's own maker.
            made_by_key: rolled_through.key.filter(|r| *r != old.id).or_else(|| old.made_by_key.clone()),
            // Rolled with a management app's token, it ends with that app
            // too; otherwise with the app that made the old key, if one did.
            made_by_app: rolled_through.app.clone().or_else(|| old.made_by_app.clone()),
            made_by_secret: if rolled_through.app.is_some() {
                rolled_through.secret
            } else {
                old.made_by_secret.clone()
            },
        };
        let plaintext = format::generate(&self.words, new.kind, new.environment);
        let row = self.row_for(&plaintext, &new, old.name.clone(), &old.scopes, now, Some(old.id.clone()));
        let (r, oid, until) = (row.clone(), old.id.clone(), (now + overlap).naive_utc());
        let row = self.store.run(move |conn| rows::roll_key(conn, &oid, &r, until)).await?.map_err(refused)?;
        self.caught_up().await;
        let old = self.get(organization_id, id).await?;
        // As stored: the roll may have bounded it (made through the old key).
        let new = self.get(organization_id, &row.id).await?;
        Ok((new, plaintext, old))
    }
}

/// Drops the keys a change names: the key itself, the keys its creator made
/// in an organization whose membership changed, an organization's keys, a
/// user's keys (the email changed).
fn forget_changed(cache: &Cache<StoredKey>, change: Change<'_>) {
    match change {
        Change::Everything => cache.clear(),
        Change::Item { topic: "api_key", item } => cache.forget_where(|s| s.key.id == item),
        Change::Item { topic: "member", item } => {
            let Some((org, user)) = item.split_once(' ') else { return cache.clear() };
            cache.forget_where(|s| s.key.organization_id == org && s.key.created_by.as_deref() == Some(user));
        }
        Change::Item { topic: "organization", item } => cache.forget_where(|s| s.key.organization_id == item),
        Change::Item { topic: "user", item } => cache.forget_where(|s| s.key.created_by.as_deref() == Some(item)),
        Change::Item { .. } => {}
    }
}
