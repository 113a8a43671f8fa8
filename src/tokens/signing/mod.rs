//! Signing keys and JWT access tokens (RFC 9068).
//!
//! Keys live in the `signing_keys` table so every instance signs with the
//! same ones: one current key per algorithm (ES256, RS256, EdDSA), so that
//! access tokens are signed with the configured algorithm while ID tokens
//! use RS256 (which OpenID Connect requires) or the one a client asked for. The private part is PKCS#8 DER sealed with XChaCha20-Poly1305
//! under the master key: `base64(nonce[24] || ciphertext)`, with the kid as
//! associated data so a sealed key cannot be moved to another row. Only the
//! `current` keys are ever decrypted; the others are held as public keys.
//!
//! Rotation, per algorithm, is two steps so resource servers that cache the
//! JWKS never see a token signed by a key they do not know: `prepare_next` publishes a key
//! that does not sign yet; later, `activate_next` makes it sign and retires
//! the old one, which stays published for `keep_retired_for` (at least the
//! access-token lifetime) so the tokens it signed still verify. Past that
//! window it verifies nothing (`set_retired_retention`), and
//! `prune_retired` deletes it.
//!
//! Verification leeway: none on `exp` (a token is dead at `exp`, as RFC 7519
//! §4.1.4 says), 5 s on `nbf`, so a token issued by an instance whose clock
//! runs slightly ahead is not refused by another.
//!
//! This module holds the public types and `SigningKeys`; `keys` the keys at
//! rest (generation, kid, JWK, sealing, loading the table) and `jws` the
//! token itself, signed and verified with keys parsed once at load.

mod jws;
mod keys;
mod rotation;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::keys::{CurrentKey, KeySet, load_set, new_row};
pub use self::rotation::{Housekeeping, KeyListing, RotationPolicy, list_keys};
pub use crate::store::signing_keys::KeyStatus;
use crate::store::signing_keys::{self as db, GuardedInsert, Retired, STATE_CURRENT, STATE_NEXT};
use crate::store::{Store, StoreError};
use crate::tokens::master_key::MasterKey;

/// RFC 9068 §2.1: the `typ` header of a JWT access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// How far in the future `nbf` may be and still be accepted, in seconds.
pub const NBF_LEEWAY_SECS: i64 = 5;
/// How long a retired key verifies until `set_retired_retention` says
/// otherwise: the JWKS window for the default one-hour access tokens, plus
/// 5 minutes of JWKS caching.
const DEFAULT_RETIRED_RETENTION_MS: i64 = (3600 + 300) * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    ES256,
    RS256,
    EdDSA,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::EdDSA => "EdDSA",
        }
    }
}

/// Every algorithm: each has a current key at all times.
pub const ALGORITHMS: [SigningAlgorithm; 3] =
    [SigningAlgorithm::ES256, SigningAlgorithm::RS256, SigningAlgorithm::EdDSA];

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signing algorithm {0:?}: use ES256, RS256 or EdDSA")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for SigningAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            "EdDSA" => Ok(Self::EdDSA),
            other => Err(UnknownAlgorithm(other.to_owned())),
        }
    }
}

/// The claims of a JWT access token, RFC 9068 §2.2.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    /// A string when there is one audience, an array otherwise (RFC 7519 §4.1.3).
    #[serde(with = "audience")]
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    /// Space-separated (RFC 9068 §2.2.3).
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub org_id: Option<String>,
    /// An app's own (client-credentials) token: the id of the client secret
    /// it was issued under. The token, and what it makes, end with that
    /// secret (attacker round 12, findings 1 and 3).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secret_id: Option<String>,
}

mod audience {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
        match aud {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("signing keys: {0}")]
    Store(#[from] StoreError),
    #[error("signing key: {0}")]
    Crypto(String),
    /// The sealed private key does not open: another master key, or an altered row.
    #[error("cannot decrypt signing key {0}: wrong master key, or the stored key was altered")]
    Decrypt(String),
    #[error("no current {0} signing key in the database")]
    NoCurrentKey(SigningAlgorithm),
    #[error("no next signing key to activate: prepare one first")]
    NoNextKey,
    #[error("a next signing key is already prepared: {0}")]
    NextAlreadyPrepared(String),
    #[error("no signing key has the kid {0:?} (see `portcullis keys list`)")]
    UnknownKid(String),
    /// `keys retire` takes a retired key only: a current or next key is
    /// still needed (rotate it first).
    #[error(
        "key {kid} is the {state} key and cannot be retired: rotate first (`portcullis keys rotate --algorithm \
         {algorithm} --now`), then retire it"
    )]
    NotRetired { kid: String, state: String, algorithm: String },
}

/// True when `master` opens the sealed private key stored for `kid`: a
/// database (a backup) holds signing keys this master key can use.
pub fn opens_with(master: &MasterKey, kid: &str, sealed: &str) -> bool {
    keys::open_private(master, kid, sealed).is_ok()
}

/// Why a token was refused. Says nothing about the keys, so it may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT access token")]
    Malformed,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token is not an access token (typ is not at+jwt)")]
    WrongType,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
}

/// Keys held in memory: the parsed current key of each algorithm plus
/// every published public key. `reload` swaps the whole set, so signing
/// never waits on I/O.
pub struct SigningKeys {
    set: RwLock<Arc<KeySet>>,
    /// Held from reading the table to swapping the set in, so a reload
    /// that read the table earlier never replaces the set of one that read
    /// it later (a background pass racing an activation would otherwise
    /// put the old current key back until the next poll).
    reloading: Mutex<()>,
    /// Held for a whole housekeeping pass: the background poll and a pass
    /// started by hand (a test, an admin action) take turns, so neither
    /// returns while the other is half-way through the same activation.
    pub(super) housekeeping: Mutex<()>,
    /// The algorithm access tokens are signed with.
    access: SigningAlgorithm,
    /// How long after `retired_at` a retired key still verifies, in ms.
    retired_retention_ms: AtomicI64,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.snapshot();
        f.debug_struct("SigningKeys")
            .field("current", &set.current.iter().map(|k| (k.algorithm, k.kid.as_str())).collect::<Vec<_>>())
            .field("access_algorithm", &self.access)
            .field("published", &set.published.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl SigningKeys {
    /// Loads the keys; for each algorithm without a current key, generates
    /// one and stores it. Access tokens are signed with `access`. Two
    /// instances starting together on one database end up sharing whichever
    /// key of each algorithm committed first.
    pub fn load_or_create(
        store: &Store,
        master: &MasterKey,
        access: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<Self, SigningError> {
        let mut set = load_set(store, master)?;
        for algorithm in ALGORITHMS {
            if set.current(algorithm).is_some() {
                continue;
            }
            let row = new_row(master, algorithm, STATE_CURRENT, now)?;
            match store.run_blocking(|c| db::insert_if_state_free(c, &row)) {
                Ok(GuardedInsert::Inserted) => {
                    tracing::info!(kid = %row.kid, %algorithm, "generated the first signing key");
                }
                Ok(GuardedInsert::Exists(_)) => {}
                // Another instance may have won with a failed insert here
                // (serialization failure, locked SQLite): the table decides.
                Err(e) => tracing::warn!(%algorithm, error = %e, "storing a first signing key failed; re-reading"),
            }
            set = load_set(store, master)?;
        }
        Self::checked(set).map(|set| Self::from_set(set, access))
    }

    /// Re-reads the table (after a rotation elsewhere).
    pub fn reload(&self, store: &Store, master: &MasterKey) -> Result<(), SigningError> {
        let _reloading = self.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        let set = Self::checked(load_set(store, master)?)?;
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(())
    }

    /// A set is usable when every algorithm has a key that signs.
    fn checked(set: KeySet) -> Result<KeySet, SigningError> {
        match ALGORITHMS.into_iter().find(|a| set.current(*a).is_none()) {
            Some(missing) => Err(SigningError::NoCurrentKey(missing)),
            None => Ok(set),
        }
    }

    /// Rotation, part 1: generates an `algorithm` key in state `next`,
    /// published in the JWKS but not signing yet. At most one `next` key
    /// per algorithm exists at a time.
    pub fn prepare_next(
        &self,
        store: &Store,
        master: &MasterKey,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<String, SigningError> {
        // Checked first so an RSA key is not generated for nothing; the
        // guarded insert below is what decides.
        if let Some(kid) = store.run_blocking(|c| db::find_kid_in_state(c, algorithm.as_str(), STATE_NEXT))? {
            return Err(SigningError::NextAlreadyPrepared(kid));
        }
        let row = new_row(master, algorithm, STATE_NEXT, now)?;
        if let GuardedInsert::Exists(kid) = store.run_blocking(|c| db::insert_if_state_free(c, &row))? {
            return Err(SigningError::NextAlreadyPrepared(kid));
        }
        tracing::info!(kid = %row.kid, algorithm = %algorithm, "prepared the next signing key");
        self.reload(store, master)?;
        Ok(row.kid)
    }

    /// Rotation, part 2: the `next` key of `algorithm` becomes `current`, the
    /// old current one `retired` (still published until `retired_at +
    /// keep_retired_for`). Call it once resource servers have had time to
    /// fetch the next key.
    pub fn activate_next(
        &self,
        store: &Store,
        master: &MasterKey,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<String, SigningError> {
        let rows = store.run_blocking(db::list_keys)?;
        let next = rows
            .iter()
            .find(|r| r.state == STATE_NEXT && r.algorithm == algorithm.as_str())
            .ok_or(SigningError::NoNextKey)?;
        // Refuse to promote a key this instance could not sign with (one
        // prepared under another master key): every instance would fail.
        CurrentKey::from_row(next, master)?;
        let kid = next.kid.clone();
        let promoted = store.run_blocking(|c| db::activate_next(c, &kid, now.naive_utc()));
        self.reload(store, master)?;
        match promoted {
            Ok(true) => {
                tracing::info!(kid = %kid, %algorithm, "activated the next signing key");
                Ok(kid)
            }
            // Another instance activated the same key at the same time: done.
            Ok(false) | Err(StoreError::Conflict(_) | StoreError::Busy(_)) if self.current_kid_of(algorithm) == kid => {
                Ok(kid)
            }
            Ok(false) => Err(SigningError::NoNextKey),
            Err(e) => Err(e.into()),
        }
    }

    /// Every key, newest first, without key material.
    pub fn statuses(store: &Store) -> Result<Vec<KeyStatus>, SigningError> {
        Ok(store.run_blocking(db::list_statuses)?)
    }

    /// Deletes the retired key `kid` at once, for a compromised key instead
    /// of waiting for its retention to end: every instance stops publishing
    /// it and refuses its tokens at its next poll. Refused for a current or
    /// next key.
    pub fn remove_retired(store: &Store, kid: &str) -> Result<(), SigningError> {
        match store.run_blocking(|c| db::retire_retired(c, kid))? {
            Retired::Removed => {
                tracing::warn!(%kid, "removed a retired signing key before the end of its retention");
                Ok(())
            }
            Retired::NotFound => Err(SigningError::UnknownKid(kid.to_owned())),
            Retired::InState { state, algorithm } => {
                Err(SigningError::NotRetired { kid: kid.to_owned(), state, algorithm })
            }
        }
    }

    /// The kid of the key that signs access tokens.
    pub fn current_kid(&self) -> String {
        self.current_kid_of(self.access)
    }

    /// The kid of the current `algorithm` key.
    pub fn current_kid_of(&self, algorithm: SigningAlgorithm) -> String {
        self.snapshot().current(algorithm).map(|k| k.kid.clone()).unwrap_or_default()
    }

    /// When the current `algorithm` key was created.
    pub fn current_created_at(&self, algorithm: SigningAlgorithm) -> Option<DateTime<Utc>> {
        self.snapshot().current(algorithm).map(|k| k.created_at)
    }

    /// The algorithm access tokens are signed with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.access
    }

    /// Signs with the current access-token key; the header carries alg, kid
    /// and `typ: at+jwt` (RFC 9068 §2.1). No I/O, no lock held while
    /// signing, no key parsing either: the key was parsed when it was loaded.
    pub fn sign_access_token(&self, claims: &AccessTokenClaims) -> Result<String, SigningError> {
        let set = self.snapshot();
        let current = set.current(self.access).ok_or(SigningError::NoCurrentKey(self.access))?;
        jws::sign(current, &current.header, claims)
    }

    /// Signs `claims` as a compact JWS with the current `algorithm` key; the
    /// header is `{"typ", "alg", "kid"}`. For ID tokens (`JWT`) and logout
    /// tokens (`logout+jwt`).
    pub fn sign_jwt<T: Serialize>(
        &self,
        algorithm: SigningAlgorithm,
        typ: &str,
        claims: &T,
    ) -> Result<String, SigningError> {
        let set = self.snapshot();
        let current = set.current(algorithm).ok_or(SigningError::NoCurrentKey(algorithm))?;
        jws::sign(current, &jws::encoded_header(typ, &current.kid, algorithm)?, claims)
    }

    /// A token that one of our published keys signed (the kid picks the key,
    /// the key fixes the algorithm; a retired key only within its window):
    /// its `typ` header and its claims. No claim is checked: callers check
    /// what their specification asks (issuer, audience, times).
    pub fn verify_jwt<T: DeserializeOwned>(&self, token: &str, now: i64) -> Result<(Option<String>, T), VerifyError> {
        let verified = jws::verify_signature(&self.snapshot(), token, now, self.retired_retention())?;
        let claims = serde_json::from_slice(&verified.payload).map_err(|_| VerifyError::Malformed)?;
        Ok((verified.typ, claims))
    }

    /// Verifies a token as a resource server would (RFC 9068 §4): the key
    /// picked by kid among the published ones and its algorithm only, the
    /// signature, `typ`, then `exp`/`nbf` against `now` (unix seconds), the
    /// issuer, and `audience` among `aud` when one is given.
    pub fn verify_access_token(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
        now: i64,
    ) -> Result<AccessTokenClaims, VerifyError> {
        jws::verify(&self.snapshot(), token, issuer, audience, now, self.retired_retention())
    }

    /// How long after its retirement a retired key still verifies tokens;
    /// past that, its tokens are refused as signed by an unknown key.
    /// Default: 1 h 5 min. Give it the `keep_retired_for` the JWKS is served
    /// with, so a key verifies exactly as long as it is published. A
    /// negative duration counts as zero.
    pub fn set_retired_retention(&self, keep_retired_for: Duration) {
        let ms = keep_retired_for.num_milliseconds().max(0);
        self.retired_retention_ms.store(ms, Ordering::Relaxed);
    }

    /// Deletes the retired keys whose window has passed (`retired_at +
    /// keep_retired_for <= now`) and drops them from this instance's set;
    /// returns how many rows were deleted. Current and next keys are never
    /// touched. Other instances drop them at their next `reload` (their
    /// retention already refuses them). Not a full reload, which needs the
    /// master key: a rotation made elsewhere still needs `reload`.
    pub fn prune_retired(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        keep_retired_for: Duration,
    ) -> Result<usize, SigningError> {
        let keep = keep_retired_for.max(Duration::zero());
        // A window reaching back past chrono's range: no key is that old.
        let Some(cutoff) = now.checked_sub_signed(keep) else { return Ok(0) };
        let deleted = store.run_blocking(|c| db::delete_retired_by(c, cutoff.naive_utc()))?;
        if deleted > 0 {
            tracing::info!(deleted, "deleted retired signing keys");
        }
        let _reloading = self.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        let mut set = self.set.write().unwrap_or_else(PoisonError::into_inner);
        let published = set.published.iter().filter(|k| k.is_published_at(now, keep)).cloned().collect();
        *set = Arc::new(KeySet { current: set.current.clone(), published, states: set.states.clone() });
        Ok(deleted)
    }

    /// RFC 7517 JWK Set of the next, current and not yet expired retired
    /// keys. Built from public components only: no private member can leak.
    pub fn jwks(&self, now: DateTime<Utc>, keep_retired_for: Duration) -> Value {
        let set = self.snapshot();
        let keys: Vec<&Value> =
            set.published.iter().filter(|k| k.is_published_at(now, keep_retired_for)).map(|k| &k.jwk).collect();
        json!({ "keys": keys })
    }

    fn from_set(set: KeySet, access: SigningAlgorithm) -> Self {
        Self {
            set: RwLock::new(Arc::new(set)),
            reloading: Mutex::new(()),
            housekeeping: Mutex::new(()),
            access,
            retired_retention_ms: AtomicI64::new(DEFAULT_RETIRED_RETENTION_MS),
        }
    }

    /// How long after its retirement a retired key still verifies (and is published).
    pub fn retired_retention(&self) -> Duration {
        Duration::milliseconds(self.retired_retention_ms.load(Ordering::Relaxed))
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

fn crypto_error(what: &str, e: impl fmt::Display) -> SigningError {
    SigningError::Crypto(format!("{what}: {e}"))
}
