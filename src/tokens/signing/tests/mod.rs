//! Tests of signing keys and access tokens: `tokens` for what is signed and
//! what verification refuses, `keys` for sealing, rotation and sharing keys
//! between instances.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
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
        secret_id: None,
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

/// jsonwebtoken's name for `alg`.
fn jwt_alg(alg: SigningAlgorithm) -> Algorithm {
    match alg {
        SigningAlgorithm::ES256 => Algorithm::ES256,
        SigningAlgorithm::RS256 => Algorithm::RS256,
        SigningAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

/// `message.signature`, signed by the current `alg` key: to sign tokens the
/// server itself never would.
fn sign_message(keys: &SigningKeys, alg: SigningAlgorithm, message: &str) -> String {
    let signature = keys.snapshot().current(alg).unwrap().private.sign(message.as_bytes()).unwrap();
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An access token with the header as `edit` leaves it, signed by the current key.
fn sign_with_header(keys: &SigningKeys, edit: impl FnOnce(&mut Header)) -> String {
    let mut header = Header::new(jwt_alg(keys.algorithm()));
    header.kid = Some(keys.current_kid());
    header.typ = Some(ACCESS_TOKEN_TYPE.into());
    edit(&mut header);
    let encode = |v: Vec<u8>| URL_SAFE_NO_PAD.encode(v);
    let message = format!(
        "{}.{}",
        encode(serde_json::to_vec(&header).unwrap()),
        encode(serde_json::to_vec(&claims_at(t0().timestamp())).unwrap())
    );
    sign_message(keys, keys.algorithm(), &message)
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
