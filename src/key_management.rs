//! What a principal does to its organization's API keys: create, change,
//! roll, revoke. Each operation here is the whole rule: the scope the
//! credential needs, the request's validity, the authority checks of
//! invariant 10 (`authority::Principal`), the write and its audit event.
//! The `/v1/api-keys` handlers and the dashboard's keys page both call
//! these, so a page and the API decide alike.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::apikeys::{ApiKey, ApiKeys, Environment, KeyError, KeyField, KeyKind, NewApiKey};
use crate::audit::Origin;
use crate::authority::{Denied, Principal};
use crate::config::ApiConfig;
use crate::oauth::scopes;
use crate::problem::Problem;
use crate::store::Store;

/// How long a rolled key keeps working when the request does not say.
pub const DEFAULT_OVERLAP_SECS: i64 = 24 * 3600;
/// The longest a rolled key may keep working.
pub const MAX_OVERLAP_SECS: i64 = 30 * 86400;

/// A key as asked for: the `/v1` JSON body or the dashboard's form.
pub struct KeyRequest {
    pub name: String,
    /// `secret` (the default) or `restricted`.
    pub kind: Option<String>,
    /// `live` (the default) or `test`.
    pub environment: Option<String>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit_per_minute: Option<u32>,
}

/// Why an operation was refused, and which part of the request that is
/// about, when it is about one.
#[derive(Debug)]
pub struct Refused {
    pub field: Option<KeyField>,
    pub why: Why,
}

#[derive(Debug)]
pub enum Why {
    /// The credential lacks the scope the operation needs (`broad`, or
    /// its resource scope).
    Scope(&'static str),
    /// The key is another member's, and the credential's member is no
    /// ADMIN or OWNER (`Principal::may_manage`).
    NotTheirs,
    /// Beyond the credential's power, or invalid as the authority checks
    /// see it.
    Denied(Denied),
    /// Invalid, unknown (another organization's keys included), or the
    /// store's answer.
    Key(KeyError),
}

impl Refused {
    fn at(field: KeyField, why: Why) -> Self {
        Self { field: Some(field), why }
    }
    fn invalid(field: KeyField, problem: Problem) -> Self {
        Self::at(field, Why::Key(KeyError::Validation(problem)))
    }
}

impl From<KeyError> for Refused {
    fn from(e: KeyError) -> Self {
        Self { field: None, why: Why::Key(e) }
    }
}

impl From<Denied> for Refused {
    fn from(d: Denied) -> Self {
        Self { field: None, why: Why::Denied(d) }
    }
}

/// A rolled key: the successor (its plaintext shown once) and the old key
/// as it is now (expiring at the end of the overlap).
pub struct Rolled {
    pub new: ApiKey,
    pub plaintext: String,
    pub old: ApiKey,
}

/// The keys of the principal's organization, as the principal may touch
/// them. `now` stamps the audit events.
pub struct KeyManagement<'a> {
    pub keys: &'a ApiKeys,
    pub store: &'a Store,
    pub limits: &'a ApiConfig,
    pub now: DateTime<Utc>,
}

impl KeyManagement<'_> {
    fn require(p: &Principal, broad: &'static str, resource: &str) -> Result<(), Refused> {
        if p.allows(broad, Some(resource)) { Ok(()) } else { Err(Refused { field: None, why: Why::Scope(broad) }) }
    }

    /// Creates a key within the principal's power; its plaintext is in the
    /// answer, this once.
    pub async fn create(&self, p: &Principal, origin: &Origin, req: KeyRequest) -> Result<(ApiKey, String), Refused> {
        Self::require(p, "write", "keys:write")?;
        let kind = match req.kind.as_deref().unwrap_or("secret") {
            "secret" => KeyKind::Secret,
            "restricted" => KeyKind::Restricted,
            other => {
                return Err(Refused::invalid(KeyField::Type, Problem::KeyType(other.into())));
            }
        };
        let environment = match req.environment.as_deref().unwrap_or("live") {
            "live" => Environment::Live,
            "test" => Environment::Test,
            other => {
                return Err(Refused::invalid(KeyField::Environment, Problem::Environment(other.into())));
            }
        };
        // A bad request is told as such before any question of power; then
        // nothing a credential creates may exceed its own power.
        self.keys.check_scopes(kind, &req.scopes).map_err(|e| Refused::at(KeyField::Scopes, Why::Key(e)))?;
        p.may_create_key(kind, &req.scopes).map_err(|d| Refused::at(KeyField::Scopes, Why::Denied(d)))?;
        let (default_rate, max_rate) = (self.limits.rate_limit_per_minute, self.limits.max_rate_limit_per_minute);
        p.may_set_rate_limit(req.rate_limit_per_minute, default_rate, max_rate)
            .map_err(|d| Refused::at(KeyField::RateLimit, Why::Denied(d)))?;
        let (expires_at, rate_limit_per_minute) =
            p.bound_new_key(req.expires_at, req.rate_limit_per_minute, default_rate)?;
        let new = NewApiKey {
            organization_id: p.organization_id.clone(),
            created_by: p.user_id.clone(),
            name: req.name,
            kind,
            environment,
            scopes: req.scopes,
            expires_at,
            rate_limit_per_minute,
            made_by_key: p.made_through().key,
            made_by_app: p.made_through().app,
            made_by_secret: p.made_through().secret,
        };
        // `create` checks these again; here each complaint finds its field.
        self.keys.check_new(&new).map_err(|(field, e)| Refused::at(field, Why::Key(e)))?;
        let (key, plaintext) = self.keys.create(new).await?;
        self.audit(p, origin, "api_key.created", &key).await;
        Ok((key, plaintext))
    }

    /// A key of the principal's organization that it may change: its own,
    /// or any for an ADMIN or OWNER. Another organization's is unknown.
    pub async fn managed(&self, p: &Principal, id: &str) -> Result<ApiKey, Refused> {
        let key = self.keys.get(&p.organization_id, id).await?;
        if !p.may_manage(key.created_by.as_deref()) {
            return Err(Refused { field: None, why: Why::NotTheirs });
        }
        Ok(key)
    }

    /// Renames a key or narrows its scopes.
    pub async fn update(
        &self,
        p: &Principal,
        origin: &Origin,
        id: &str,
        name: Option<&str>,
        scopes: Option<&[String]>,
    ) -> Result<ApiKey, Refused> {
        Self::require(p, "write", "keys:write")?;
        self.managed(p, id).await?;
        let key = self.keys.update(&p.organization_id, id, name, scopes).await?;
        self.audit(p, origin, "api_key.updated", &key).await;
        Ok(key)
    }

    /// Revokes a key at once, with what was made through it.
    pub async fn revoke(&self, p: &Principal, origin: &Origin, id: &str) -> Result<ApiKey, Refused> {
        Self::require(p, "delete", "keys:delete")?;
        self.managed(p, id).await?;
        let key = self.keys.revoke(&p.organization_id, id).await?;
        self.audit(p, origin, "api_key.revoked", &key).await;
        Ok(key)
    }

    /// Rolls a key: a successor with its settings, the old key kept for
    /// `overlap_secs` (default a day; 0 ends it now).
    pub async fn roll(
        &self,
        p: &Principal,
        origin: &Origin,
        id: &str,
        overlap_secs: Option<i64>,
    ) -> Result<Rolled, Refused> {
        Self::require(p, "write", "keys:write")?;
        let old = self.managed(p, id).await?;
        p.may_roll_key(&old, self.limits.rate_limit_per_minute, self.limits.max_rate_limit_per_minute)?;
        let overlap = overlap_secs.unwrap_or(DEFAULT_OVERLAP_SECS);
        if !(0..=MAX_OVERLAP_SECS).contains(&overlap) {
            return Err(Refused::invalid(KeyField::Overlap, Problem::Overlap));
        }
        let (new, plaintext, old) = self
            .keys
            .roll(&p.organization_id, id, Duration::seconds(overlap), p.user_id.clone(), p.made_through())
            .await?;
        self.audit(p, origin, "api_key.rolled", &old).await;
        Ok(Rolled { new, plaintext, old })
    }

    async fn audit(&self, p: &Principal, origin: &Origin, action: &str, key: &ApiKey) {
        let details =
            json!({ "name": key.name, "scopes": scopes::join(&key.scopes), "environment": key.environment.as_str() });
        crate::audit::record(self.store, self.now, &p.organization_id, action, origin, Some(&key.id), details).await;
    }
}
