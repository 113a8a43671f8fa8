//! Tests of signing keys and access tokens: `tokens` for what is signed and
//! what verification refuses, `keys` for sealing, rotation and sharing keys
//! between instances.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::Value;

use super::keys::open_private;
use super::{ACCESS_TOKEN_TYPE, ALGORITHMS, AccessTokenClaims, SigningAlgorithm, SigningKeys};
use crate::store::models::SigningKeyRow;
use crate::store::signing_keys as db;
use crate::store::{DatabaseUrl, PoolSettings, Store};
use crate::tokens::master_key::MasterKey;

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
    Store::open(url, &PoolSettings { size: 2, ..PoolSettings::default() }).unwrap()
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

/// The kids of the `alg` keys in a JWK Set, in its order.
fn kids(jwks: &Value, alg: SigningAlgorithm) -> Vec<String> {
    let keys = jwks["keys"].as_array().unwrap().iter().filter(|k| k["alg"] == alg.as_str());
    keys.map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
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

/// Runs each check, a function of the algorithm, once per algorithm.
macro_rules! for_each_algorithm {
    ($($check:ident),* $(,)?) => {
        mod es256 { $( #[test] fn $check() { super::$check(super::SigningAlgorithm::ES256) } )* }
        mod rs256 { $( #[test] fn $check() { super::$check(super::SigningAlgorithm::RS256) } )* }
        mod eddsa { $( #[test] fn $check() { super::$check(super::SigningAlgorithm::EdDSA) } )* }
    };
}

mod keys;
mod tokens;
