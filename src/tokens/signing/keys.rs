//! Signing keys at rest and in memory: generation, the RFC 7638 kid, the
//! public JWK, the private part sealed under the master key, and the key set
//! loaded from the `signing_keys` table.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, RsaPublicKeyComponents,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::jws::{self, PrivateKey, PublicKey};
use super::{ALGORITHMS, SigningAlgorithm, SigningError, crypto_error};
use crate::store::Store;
use crate::store::models::SigningKeyRow;
use crate::store::signing_keys::{self as db, STATE_CURRENT, STATE_NEXT, STATE_RETIRED};
use crate::tokens::master_key::MasterKey;

/// What `SigningKeys` holds, swapped whole on reload.
pub(super) struct KeySet {
    /// The key that signs, one per algorithm; shared with the next set when
    /// only the published keys change.
    pub(super) current: Vec<Arc<CurrentKey>>,
    /// Current keys first, then next, then retired (most recently retired first).
    pub(super) published: Vec<PublishedKey>,
    /// Every row's kid and state when the set was read: the poll re-reads
    /// the keys only when these change.
    pub(super) states: Vec<(String, String)>,
}

/// `(kid, state)` pairs in a canonical order.
pub(super) fn states_of<'a>(rows: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<(String, String)> {
    let mut states: Vec<(String, String)> = rows.map(|(kid, state)| (kid.clone(), state.clone())).collect();
    states.sort();
    states
}

/// A key that signs, with its private part parsed.
pub(super) struct CurrentKey {
    pub(super) kid: String,
    pub(super) algorithm: SigningAlgorithm,
    /// base64url of the access-token JOSE header, the same for every access
    /// token this key signs.
    pub(super) header: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) private: PrivateKey,
}

/// A key in the JWKS (current, next or retired) that tokens may verify with.
#[derive(Clone)]
pub(super) struct PublishedKey {
    pub(super) kid: String,
    pub(super) algorithm: SigningAlgorithm,
    pub(super) retired_at: Option<DateTime<Utc>>,
    pub(super) jwk: Value,
    pub(super) public: PublicKey,
}

impl KeySet {
    pub(super) fn find(&self, kid: &str) -> Option<&PublishedKey> {
        self.published.iter().find(|k| k.kid == kid)
    }

    /// The key that signs for `algorithm`, if there is one.
    pub(super) fn current(&self, algorithm: SigningAlgorithm) -> Option<&Arc<CurrentKey>> {
        self.current.iter().find(|k| k.algorithm == algorithm)
    }
}

/// Reads the table: every key, with a current one for each algorithm that has one.
pub(super) fn load_set(store: &Store, master: &MasterKey) -> Result<KeySet, SigningError> {
    let rows = store.run_blocking(db::list_keys)?;
    build_set(&rows, master)
}

fn build_set(rows: &[SigningKeyRow], master: &MasterKey) -> Result<KeySet, SigningError> {
    let states = states_of(rows.iter().map(|r| (&r.kid, &r.state)));
    let mut current: Vec<Arc<CurrentKey>> = Vec::with_capacity(ALGORITHMS.len());
    for algorithm in ALGORITHMS {
        let currents: Vec<&SigningKeyRow> =
            rows.iter().filter(|r| r.state == STATE_CURRENT && r.algorithm == algorithm.as_str()).collect();
        // One at most, unless the table was edited by hand: then the latest activated signs.
        let Some(row) = currents.iter().max_by_key(|r| (r.activated_at, r.created_at, r.kid.as_str())) else {
            continue;
        };
        if currents.len() > 1 {
            tracing::warn!(count = currents.len(), kid = %row.kid, %algorithm, "several current signing keys; signing with the latest");
        }
        current.push(Arc::new(CurrentKey::from_row(row, master)?));
    }
    let signing = |kid: &str| current.iter().any(|k| k.kid == kid);

    let rank = |r: &SigningKeyRow| match r.state.as_str() {
        STATE_CURRENT if signing(&r.kid) => 0,
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
            // The current keys parsed above, so this row is not one; one bad
            // retired row must not stop signing.
            Err(e) if !signing(&row.kid) => tracing::warn!(kid = %row.kid, error = %e, "skipping a signing key"),
            Err(e) => return Err(e),
        }
    }
    Ok(KeySet { current, published, states })
}

impl CurrentKey {
    pub(super) fn from_row(row: &SigningKeyRow, master: &MasterKey) -> Result<Self, SigningError> {
        let algorithm = parse_algorithm(row)?;
        let pkcs8 = open_private(master, &row.kid, &row.private_key_encrypted)?;
        let (private, public) = parse_private(algorithm, &pkcs8)?;
        // The JWKS is built from the stored public key: it must be this key's.
        if PublicParts::from_jwk(&row.public_jwk)? != public {
            return Err(SigningError::Crypto(format!("key {}: stored public key does not match", row.kid)));
        }
        let header = jws::encoded_header(super::ACCESS_TOKEN_TYPE, &row.kid, algorithm)?;
        Ok(Self { kid: row.kid.clone(), algorithm, header, created_at: row.created_at.and_utc(), private })
    }
}

impl PublishedKey {
    /// Current and next keys always; a retired one until `retired_at +
    /// keep_retired_for` (an end beyond chrono's range never comes).
    pub(super) fn is_published_at(&self, now: DateTime<Utc>, keep_retired_for: Duration) -> bool {
        self.retired_at.is_none_or(|at| at.checked_add_signed(keep_retired_for).is_none_or(|end| end > now))
    }

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

fn parse_algorithm(row: &SigningKeyRow) -> Result<SigningAlgorithm, SigningError> {
    row.algorithm.parse().map_err(|e| SigningError::Crypto(format!("key {}: {e}", row.kid)))
}

/// A new key as a row: kid = RFC 7638 thumbprint, private part sealed.
pub(super) fn new_row(
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

/// A fresh private key as PKCS#8 DER: v1 for P-256 (with the public key)
/// and RSA-2048, v2 (RFC 5958, with the public key) for Ed25519. Keys
/// stored by earlier versions (p256, rsa and ed25519-dalek's PKCS#8) load too.
fn generate_pkcs8(algorithm: SigningAlgorithm) -> Result<Zeroizing<Vec<u8>>, SigningError> {
    let failed = |e: aws_lc_rs::error::Unspecified| crypto_error("key generation", e);
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let der = match algorithm {
        SigningAlgorithm::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(failed)?.as_ref().to_vec()
        }
        SigningAlgorithm::RS256 => {
            let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            key.as_der().map_err(failed)?.as_ref().to_vec()
        }
        SigningAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?.as_ref().to_vec(),
    };
    Ok(Zeroizing::new(der))
}

/// The signing key and the public part of a PKCS#8 private key.
pub(super) fn parse_private(
    algorithm: SigningAlgorithm,
    pkcs8: &[u8],
) -> Result<(PrivateKey, PublicParts), SigningError> {
    let invalid = |e: &dyn fmt::Display| crypto_error("invalid private key", e);
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    match algorithm {
        SigningAlgorithm::ES256 => {
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(|e| invalid(&e))?;
            // SEC 1 §2.3.3, uncompressed: 0x04 || x || y.
            let public = match key.public_key().as_ref() {
                [4, xy @ ..] if xy.len() == 64 => PublicParts::Ec { x: b64(&xy[..32]), y: b64(&xy[32..]) },
                _ => return Err(invalid(&"P-256 public key is not an uncompressed point")),
            };
            Ok((PrivateKey::Es256(key), public))
        }
        SigningAlgorithm::RS256 => {
            let key = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| invalid(&e))?;
            let public = key.public_key();
            let public = PublicParts::Rsa {
                n: b64(public.modulus().big_endian_without_leading_zero()),
                e: b64(public.exponent().big_endian_without_leading_zero()),
            };
            Ok((PrivateKey::Rs256(key), public))
        }
        SigningAlgorithm::EdDSA => {
            let key = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| invalid(&e))?;
            let public = PublicParts::Okp { x: b64(key.public_key().as_ref()) };
            Ok((PrivateKey::EdDsa(key), public))
        }
    }
}

/// The public members of a JWK (RFC 7518 §6), base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PublicParts {
    Ec { x: String, y: String },
    Rsa { n: String, e: String },
    Okp { x: String },
}

impl PublicParts {
    pub(super) fn from_jwk(stored: &str) -> Result<Self, SigningError> {
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

    pub(super) fn to_jwk(&self, kid: &str, algorithm: SigningAlgorithm) -> Value {
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
    pub(super) fn thumbprint(&self) -> String {
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
        let key = match self {
            Self::Ec { x, y } => {
                let (x, y) = (decode(x)?, decode(y)?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(invalid(&"P-256 coordinates are not 32 bytes"));
                }
                // SEC 1 §2.3.3, uncompressed: 0x04 || x || y; aws-lc checks the point is on the curve.
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, [&[4u8][..], &x, &y].concat())
            }
            Self::Rsa { n, e } => {
                let (n, e) = (decode(n)?, decode(e)?);
                RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            }
            Self::Okp { x } => {
                let x = decode(x)?;
                if x.len() != 32 {
                    return Err(invalid(&"Ed25519 key is not 32 bytes"));
                }
                ParsedPublicKey::new(&ED25519, x)
            }
        };
        let low_s_only = matches!(self, Self::Ec { .. });
        key.map(|key| PublicKey::new(key, low_s_only)).map_err(|e| invalid(&e))
    }
}

/// `base64(nonce || XChaCha20-Poly1305(pkcs8, aad = kid))`.
pub(super) fn seal_private(master: &MasterKey, kid: &str, pkcs8: &[u8]) -> Result<String, SigningError> {
    master.seal(kid.as_bytes(), pkcs8).ok_or_else(|| SigningError::Crypto("encryption failed".into()))
}

pub(super) fn open_private(master: &MasterKey, kid: &str, stored: &str) -> Result<Zeroizing<Vec<u8>>, SigningError> {
    master.open(kid.as_bytes(), stored).ok_or_else(|| SigningError::Decrypt(kid.to_owned()))
}
