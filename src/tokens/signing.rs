//! Signing keys and JWT access tokens (RFC 9068).
//!
//! Keys live in the `signing_keys` table so every instance signs with the
//! same one. The private part is PKCS#8 DER sealed with XChaCha20-Poly1305
//! under the master key: `base64(nonce[24] || ciphertext)`, with the kid as
//! associated data so a sealed key cannot be moved to another row. Only the
//! `current` key is ever decrypted; the others are held as public keys.
//!
//! Rotation is two steps so resource servers that cache the JWKS never see
//! a token signed by a key they do not know: `prepare_next` publishes a key
//! that does not sign yet; later, `activate_next` makes it sign and retires
//! the old one, which stays published for `keep_retired_for` (at least the
//! access-token lifetime) so the tokens it signed still verify.
//!
//! Verification leeway: none on `exp` (a token is dead at `exp`, as RFC 7519
//! §4.1.4 says), 5 s on `nbf`, so a token issued by an instance whose clock
//! runs slightly ahead is not refused by another.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::Algorithm;
use p256::elliptic_curve::zeroize::Zeroizing;
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::store::models::SigningKeyRow;
use crate::store::signing_keys::{self as db, GuardedInsert, STATE_CURRENT, STATE_NEXT, STATE_RETIRED};
use crate::store::{Store, StoreError};
use crate::tokens::master_key::MasterKey;

/// RFC 9068 §2.1: the `typ` header of a JWT access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// How far in the future `nbf` may be and still be accepted, in seconds.
pub const NBF_LEEWAY_SECS: i64 = 5;
const RSA_BITS: usize = 2048;
const NONCE_LEN: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

    fn jwt(self) -> Algorithm {
        match self {
            Self::ES256 => Algorithm::ES256,
            Self::RS256 => Algorithm::RS256,
            Self::EdDSA => Algorithm::EdDSA,
        }
    }
}

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
    #[error("no current signing key in the database")]
    NoCurrentKey,
    #[error("no next signing key to activate: prepare one first")]
    NoNextKey,
    #[error("a next signing key is already prepared: {0}")]
    NextAlreadyPrepared(String),
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

/// Keys held in memory: the parsed current signing key plus every published
/// public key. `reload` swaps the whole set, so signing never waits on I/O.
pub struct SigningKeys {
    set: RwLock<Arc<KeySet>>,
}

struct KeySet {
    current: CurrentKey,
    /// Current first, then next, then retired (most recently retired first).
    published: Vec<PublishedKey>,
}

struct CurrentKey {
    kid: String,
    algorithm: SigningAlgorithm,
    /// base64url of the JOSE header, the same for every token this key signs.
    header: String,
    private: PrivateKey,
}

struct PublishedKey {
    kid: String,
    algorithm: SigningAlgorithm,
    retired_at: Option<DateTime<Utc>>,
    jwk: Value,
    public: PublicKey,
}

/// The current key's private half, parsed once at load: jsonwebtoken's
/// rust_crypto backend re-parses the key DER on every signature, which for
/// ES256 costs more than the signature itself. Deliberately not `Debug`
/// (`RsaPrivateKey`'s Debug prints the private exponent); each key zeroizes
/// itself on drop.
enum PrivateKey {
    Es256(p256::ecdsa::SigningKey),
    Rs256(rsa::pkcs1v15::SigningKey<Sha256>),
    EdDsa(ed25519_dalek::SigningKey),
}

/// A published key, parsed once at load rather than on every verification.
enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>),
    EdDsa(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = self.snapshot();
        f.debug_struct("SigningKeys")
            .field("current", &set.current.kid)
            .field("algorithm", &set.current.algorithm)
            .field("published", &set.published.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl SigningKeys {
    /// Loads the keys; when there is no current key, generates one of
    /// `algorithm` and stores it. Two instances starting together on one
    /// database end up sharing whichever key committed first.
    pub fn load_or_create(
        store: &Store,
        master: &MasterKey,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<Self, SigningError> {
        if let Some(set) = load_set(store, master)? {
            return Ok(Self::from_set(set));
        }
        let row = new_row(master, algorithm, STATE_CURRENT, now)?;
        let inserted = store.run_blocking(|c| db::insert_if_state_free(c, &row));
        if let Ok(GuardedInsert::Inserted) = inserted {
            tracing::info!(kid = %row.kid, algorithm = %algorithm, "generated the first signing key");
        }
        // Whoever won, the table now says which key is current; a failed
        // insert (serialization failure, locked SQLite) is fine if it has one.
        match load_set(store, master)? {
            Some(set) => Ok(Self::from_set(set)),
            None => Err(inserted.err().map_or(SigningError::NoCurrentKey, SigningError::from)),
        }
    }

    /// Re-reads the table (after a rotation elsewhere).
    pub fn reload(&self, store: &Store, master: &MasterKey) -> Result<(), SigningError> {
        let set = load_set(store, master)?.ok_or(SigningError::NoCurrentKey)?;
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(())
    }

    /// Rotation, part 1: generates a key in state `next`, published in the
    /// JWKS but not signing yet. At most one `next` key exists at a time.
    pub fn prepare_next(
        &self,
        store: &Store,
        master: &MasterKey,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<String, SigningError> {
        // Checked first so an RSA key is not generated for nothing; the
        // guarded insert below is what decides.
        if let Some(kid) = store.run_blocking(|c| db::find_kid_in_state(c, STATE_NEXT))? {
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

    /// Rotation, part 2: the `next` key becomes `current`, the old current
    /// one `retired` (still published until `retired_at + keep_retired_for`).
    /// Call it once resource servers have had time to fetch the next key.
    pub fn activate_next(&self, store: &Store, master: &MasterKey, now: DateTime<Utc>) -> Result<String, SigningError> {
        let rows = store.run_blocking(db::list_keys)?;
        let next = rows.iter().find(|r| r.state == STATE_NEXT).ok_or(SigningError::NoNextKey)?;
        // Refuse to promote a key this instance could not sign with (one
        // prepared under another master key): every instance would fail.
        CurrentKey::from_row(next, master)?;
        let kid = next.kid.clone();
        let promoted = store.run_blocking(|c| db::activate_next(c, &kid, now.naive_utc()));
        self.reload(store, master)?;
        match promoted {
            Ok(true) => {
                tracing::info!(kid = %kid, "activated the next signing key");
                Ok(kid)
            }
            // Another instance activated the same key at the same time: done.
            Ok(false) | Err(StoreError::Conflict(_)) if self.current_kid() == kid => Ok(kid),
            Ok(false) => Err(SigningError::NoNextKey),
            Err(e) => Err(e.into()),
        }
    }

    pub fn current_kid(&self) -> String {
        self.snapshot().current.kid.clone()
    }

    /// The algorithm of the current key.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.snapshot().current.algorithm
    }

    /// Signs with the current key; the header carries alg, kid and
    /// `typ: at+jwt` (RFC 9068 §2.1). No I/O, no lock held while signing,
    /// no key parsing either: the key was parsed when it was loaded.
    pub fn sign_access_token(&self, claims: &AccessTokenClaims) -> Result<String, SigningError> {
        let set = self.snapshot();
        let current = &set.current;
        let claims = serde_json::to_vec(claims).map_err(|e| crypto_error("claims encoding", e))?;
        // RFC 7515 §7.1: base64url(header) . base64url(payload) . base64url(signature)
        let mut token = String::with_capacity(current.header.len() + claims.len() * 4 / 3 + 400);
        token.push_str(&current.header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let signature = current.private.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
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
        let (message, signature) = token.rsplit_once('.').ok_or(VerifyError::Malformed)?;
        let (_, payload) = message.split_once('.').ok_or(VerifyError::Malformed)?;
        if payload.contains('.') {
            return Err(VerifyError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        // RFC 7515 §4.1.11: we understand no extension, so none may be critical.
        if header.crit.is_some() {
            return Err(VerifyError::Malformed);
        }
        let set = self.snapshot();
        let key = header.kid.as_deref().and_then(|kid| set.find(kid)).ok_or(VerifyError::UnknownKey)?;
        // The key fixes the algorithm: a token cannot choose it (no alg confusion).
        if header.alg != key.algorithm.jwt() {
            return Err(VerifyError::BadSignature);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| VerifyError::BadSignature)?;
        if !key.public.verify(message.as_bytes(), &signature) {
            return Err(VerifyError::BadSignature);
        }
        if !is_access_token_type(header.typ.as_deref()) {
            return Err(VerifyError::WrongType);
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| VerifyError::Malformed)?;
        let claims: AccessTokenClaims = serde_json::from_slice(&payload).map_err(|_| VerifyError::Malformed)?;
        if now >= claims.exp {
            return Err(VerifyError::Expired);
        }
        if claims.nbf > now.saturating_add(NBF_LEEWAY_SECS) {
            return Err(VerifyError::NotYetValid);
        }
        if claims.iss != issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if let Some(audience) = audience
            && !claims.aud.iter().any(|a| a == audience)
        {
            return Err(VerifyError::WrongAudience);
        }
        Ok(claims)
    }

    /// RFC 7517 JWK Set of the next, current and not yet expired retired
    /// keys. Built from public components only: no private member can leak.
    pub fn jwks(&self, now: DateTime<Utc>, keep_retired_for: Duration) -> Value {
        let set = self.snapshot();
        let keys: Vec<&Value> = set
            .published
            .iter()
            .filter(|k| k.retired_at.is_none_or(|at| at + keep_retired_for > now))
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }

    fn from_set(set: KeySet) -> Self {
        Self { set: RwLock::new(Arc::new(set)) }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl KeySet {
    fn find(&self, kid: &str) -> Option<&PublishedKey> {
        self.published.iter().find(|k| k.kid == kid)
    }
}

/// RFC 7515 §4.1.9: media types compare case-insensitively, and the
/// `application/` prefix may be left out.
fn is_access_token_type(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.get(..12).filter(|p| p.eq_ignore_ascii_case("application/")).map_or(typ, |_| &typ[12..]);
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
}

/// Reads the table; `None` when no key is current.
fn load_set(store: &Store, master: &MasterKey) -> Result<Option<KeySet>, SigningError> {
    let rows = store.run_blocking(db::list_keys)?;
    build_set(&rows, master)
}

fn build_set(rows: &[SigningKeyRow], master: &MasterKey) -> Result<Option<KeySet>, SigningError> {
    let currents: Vec<&SigningKeyRow> = rows.iter().filter(|r| r.state == STATE_CURRENT).collect();
    // One at most, unless the table was edited by hand: then the latest activated signs.
    let Some(current_row) = currents.iter().max_by_key(|r| (r.activated_at, r.created_at, r.kid.as_str())) else {
        return Ok(None);
    };
    if currents.len() > 1 {
        tracing::warn!(count = currents.len(), kid = %current_row.kid, "several current signing keys; signing with the latest");
    }
    let current = CurrentKey::from_row(current_row, master)?;

    let rank = |r: &SigningKeyRow| match r.state.as_str() {
        STATE_CURRENT if r.kid == current.kid => 0,
        STATE_CURRENT => 1,
        STATE_NEXT => 2,
        _ => 3,
    };
    let mut rows: Vec<&SigningKeyRow> =
        rows.iter().filter(|r| [STATE_CURRENT, STATE_NEXT, STATE_RETIRED].contains(&r.state.as_str())).collect();
    rows.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.retired_at.cmp(&a.retired_at)));
    let mut published = Vec::with_capacity(rows.len());
    for row in rows {
        match PublishedKey::from_row(row) {
            Ok(key) => published.push(key),
            // The current key parsed above, so this row is not; one bad
            // retired row must not stop signing.
            Err(e) if row.kid != current.kid => tracing::warn!(kid = %row.kid, error = %e, "skipping a signing key"),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(KeySet { current, published }))
}

impl CurrentKey {
    fn from_row(row: &SigningKeyRow, master: &MasterKey) -> Result<Self, SigningError> {
        let algorithm = parse_algorithm(row)?;
        let pkcs8 = open_private(master, &row.kid, &row.private_key_encrypted)?;
        let (private, public) = parse_private(algorithm, &pkcs8)?;
        // The JWKS is built from the stored public key: it must be this key's.
        if PublicParts::from_jwk(&row.public_jwk)? != public {
            return Err(SigningError::Crypto(format!("key {}: stored public key does not match", row.kid)));
        }
        let header = JoseHeader { typ: ACCESS_TOKEN_TYPE, alg: algorithm.as_str(), kid: &row.kid };
        let header = serde_json::to_vec(&header).map_err(|e| crypto_error("header encoding", e))?;
        Ok(Self { kid: row.kid.clone(), algorithm, header: URL_SAFE_NO_PAD.encode(header), private })
    }
}

impl PublishedKey {
    fn from_row(row: &SigningKeyRow) -> Result<Self, SigningError> {
        let algorithm = parse_algorithm(row)?;
        let public = PublicParts::from_jwk(&row.public_jwk)?;
        Ok(Self {
            kid: row.kid.clone(),
            algorithm,
            retired_at: row.retired_at.map(|t| t.and_utc()),
            jwk: public.to_jwk(&row.kid, algorithm),
            public: public.parse()?,
        })
    }
}

/// The JOSE header of our access tokens, members in this order (RFC 9068 §2.1).
#[derive(Serialize)]
struct JoseHeader<'a> {
    typ: &'a str,
    alg: &'a str,
    kid: &'a str,
}

impl PrivateKey {
    /// The JWS signature of `message` (RFC 7518 §3): ES256 as the 64-byte
    /// `r || s`, not DER; EdDSA the raw 64 bytes; RS256 PKCS#1 v1.5 over
    /// SHA-256.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        use p256::ecdsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
        let failed = |e: p256::ecdsa::Error| crypto_error("signing failed", e);
        match self {
            Self::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.try_sign(message).map_err(failed)?;
                Ok(signature.to_vec())
            }
            // With an RNG so the private-key operation is blinded, as
            // jsonwebtoken does; the signature itself is deterministic.
            Self::Rs256(key) => Ok(key.try_sign_with_rng(&mut OsRng, message).map_err(failed)?.to_vec()),
            Self::EdDsa(key) => Ok(key.try_sign(message).map_err(failed)?.to_vec()),
        }
    }
}

impl PublicKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match self {
            Self::Es256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Self::Rs256(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Self::EdDsa(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
        }
    }
}

fn parse_algorithm(row: &SigningKeyRow) -> Result<SigningAlgorithm, SigningError> {
    row.algorithm.parse().map_err(|e| SigningError::Crypto(format!("key {}: {e}", row.kid)))
}

/// A new key as a row: kid = RFC 7638 thumbprint, private part sealed.
fn new_row(
    master: &MasterKey,
    algorithm: SigningAlgorithm,
    state: &str,
    now: DateTime<Utc>,
) -> Result<SigningKeyRow, SigningError> {
    let pkcs8 = generate_pkcs8(algorithm)?;
    let (_, public) = parse_private(algorithm, &pkcs8)?;
    let kid = public.thumbprint();
    let now = now.naive_utc();
    Ok(SigningKeyRow {
        private_key_encrypted: seal_private(master, &kid, &pkcs8)?,
        public_jwk: public.to_jwk(&kid, algorithm).to_string(),
        kid,
        algorithm: algorithm.as_str().to_owned(),
        state: state.to_owned(),
        created_at: now,
        activated_at: (state == STATE_CURRENT).then_some(now),
        retired_at: None,
    })
}

fn crypto_error(what: &str, e: impl fmt::Display) -> SigningError {
    SigningError::Crypto(format!("{what}: {e}"))
}

/// A fresh private key as PKCS#8 DER.
fn generate_pkcs8(algorithm: SigningAlgorithm) -> Result<Zeroizing<Vec<u8>>, SigningError> {
    use p256::pkcs8::EncodePrivateKey;
    let doc = match algorithm {
        SigningAlgorithm::ES256 => p256::ecdsa::SigningKey::random(&mut OsRng).to_pkcs8_der(),
        SigningAlgorithm::RS256 => {
            let key =
                rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS).map_err(|e| crypto_error("RSA key generation", e))?;
            key.to_pkcs8_der()
        }
        SigningAlgorithm::EdDSA => ed25519_dalek::SigningKey::generate(&mut OsRng).to_pkcs8_der(),
    }
    .map_err(|e| crypto_error("PKCS#8 encoding", e))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// The signing key and the public part of a PKCS#8 private key.
fn parse_private(algorithm: SigningAlgorithm, pkcs8: &[u8]) -> Result<(PrivateKey, PublicParts), SigningError> {
    use p256::pkcs8::DecodePrivateKey;
    let invalid = |e: &dyn fmt::Display| crypto_error("invalid private key", e);
    match algorithm {
        SigningAlgorithm::ES256 => {
            let key = p256::ecdsa::SigningKey::from_pkcs8_der(pkcs8).map_err(|e| invalid(&e))?;
            let point = key.verifying_key().to_encoded_point(false);
            let (Some(x), Some(y)) = (point.x(), point.y()) else {
                return Err(invalid(&"P-256 point has no coordinates"));
            };
            let public = PublicParts::Ec { x: URL_SAFE_NO_PAD.encode(x), y: URL_SAFE_NO_PAD.encode(y) };
            Ok((PrivateKey::Es256(key), public))
        }
        SigningAlgorithm::RS256 => {
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(|e| invalid(&e))?;
            let public = PublicParts::Rsa {
                n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            };
            Ok((PrivateKey::Rs256(rsa::pkcs1v15::SigningKey::new(key)), public))
        }
        SigningAlgorithm::EdDSA => {
            let key = ed25519_dalek::SigningKey::from_pkcs8_der(pkcs8).map_err(|e| invalid(&e))?;
            let public = PublicParts::Okp { x: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()) };
            Ok((PrivateKey::EdDsa(key), public))
        }
    }
}

/// The public members of a JWK (RFC 7518 §6), base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicParts {
    Ec { x: String, y: String },
    Rsa { n: String, e: String },
    Okp { x: String },
}

impl PublicParts {
    fn from_jwk(stored: &str) -> Result<Self, SigningError> {
        let bad = || SigningError::Crypto("stored public key is not a JWK this server writes".into());
        let jwk: Value = serde_json::from_str(stored).map_err(|_| bad())?;
        let member = |name: &str| jwk.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(bad);
        match (member("kty")?.as_str(), jwk.get("crv").and_then(Value::as_str)) {
            ("EC", Some("P-256")) => Ok(Self::Ec { x: member("x")?, y: member("y")? }),
            ("RSA", _) => Ok(Self::Rsa { n: member("n")?, e: member("e")? }),
            ("OKP", Some("Ed25519")) => Ok(Self::Okp { x: member("x")? }),
            _ => Err(bad()),
        }
    }

    fn to_jwk(&self, kid: &str, algorithm: SigningAlgorithm) -> Value {
        let mut jwk = match self {
            Self::Ec { x, y } => json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            Self::Rsa { n, e } => json!({ "kty": "RSA", "n": n, "e": e }),
            Self::Okp { x } => json!({ "kty": "OKP", "crv": "Ed25519", "x": x }),
        };
        // Invariant: every arm above builds an object.
        if let Some(map) = jwk.as_object_mut() {
            map.insert("kid".into(), kid.into());
            map.insert("use".into(), "sig".into());
            map.insert("alg".into(), algorithm.as_str().into());
        }
        jwk
    }

    /// RFC 7638: SHA-256 of the required members, in lexicographic order,
    /// without whitespace. The base64url values need no JSON escaping.
    fn thumbprint(&self) -> String {
        let canonical = match self {
            Self::Ec { x, y } => format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
            Self::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            Self::Okp { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The verifying key these members describe.
    fn parse(&self) -> Result<PublicKey, SigningError> {
        let invalid = |e: &dyn fmt::Display| crypto_error("invalid public key", e);
        let decode = |b64: &str| URL_SAFE_NO_PAD.decode(b64).map_err(|e| invalid(&e));
        match self {
            Self::Ec { x, y } => {
                let (x, y) = (decode(x)?, decode(y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(invalid(&"P-256 coordinates are not 32 bytes"));
                }
                // SEC 1 §2.3.3, uncompressed: 0x04 || x || y.
                let sec1 = [&[4u8][..], &x, &y].concat();
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|e| invalid(&e))?;
                Ok(PublicKey::Es256(key))
            }
            Self::Rsa { n, e } => {
                let (n, e) = (rsa::BigUint::from_bytes_be(&decode(n)?), rsa::BigUint::from_bytes_be(&decode(e)?));
                let key = rsa::RsaPublicKey::new(n, e).map_err(|e| invalid(&e))?;
                Ok(PublicKey::Rs256(rsa::pkcs1v15::VerifyingKey::new(key)))
            }
            Self::Okp { x } => {
                let x: [u8; 32] = decode(x)?.try_into().map_err(|_| invalid(&"Ed25519 key is not 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|e| invalid(&e))?;
                Ok(PublicKey::EdDsa(key))
            }
        }
    }
}

fn cipher(master: &MasterKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(Key::from_slice(master.as_bytes()))
}

/// `base64(nonce || XChaCha20-Poly1305(pkcs8, aad = kid))`.
fn seal_private(master: &MasterKey, kid: &str, pkcs8: &[u8]) -> Result<String, SigningError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher(master)
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: pkcs8, aad: kid.as_bytes() })
        .map_err(|_| SigningError::Crypto("encryption failed".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(STANDARD.encode(out))
}

fn open_private(master: &MasterKey, kid: &str, stored: &str) -> Result<Zeroizing<Vec<u8>>, SigningError> {
    let fail = || SigningError::Decrypt(kid.to_owned());
    let raw = STANDARD.decode(stored).map_err(|_| fail())?;
    if raw.len() <= NONCE_LEN {
        return Err(fail());
    }
    let (nonce, sealed) = raw.split_at(NONCE_LEN);
    cipher(master)
        .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: kid.as_bytes() })
        .map(Zeroizing::new)
        .map_err(|_| fail())
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use chrono::TimeZone;
    use jsonwebtoken::jwk::{JwkSet, ThumbprintHash};
    use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, decode_header};

    use super::*;
    use crate::store::DatabaseUrl;

    const ISS: &str = "https://auth.example.com";
    const API: &str = "https://api.example.com";

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        master: MasterKey,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        store.migrate().unwrap();
        Fixture { _dir: dir, store, master: master(1) }
    }

    fn open(dir: &tempfile::TempDir) -> Store {
        let url = DatabaseUrl::Sqlite(dir.path().join("t.db"));
        Store::open(url, 2, std::time::Duration::from_secs(5)).unwrap()
    }

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_base64(&STANDARD.encode([byte; 32])).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn claims_at(now: i64) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISS.into(),
            sub: "user_1".into(),
            aud: vec![API.into()],
            exp: now + 300,
            iat: now,
            nbf: now,
            jti: "jti_1".into(),
            client_id: "app_1".into(),
            scope: "read write".into(),
            org_id: Some("org_1".into()),
        }
    }

    fn create(f: &Fixture, alg: SigningAlgorithm) -> SigningKeys {
        SigningKeys::load_or_create(&f.store, &f.master, alg, t0()).unwrap()
    }

    fn rows(f: &Fixture) -> Vec<SigningKeyRow> {
        f.store.run_blocking(db::list_keys).unwrap()
    }

    fn row(f: &Fixture, kid: &str) -> SigningKeyRow {
        rows(f).into_iter().find(|r| r.kid == kid).unwrap()
    }

    fn kids(jwks: &Value) -> Vec<String> {
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    }

    /// The current key's private part, as jsonwebtoken takes it: to sign
    /// tokens the server itself never would. jsonwebtoken (rust_crypto)
    /// wants PKCS#8 for EC and Ed25519 but PKCS#1 for RSA.
    fn private_encoding_key(f: &Fixture, keys: &SigningKeys) -> EncodingKey {
        use p256::pkcs8::DecodePrivateKey;
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let row = row(f, &keys.current_kid());
        let pkcs8 = open_private(&f.master, &row.kid, &row.private_key_encrypted).unwrap();
        match keys.algorithm() {
            SigningAlgorithm::ES256 => EncodingKey::from_ec_der(&pkcs8),
            SigningAlgorithm::RS256 => {
                let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).unwrap().to_pkcs1_der().unwrap();
                EncodingKey::from_rsa_der(pkcs1.as_bytes())
            }
            SigningAlgorithm::EdDSA => EncodingKey::from_ed_der(&pkcs8),
        }
    }

    fn sign_with_header(f: &Fixture, keys: &SigningKeys, edit: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(keys.algorithm().jwt());
        header.kid = Some(keys.current_kid());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        edit(&mut header);
        jsonwebtoken::encode(&header, &claims_at(t0().timestamp()), &private_encoding_key(f, keys)).unwrap()
    }

    macro_rules! for_each_algorithm {
        ($($check:ident),* $(,)?) => {
            mod es256 { $( #[test] fn $check() { super::$check(super::SigningAlgorithm::ES256) } )* }
            mod rs256 { $( #[test] fn $check() { super::$check(super::SigningAlgorithm::RS256) } )* }
            mod eddsa { $( #[test] fn $check() { super::$check(super::SigningAlgorithm::EdDSA) } )* }
        };
    }

    for_each_algorithm!(
        signs_and_verifies,
        refuses_what_fails_a_check,
        other_token_types_are_refused,
        jwks_alone_verifies_and_holds_no_private_member,
        private_key_is_sealed_under_the_master_key,
        second_instance_shares_the_key,
        rotation_publishes_before_signing_and_keeps_the_old_key,
    );

    fn signs_and_verifies(alg: SigningAlgorithm) {
        let f = fixture();
        let keys = create(&f, alg);
        assert_eq!(keys.algorithm(), alg);
        let now = t0().timestamp();
        let claims = claims_at(now);
        let token = keys.sign_access_token(&claims).unwrap();

        let header = decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, alg.jwt());
        assert_eq!(header.kid, Some(keys.current_kid()));

        assert_eq!(keys.verify_access_token(&token, ISS, Some(API), now), Ok(claims.clone()));
        assert_eq!(keys.verify_access_token(&token, ISS, None, now), Ok(claims.clone()));

        // The same bytes jsonwebtoken produces: header members in the same
        // order, and all three signatures are deterministic (RFC 6979 nonces
        // for ES256; RSA blinding does not change the result).
        let mut header = Header::new(alg.jwt());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some(keys.current_kid());
        assert_eq!(jsonwebtoken::encode(&header, &claims, &private_encoding_key(&f, &keys)).unwrap(), token);

        let many = AccessTokenClaims { aud: vec![API.into(), "https://other.example.com".into()], ..claims_at(now) };
        let token = keys.sign_access_token(&many).unwrap();
        assert_eq!(keys.verify_access_token(&token, ISS, Some("https://other.example.com"), now), Ok(many));
    }

    fn refuses_what_fails_a_check(alg: SigningAlgorithm) {
        let f = fixture();
        let keys = create(&f, alg);
        let now = t0().timestamp();
        let claims = claims_at(now);
        let token = keys.sign_access_token(&claims).unwrap();
        let verify = |token: &str, now| keys.verify_access_token(token, ISS, Some(API), now);

        // Payload swapped for another one: the signature no longer matches.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = serde_json::to_vec(&AccessTokenClaims { sub: "admin".into(), ..claims.clone() }).unwrap();
        let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(forged), parts[2]);
        assert_eq!(verify(&tampered, now), Err(VerifyError::BadSignature));
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[5] ^= 1;
        let tampered = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(signature));
        assert_eq!(verify(&tampered, now), Err(VerifyError::BadSignature));

        // Dead at exp exactly; nbf forgiven up to NBF_LEEWAY_SECS.
        assert!(verify(&token, claims.exp - 1).is_ok());
        assert_eq!(verify(&token, claims.exp), Err(VerifyError::Expired));
        assert!(verify(&token, now - NBF_LEEWAY_SECS).is_ok());
        assert_eq!(verify(&token, now - NBF_LEEWAY_SECS - 1), Err(VerifyError::NotYetValid));

        assert_eq!(
            keys.verify_access_token(&token, "https://evil.example.com", Some(API), now),
            Err(VerifyError::WrongIssuer)
        );
        assert_eq!(
            keys.verify_access_token(&token, ISS, Some("https://other.example.com"), now),
            Err(VerifyError::WrongAudience)
        );
    }

    fn other_token_types_are_refused(alg: SigningAlgorithm) {
        let f = fixture();
        let keys = create(&f, alg);
        let now = t0().timestamp();
        let verify = |token: &str| keys.verify_access_token(token, ISS, Some(API), now);

        // Validly signed by our key, but an ID token or a bare JWT is no access token.
        assert_eq!(verify(&sign_with_header(&f, &keys, |h| h.typ = Some("JWT".into()))), Err(VerifyError::WrongType));
        assert_eq!(verify(&sign_with_header(&f, &keys, |h| h.typ = None)), Err(VerifyError::WrongType));
        // RFC 7515 §4.1.9: case-insensitive, "application/" optional.
        assert!(verify(&sign_with_header(&f, &keys, |h| h.typ = Some("application/at+jwt".into()))).is_ok());
        assert!(verify(&sign_with_header(&f, &keys, |h| h.typ = Some("AT+JWT".into()))).is_ok());
    }

    fn jwks_alone_verifies_and_holds_no_private_member(alg: SigningAlgorithm) {
        let f = fixture();
        let keys = create(&f, alg);
        let jwks = keys.jwks(t0(), Duration::hours(1));

        let allowed = ["kty", "crv", "x", "y", "n", "e", "kid", "use", "alg"];
        for key in jwks["keys"].as_array().unwrap() {
            for member in key.as_object().unwrap().keys() {
                assert!(allowed.contains(&member.as_str()), "unexpected JWK member {member}: {key}");
            }
            assert_eq!(key["use"], "sig");
            assert_eq!(key["alg"], alg.as_str());
        }
        let key = &jwks["keys"][0];
        match alg {
            SigningAlgorithm::ES256 => assert_eq!((&key["kty"], &key["crv"]), (&json!("EC"), &json!("P-256"))),
            SigningAlgorithm::RS256 => {
                assert_eq!((&key["kty"], &key["e"]), (&json!("RSA"), &json!("AQAB")));
                assert_eq!(URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap().len() * 8, 2048);
            }
            SigningAlgorithm::EdDSA => assert_eq!((&key["kty"], &key["crv"]), (&json!("OKP"), &json!("Ed25519"))),
        }

        // RFC 9068: a resource server needs nothing but the JWKS. This one
        // is plain jsonwebtoken, checking time against the real clock.
        let set: JwkSet = serde_json::from_value(jwks).unwrap();
        let jwk = set.find(&keys.current_kid()).unwrap();
        assert_eq!(
            jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
            keys.current_kid(),
            "kid is the RFC 7638 thumbprint"
        );
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let claims = claims_at(now);
        let token = keys.sign_access_token(&claims).unwrap();
        let mut validation = Validation::new(alg.jwt());
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[API]);
        let decoded =
            jsonwebtoken::decode::<AccessTokenClaims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
                .unwrap();
        assert_eq!(decoded.claims, claims);
    }

    fn private_key_is_sealed_under_the_master_key(alg: SigningAlgorithm) {
        let f = fixture();
        let keys = create(&f, alg);
        let row = row(&f, &keys.current_kid());
        let pkcs8 = open_private(&f.master, &row.kid, &row.private_key_encrypted).unwrap();
        assert!(parse_private(alg, &pkcs8).is_ok());

        let sealed = STANDARD.decode(&row.private_key_encrypted).unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + pkcs8.len() + 16, "nonce || ciphertext || tag");
        assert!(!sealed.windows(pkcs8.len()).any(|w| w == pkcs8.as_slice()));
        // Not even the key's tail (the private scalar of an EC or Ed25519 key).
        let tail = &pkcs8[pkcs8.len() - 32..];
        assert!(!sealed.windows(32).any(|w| w == tail));
        assert!(!row.private_key_encrypted.contains(&STANDARD.encode(&pkcs8[..])));

        assert!(matches!(
            open_private(&master(2), &row.kid, &row.private_key_encrypted),
            Err(SigningError::Decrypt(_))
        ));
        // The kid is associated data: the sealed key cannot be moved to another row.
        assert!(matches!(open_private(&f.master, "other", &row.private_key_encrypted), Err(SigningError::Decrypt(_))));
        let err = SigningKeys::load_or_create(&f.store, &master(2), alg, t0()).unwrap_err();
        assert!(matches!(err, SigningError::Decrypt(ref kid) if *kid == row.kid), "{err}");

        // Debug shows kids only.
        let kid = keys.current_kid();
        assert_eq!(
            format!("{keys:?}"),
            format!("SigningKeys {{ current: {kid:?}, algorithm: {alg:?}, published: [{kid:?}] }}")
        );
    }

    fn second_instance_shares_the_key(alg: SigningAlgorithm) {
        let f = fixture();
        let first = create(&f, alg);
        // The algorithm asked for only matters when a key is created.
        let other_alg = if alg == SigningAlgorithm::EdDSA { SigningAlgorithm::ES256 } else { SigningAlgorithm::EdDSA };
        let second = SigningKeys::load_or_create(&f.store, &f.master, other_alg, t0()).unwrap();
        assert_eq!(second.current_kid(), first.current_kid());
        assert_eq!(second.algorithm(), alg);
        assert_eq!(rows(&f).len(), 1);

        let now = t0().timestamp();
        let token = first.sign_access_token(&claims_at(now)).unwrap();
        assert_eq!(second.verify_access_token(&token, ISS, Some(API), now), Ok(claims_at(now)));
    }

    fn rotation_publishes_before_signing_and_keeps_the_old_key(alg: SigningAlgorithm) {
        let f = fixture();
        let keep_for = Duration::hours(1);
        let a = create(&f, alg);
        let b = SigningKeys::load_or_create(&f.store, &f.master, alg, t0()).unwrap();
        let old = a.current_kid();

        // Part 1: the next key is published everywhere, but nobody signs with it.
        let prepared_at = t0() + Duration::days(1);
        let next = a.prepare_next(&f.store, &f.master, alg, prepared_at).unwrap();
        assert_ne!(next, old);
        assert_eq!(kids(&a.jwks(prepared_at, keep_for)), [old.clone(), next.clone()]);
        assert_eq!(a.current_kid(), old);
        let before = a.sign_access_token(&claims_at(prepared_at.timestamp())).unwrap();
        assert_eq!(decode_header(&before).unwrap().kid, Some(old.clone()));
        b.reload(&f.store, &f.master).unwrap();
        assert_eq!(kids(&b.jwks(prepared_at, keep_for)), [old.clone(), next.clone()]);

        // Part 2: the next key signs, the old one stays published for keep_for.
        let activated_at = prepared_at + Duration::days(1);
        let now = activated_at.timestamp();
        let old_token = a.sign_access_token(&claims_at(now - 60)).unwrap();
        assert_eq!(a.activate_next(&f.store, &f.master, activated_at).unwrap(), next);
        assert_eq!(a.current_kid(), next);
        let new_token = a.sign_access_token(&claims_at(now)).unwrap();
        assert_eq!(decode_header(&new_token).unwrap().kid, Some(next.clone()));
        assert_eq!(a.verify_access_token(&old_token, ISS, Some(API), now), Ok(claims_at(now - 60)));

        // The other instance, before and after it reloads.
        assert_eq!(b.verify_access_token(&new_token, ISS, Some(API), now), Ok(claims_at(now)));
        b.reload(&f.store, &f.master).unwrap();
        assert_eq!(b.current_kid(), next);
        assert_eq!(b.verify_access_token(&old_token, ISS, Some(API), now), Ok(claims_at(now - 60)));

        let retired = row(&f, &old);
        assert_eq!((retired.state.as_str(), retired.retired_at), (STATE_RETIRED, Some(activated_at.naive_utc())));
        assert_eq!(kids(&b.jwks(activated_at + keep_for - Duration::seconds(1), keep_for)), [next.clone(), old]);
        assert_eq!(kids(&b.jwks(activated_at + keep_for, keep_for)), [next]);
    }

    #[test]
    fn keys_can_be_shared_between_workers() {
        fn shareable<T: Send + Sync>() {}
        shareable::<SigningKeys>();
    }

    #[test]
    fn audience_is_a_string_when_single_and_an_array_otherwise() {
        let one = claims_at(0);
        let json = serde_json::to_value(&one).unwrap();
        assert_eq!(json["aud"], json!(API));
        assert_eq!(serde_json::from_value::<AccessTokenClaims>(json).unwrap(), one);

        let many = AccessTokenClaims { aud: vec!["a".into(), "b".into()], org_id: None, ..claims_at(0) };
        let json = serde_json::to_value(&many).unwrap();
        assert_eq!(json["aud"], json!(["a", "b"]));
        assert!(json.get("org_id").is_none());
        assert_eq!(serde_json::from_value::<AccessTokenClaims>(json).unwrap(), many);

        let mut json = serde_json::to_value(&one).unwrap();
        json["aud"] = json!([API]);
        assert_eq!(serde_json::from_value::<AccessTokenClaims>(json).unwrap(), one);
    }

    #[test]
    fn algorithm_names_round_trip() {
        for alg in [SigningAlgorithm::ES256, SigningAlgorithm::RS256, SigningAlgorithm::EdDSA] {
            assert_eq!(alg.to_string().parse::<SigningAlgorithm>(), Ok(alg));
            assert_eq!(serde_json::to_value(alg).unwrap(), json!(alg.as_str()));
            assert_eq!(serde_json::from_value::<SigningAlgorithm>(json!(alg.as_str())).unwrap(), alg);
        }
        assert_eq!("HS256".parse::<SigningAlgorithm>(), Err(UnknownAlgorithm("HS256".into())));
    }

    #[test]
    fn tokens_that_are_not_ours_are_refused() {
        let f = fixture();
        let keys = create(&f, SigningAlgorithm::ES256);
        let now = t0().timestamp();
        let verify = |token: &str| keys.verify_access_token(token, ISS, Some(API), now);

        for junk in ["", "abc", "a.b", "a.b.c.d", "!!.??.**"] {
            assert_eq!(verify(junk), Err(VerifyError::Malformed), "{junk:?}");
        }
        assert_eq!(verify(&sign_with_header(&f, &keys, |h| h.kid = None)), Err(VerifyError::UnknownKey));
        assert_eq!(verify(&sign_with_header(&f, &keys, |h| h.kid = Some("nope".into()))), Err(VerifyError::UnknownKey));
        let crit = sign_with_header(&f, &keys, |h| h.crit = Some(vec!["exp".into()]));
        assert_eq!(verify(&crit), Err(VerifyError::Malformed));

        // A correctly signed payload that is not our claims.
        let header =
            URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256", "typ": "at+jwt", "kid": keys.current_kid() }).to_string());
        let message = format!("{header}.{}", URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#));
        let key = private_encoding_key(&f, &keys);
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::ES256).unwrap();
        assert_eq!(verify(&format!("{message}.{signature}")), Err(VerifyError::Malformed));

        // Algorithm confusion: HS256 "signed" with the public key as secret.
        let jwks = keys.jwks(t0(), Duration::zero());
        let secret = jwks["keys"][0]["x"].as_str().unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys.current_kid());
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        let hs = jsonwebtoken::encode(&header, &claims_at(now), &EncodingKey::from_secret(secret.as_bytes())).unwrap();
        assert_eq!(verify(&hs), Err(VerifyError::BadSignature));
    }

    #[test]
    fn rotation_steps_are_refused_out_of_order() {
        let f = fixture();
        let keys = create(&f, SigningAlgorithm::ES256);
        let err = keys.activate_next(&f.store, &f.master, t0()).unwrap_err();
        assert!(matches!(err, SigningError::NoNextKey), "{err}");

        let next = keys.prepare_next(&f.store, &f.master, SigningAlgorithm::EdDSA, t0()).unwrap();
        let err = keys.prepare_next(&f.store, &f.master, SigningAlgorithm::EdDSA, t0()).unwrap_err();
        assert!(matches!(err, SigningError::NextAlreadyPrepared(ref kid) if *kid == next), "{err}");
        // The store refuses a second next key even when asked directly.
        let row = new_row(&f.master, SigningAlgorithm::ES256, STATE_NEXT, t0()).unwrap();
        assert_eq!(
            f.store.run_blocking(|c| db::insert_if_state_free(c, &row)).unwrap(),
            GuardedInsert::Exists(next.clone())
        );

        // Rotating to another algorithm works; the JWKS then mixes both.
        assert_eq!(keys.activate_next(&f.store, &f.master, t0()).unwrap(), next);
        assert_eq!(keys.algorithm(), SigningAlgorithm::EdDSA);
        assert_eq!(rows(&f).iter().filter(|r| r.state == STATE_CURRENT).count(), 1);
    }

    #[test]
    fn a_next_key_this_instance_cannot_open_is_not_activated() {
        let f = fixture();
        let keys = create(&f, SigningAlgorithm::ES256);
        let old = keys.current_kid();
        // Prepared by an instance configured with another master key.
        let row = new_row(&master(9), SigningAlgorithm::ES256, STATE_NEXT, t0()).unwrap();
        f.store.run_blocking(|c| db::insert_if_state_free(c, &row)).unwrap();
        let err = keys.activate_next(&f.store, &f.master, t0()).unwrap_err();
        assert!(matches!(err, SigningError::Decrypt(_)), "{err}");
        keys.reload(&f.store, &f.master).unwrap();
        assert_eq!(keys.current_kid(), old);
    }

    /// A database several "instances" (separate pools, as separate processes
    /// would have) share: a SQLite file, or a fresh PostgreSQL database when
    /// TEST_DATABASE_URL is set (as in the integration suite).
    struct SharedDb {
        url: DatabaseUrl,
        _dir: tempfile::TempDir,
        postgres: Option<(String, String)>,
    }

    impl SharedDb {
        fn new() -> Self {
            use diesel::{Connection, PgConnection, RunQueryDsl};
            let dir = tempfile::tempdir().unwrap();
            let admin = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty());
            let Some(admin) = admin else {
                let url = DatabaseUrl::Sqlite(dir.path().join("t.db"));
                return Self { url, _dir: dir, postgres: None };
            };
            let name = format!("portcullis_signing_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            Self { url: DatabaseUrl::Postgres(url.to_string()), _dir: dir, postgres: Some((admin, name)) }
        }

        fn store(&self) -> Store {
            Store::open(self.url.clone(), 2, std::time::Duration::from_secs(10)).unwrap()
        }
    }

    impl Drop for SharedDb {
        fn drop(&mut self) {
            use diesel::{Connection, PgConnection, RunQueryDsl};
            if let Some((admin, name)) = &self.postgres
                && let Ok(mut conn) = PgConnection::establish(admin)
            {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn);
            }
        }
    }

    /// Runs `step` on every instance at the same moment.
    fn all_at_once<T: Send>(stores: &[Store], step: impl Fn(&Store) -> T + Sync) -> Vec<T> {
        let barrier = Barrier::new(stores.len());
        std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .map(|store| {
                    let (barrier, step) = (&barrier, &step);
                    s.spawn(move || {
                        barrier.wait();
                        step(store)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// Instances starting, preparing and activating together end up with one
    /// current key, one next key, and agree on which.
    #[test]
    fn concurrent_instances_agree_on_one_key() {
        let db = SharedDb::new();
        db.store().migrate().unwrap();
        let stores: Vec<Store> = (0..6).map(|_| db.store()).collect();
        let master = master(1);
        let states = |state: &str| {
            let rows = stores[0].run_blocking(db::list_keys).unwrap();
            rows.into_iter().filter(|r| r.state == state).map(|r| r.kid).collect::<Vec<_>>()
        };

        let instances = all_at_once(&stores, |store| {
            SigningKeys::load_or_create(store, &master, SigningAlgorithm::ES256, t0()).unwrap()
        });
        let first = states(STATE_CURRENT);
        assert_eq!(first.len(), 1);
        assert!(instances.iter().all(|k| k.current_kid() == first[0]));

        let prepared = all_at_once(&stores, |store| {
            let keys = SigningKeys::load_or_create(store, &master, SigningAlgorithm::ES256, t0()).unwrap();
            keys.prepare_next(store, &master, SigningAlgorithm::ES256, t0())
        });
        let next = states(STATE_NEXT);
        assert_eq!(next.len(), 1, "{prepared:?}");
        assert_eq!(prepared.iter().filter(|r| r.is_ok()).count(), 1, "{prepared:?}");
        for refused in prepared.iter().filter_map(|r| r.as_ref().err()) {
            // Refused up front, or the loser of the race.
            assert!(
                matches!(refused, SigningError::NextAlreadyPrepared(_) | SigningError::Store(StoreError::Conflict(_))),
                "{refused}"
            );
        }

        let activated = all_at_once(&stores, |store| {
            let keys = SigningKeys::load_or_create(store, &master, SigningAlgorithm::ES256, t0()).unwrap();
            keys.activate_next(store, &master, t0()).map_err(|e| e.to_string())
        });
        assert_eq!(states(STATE_CURRENT), next);
        assert_eq!(states(STATE_RETIRED), first);
        // Late callers find no next key left; nobody activates anything else.
        assert!(
            activated.iter().all(|r| *r == Ok(next[0].clone()) || r.as_deref().is_err_and(|e| e.contains("no next")))
        );
        for keys in &instances {
            keys.reload(&stores[0], &master).unwrap();
            assert_eq!(keys.current_kid(), next[0]);
        }
    }

    #[test]
    #[ignore]
    fn zz_bench() {
        /// CPU time of this thread in ns (the machine is shared: wall time is noise).
        fn cpu_ns() -> u64 {
            let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
            stat.split(' ').next().unwrap().parse().unwrap()
        }
        /// Fastest batch mean and median batch mean, in µs of CPU per op.
        fn time(batches: usize, per: u32, mut op: impl FnMut()) -> (f64, f64) {
            for _ in 0..per {
                op();
            }
            let mut means: Vec<f64> = (0..batches)
                .map(|_| {
                    let start = cpu_ns();
                    for _ in 0..per {
                        op();
                    }
                    (cpu_ns() - start) as f64 / 1e3 / f64::from(per)
                })
                .collect();
            means.sort_by(f64::total_cmp);
            (means[0], means[batches / 2])
        }
        for alg in [SigningAlgorithm::ES256, SigningAlgorithm::EdDSA, SigningAlgorithm::RS256] {
            let f = fixture();
            let keys = create(&f, alg);
            let now = t0().timestamp();
            let c = claims_at(now);
            let per: u32 = if alg == SigningAlgorithm::RS256 { 20 } else { 200 };
            let tok = keys.sign_access_token(&c).unwrap();
            let sign = time(25, per, || {
                std::hint::black_box(keys.sign_access_token(std::hint::black_box(&c)).unwrap());
            });
            let verify = time(25, per, || {
                std::hint::black_box(keys.verify_access_token(std::hint::black_box(&tok), ISS, Some(API), now).unwrap());
            });
            eprintln!(
                "BENCH {alg}: sign min {:.1} med {:.1} | verify min {:.1} med {:.1}",
                sign.0, sign.1, verify.0, verify.1
            );
            #[allow(unused)]
            {
                // Signature check only: jsonwebtoken's DecodingKey path vs the parsed key.
                let set: JwkSet = serde_json::from_value(keys.jwks(t0(), Duration::zero())).unwrap();
                let dk = DecodingKey::from_jwk(set.find(&keys.current_kid()).unwrap()).unwrap();
                let (message, sig) = tok.rsplit_once('.').unwrap();
                let snap = keys.snapshot();
                let public = &snap.find(&keys.current_kid()).unwrap().public;
                for _ in 0..2 {
                    let jwt_path = time(25, per, || {
                        assert!(std::hint::black_box(
                            jsonwebtoken::crypto::verify(sig, message.as_bytes(), &dk, alg.jwt()).unwrap()
                        ));
                    });
                    let parsed = time(25, per, || {
                        let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
                        assert!(std::hint::black_box(public.verify(message.as_bytes(), &raw)));
                    });
                    eprintln!(
                        "BENCH {alg}: signature check only: DecodingKey min {:.1} med {:.1} | parsed min {:.1} med {:.1}",
                        jwt_path.0, jwt_path.1, parsed.0, parsed.1
                    );
                }
            }
        }
    }
}
