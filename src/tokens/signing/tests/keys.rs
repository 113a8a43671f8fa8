use std::sync::Barrier;

use chrono::Duration;
use jsonwebtoken::decode_header;

use super::*;
use crate::store::signing_keys::{GuardedInsert, STATE_CURRENT, STATE_NEXT, STATE_RETIRED};
use crate::store::{PoolSettings, StoreError};
use crate::tokens::master_key::NONCE_LEN;
use crate::tokens::signing::keys::{PublicParts, new_row, parse_private, seal_private};
use crate::tokens::signing::{SigningError, VerifyError};

for_each_algorithm!(
    keys_stored_by_earlier_versions_still_load_and_sign,
    private_key_is_sealed_under_the_master_key,
    second_instance_shares_the_key,
    rotation_publishes_before_signing_and_keeps_the_old_key,
);

/// A PKCS#8 key the code before aws-lc-rs generated, the public members it
/// published, and its signature of `b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmaXh0dXJlIn0"`
/// (see fixtures/README.md).
fn stored_by_earlier_version(alg: SigningAlgorithm) -> (&'static [u8], &'static str, &'static [u8]) {
    match alg {
        SigningAlgorithm::ES256 => (
            include_bytes!("fixtures/es256.pk8"),
            include_str!("fixtures/es256.jwk"),
            include_bytes!("fixtures/es256.sig"),
        ),
        SigningAlgorithm::RS256 => (
            include_bytes!("fixtures/rs256.pk8"),
            include_str!("fixtures/rs256.jwk"),
            include_bytes!("fixtures/rs256.sig"),
        ),
        SigningAlgorithm::EdDSA => (
            include_bytes!("fixtures/eddsa.pk8"),
            include_str!("fixtures/eddsa.jwk"),
            include_bytes!("fixtures/eddsa.sig"),
        ),
    }
}

/// A database written before the move to aws-lc-rs keeps working: its
/// keys load as they are, keep their kid and JWK, sign tokens that verify,
/// and what they signed before still verifies.
fn keys_stored_by_earlier_versions_still_load_and_sign(alg: SigningAlgorithm) {
    const MESSAGE: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmaXh0dXJlIn0";
    let (pkcs8, jwk, old_signature) = stored_by_earlier_version(alg);
    let (private, public) = parse_private(alg, pkcs8).unwrap();
    assert_eq!(public, PublicParts::from_jwk(jwk).unwrap(), "the same public key as before");
    // RS256 and EdDSA signatures are deterministic: the very same bytes.
    if alg != SigningAlgorithm::ES256 {
        assert_eq!(private.sign(MESSAGE).unwrap(), old_signature);
    }

    // Stored as the earlier version stored it: the current key of its algorithm.
    let f = fixture();
    let kid = public.thumbprint();
    let row = SigningKeyRow {
        kid: kid.clone(),
        algorithm: alg.as_str().into(),
        state: STATE_CURRENT.into(),
        private_key_encrypted: seal_private(&f.master, &kid, pkcs8).unwrap(),
        public_jwk: public.to_jwk(&kid, alg).to_string(),
        created_at: t0().naive_utc(),
        activated_at: Some(t0().naive_utc()),
        retired_at: None,
    };
    assert_eq!(f.store.run_blocking(|c| db::insert_if_state_free(c, &row)).unwrap(), GuardedInsert::Inserted);
    let keys = create(&f, alg);
    assert_eq!(keys.current_kid(), kid);
    let now = t0().timestamp();
    let token = keys.sign_access_token(&claims_at(now)).unwrap();
    assert_eq!(keys.verify_access_token(&token, ISS, Some(API), now), Ok(claims_at(now)));
    let set = keys.snapshot();
    let published = set.find(&kid).unwrap();
    // What the key signed before still verifies, save an ES256 signature
    // with a high S: since attacker round 4's I-7 that one is refused and
    // its low-S twin verifies (README, Upgrades).
    let mut old = old_signature.to_vec();
    if alg == SigningAlgorithm::ES256 && super::super::jws::low_s::is_high(&old) {
        assert!(!published.public.verify(MESSAGE, &old), "a high-S signature is refused");
        super::super::jws::low_s::normalize(&mut old);
    }
    assert!(published.public.verify(MESSAGE, &old));
    assert!(!published.public.verify(b"another message", &old));
    assert_eq!(kids(&keys.jwks(t0(), Duration::zero()), alg), vec![kid]);
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

    assert!(matches!(open_private(&master(2), &row.kid, &row.private_key_encrypted), Err(SigningError::Decrypt(_))));
    // The kid is associated data: the sealed key cannot be moved to another row.
    assert!(matches!(open_private(&f.master, "other", &row.private_key_encrypted), Err(SigningError::Decrypt(_))));
    let err = SigningKeys::load_or_create(&f.store, &master(2), alg, t0()).unwrap_err();
    let stored: Vec<String> = rows(&f).into_iter().map(|r| r.kid).collect();
    assert!(matches!(err, SigningError::Decrypt(ref kid) if stored.contains(kid)), "{err}");

    // Debug shows kids and algorithms only.
    let debug = format!("{keys:?}");
    assert!(debug.starts_with("SigningKeys { current: ["), "{debug}");
    for r in rows(&f) {
        assert!(debug.contains(&format!("({}, {:?})", r.algorithm, r.kid)), "{debug}");
        assert!(!debug.contains(&r.private_key_encrypted), "{debug}");
    }
    assert!(debug.contains(&format!("access_algorithm: {alg:?}")), "{debug}");
}

fn second_instance_shares_the_key(alg: SigningAlgorithm) {
    let f = fixture();
    let first = create(&f, alg);
    // One key per algorithm, shared: an instance configured with another
    // algorithm signs access tokens with that algorithm's shared key.
    let other_alg = if alg == SigningAlgorithm::EdDSA { SigningAlgorithm::ES256 } else { SigningAlgorithm::EdDSA };
    let second = SigningKeys::load_or_create(&f.store, &f.master, other_alg, t0()).unwrap();
    assert_eq!(rows(&f).len(), 3);
    for a in ALGORITHMS {
        assert_eq!(second.current_kid_of(a), first.current_kid_of(a));
    }
    assert_eq!(second.current_kid(), first.current_kid_of(other_alg));
    assert_eq!(second.algorithm(), other_alg);

    let now = t0().timestamp();
    let token = first.sign_access_token(&claims_at(now)).unwrap();
    assert_eq!(second.verify_access_token(&token, ISS, Some(API), now), Ok(claims_at(now)));
    let token = second.sign_access_token(&claims_at(now)).unwrap();
    assert_eq!(first.verify_access_token(&token, ISS, Some(API), now), Ok(claims_at(now)));
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
    assert_eq!(kids(&a.jwks(prepared_at, keep_for), alg), [old.clone(), next.clone()]);
    assert_eq!(a.current_kid(), old);
    let before = a.sign_access_token(&claims_at(prepared_at.timestamp())).unwrap();
    assert_eq!(decode_header(&before).unwrap().kid, Some(old.clone()));
    b.reload(&f.store, &f.master).unwrap();
    assert_eq!(kids(&b.jwks(prepared_at, keep_for), alg), [old.clone(), next.clone()]);

    // Part 2: the next key signs, the old one stays published for keep_for.
    let activated_at = prepared_at + Duration::days(1);
    let now = activated_at.timestamp();
    let old_token = a.sign_access_token(&claims_at(now - 60)).unwrap();
    assert_eq!(a.activate_next(&f.store, &f.master, alg, activated_at).unwrap(), next);
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
    assert_eq!(kids(&b.jwks(activated_at + keep_for - Duration::seconds(1), keep_for), alg), [next.clone(), old]);
    assert_eq!(kids(&b.jwks(activated_at + keep_for, keep_for), alg), [next]);
}

#[test]
fn keys_can_be_shared_between_workers() {
    fn shareable<T: Send + Sync>() {}
    shareable::<SigningKeys>();
}

#[test]
fn rotation_steps_are_refused_out_of_order() {
    let f = fixture();
    let keys = create(&f, SigningAlgorithm::ES256);
    let access_kid = keys.current_kid();
    let err = keys.activate_next(&f.store, &f.master, SigningAlgorithm::EdDSA, t0()).unwrap_err();
    assert!(matches!(err, SigningError::NoNextKey), "{err}");

    let next = keys.prepare_next(&f.store, &f.master, SigningAlgorithm::EdDSA, t0()).unwrap();
    let err = keys.prepare_next(&f.store, &f.master, SigningAlgorithm::EdDSA, t0()).unwrap_err();
    assert!(matches!(err, SigningError::NextAlreadyPrepared(ref kid) if *kid == next), "{err}");
    // The store refuses a second next key even when asked directly.
    let row = new_row(&f.master, SigningAlgorithm::EdDSA, STATE_NEXT, t0()).unwrap();
    assert_eq!(
        f.store.run_blocking(|c| db::insert_if_state_free(c, &row)).unwrap(),
        GuardedInsert::Exists(next.clone())
    );
    // Each algorithm rotates on its own: the EdDSA next key is not ES256's.
    let err = keys.activate_next(&f.store, &f.master, SigningAlgorithm::ES256, t0()).unwrap_err();
    assert!(matches!(err, SigningError::NoNextKey), "{err}");

    assert_eq!(keys.activate_next(&f.store, &f.master, SigningAlgorithm::EdDSA, t0()).unwrap(), next);
    assert_eq!(keys.current_kid_of(SigningAlgorithm::EdDSA), next);
    assert_eq!((keys.algorithm(), keys.current_kid()), (SigningAlgorithm::ES256, access_kid));
    let currents: Vec<String> =
        rows(&f).into_iter().filter(|r| r.state == STATE_CURRENT).map(|r| r.algorithm).collect();
    assert_eq!(currents.len(), 3, "one current key per algorithm: {currents:?}");
}

#[test]
fn a_next_key_this_instance_cannot_open_is_not_activated() {
    let f = fixture();
    let keys = create(&f, SigningAlgorithm::ES256);
    let old = keys.current_kid();
    // Prepared by an instance configured with another master key.
    let row = new_row(&master(9), SigningAlgorithm::ES256, STATE_NEXT, t0()).unwrap();
    f.store.run_blocking(|c| db::insert_if_state_free(c, &row)).unwrap();
    let err = keys.activate_next(&f.store, &f.master, SigningAlgorithm::ES256, t0()).unwrap_err();
    assert!(matches!(err, SigningError::Decrypt(_)), "{err}");
    keys.reload(&f.store, &f.master).unwrap();
    assert_eq!(keys.current_kid(), old);
}

/// Claims that outlive every retention below: only the key can refuse them.
fn long_lived_claims(now: i64) -> AccessTokenClaims {
    AccessTokenClaims { exp: now + Duration::days(30).num_seconds(), ..claims_at(now) }
}

#[test]
fn a_retired_key_verifies_only_within_the_retention() {
    let f = fixture();
    let keys = create(&f, SigningAlgorithm::ES256);
    let old_token = keys.sign_access_token(&long_lived_claims(t0().timestamp())).unwrap();
    keys.prepare_next(&f.store, &f.master, SigningAlgorithm::ES256, t0()).unwrap();
    let retired_at = t0() + Duration::days(1);
    keys.activate_next(&f.store, &f.master, SigningAlgorithm::ES256, retired_at).unwrap();
    let new_token = keys.sign_access_token(&long_lived_claims(retired_at.timestamp())).unwrap();
    let verify = |token: &str, at: DateTime<Utc>| keys.verify_access_token(token, ISS, Some(API), at.timestamp());

    // By default an hour and 5 minutes, the JWKS's default window.
    let default = Duration::minutes(65);
    assert!(verify(&old_token, retired_at + default - Duration::seconds(1)).is_ok());
    assert_eq!(verify(&old_token, retired_at + default), Err(VerifyError::UnknownKey));

    let keep = Duration::hours(2);
    keys.set_retired_retention(keep);
    assert!(verify(&old_token, retired_at + keep - Duration::seconds(1)).is_ok());
    assert_eq!(verify(&old_token, retired_at + keep), Err(VerifyError::UnknownKey));
    // A key verifies exactly as long as the JWKS publishes it.
    assert_eq!(kids(&keys.jwks(retired_at + keep - Duration::seconds(1), keep), SigningAlgorithm::ES256).len(), 2);
    assert_eq!(kids(&keys.jwks(retired_at + keep, keep), SigningAlgorithm::ES256), [keys.current_kid()]);

    // Negative counts as zero; the current key is never refused for age.
    keys.set_retired_retention(Duration::seconds(-5));
    assert_eq!(verify(&old_token, retired_at), Err(VerifyError::UnknownKey));
    assert!(verify(&new_token, retired_at + Duration::days(29)).is_ok());
}

/// On PostgreSQL too when TEST_DATABASE_URL is set.
#[test]
fn pruning_deletes_only_retired_keys_past_the_retention() {
    let db = SharedDb::new();
    let store = db.store();
    store.migrate().unwrap();
    let (master, alg, keep) = (master(1), SigningAlgorithm::EdDSA, Duration::hours(1));
    let keys = SigningKeys::load_or_create(&store, &master, alg, t0()).unwrap();
    let other = SigningKeys::load_or_create(&db.store(), &master, alg, t0()).unwrap();
    let a = keys.current_kid();
    let a_token = keys.sign_access_token(&long_lived_claims(t0().timestamp())).unwrap();
    // a retired at t1, b at t2; c signs, d is next.
    let (t1, t2) = (t0() + Duration::days(1), t0() + Duration::days(2));
    let b = keys.prepare_next(&store, &master, alg, t0()).unwrap();
    keys.activate_next(&store, &master, alg, t1).unwrap();
    let c = keys.prepare_next(&store, &master, alg, t1).unwrap();
    keys.activate_next(&store, &master, alg, t2).unwrap();
    let d = keys.prepare_next(&store, &master, alg, t2).unwrap();
    let stored = || {
        let rows = store.run_blocking(db::list_keys).unwrap().into_iter().filter(|r| r.algorithm == alg.as_str());
        let mut kids: Vec<String> = rows.map(|r| r.kid).collect();
        kids.sort();
        kids
    };
    let sorted = |mut kids: Vec<String>| {
        kids.sort();
        kids
    };
    let forever = Duration::days(3650);

    assert_eq!(keys.prune_retired(&store, t1 + keep - Duration::seconds(1), keep).unwrap(), 0);
    assert_eq!(stored(), sorted(vec![a.clone(), b.clone(), c.clone(), d.clone()]));
    assert_eq!(keys.prune_retired(&store, t1 + keep, keep).unwrap(), 1);
    assert_eq!(stored(), sorted(vec![b.clone(), c.clone(), d.clone()]));
    // Gone from memory as well: not published, not verifying, whatever the windows say.
    keys.set_retired_retention(forever);
    assert_eq!(kids(&keys.jwks(t1 + keep, forever), alg), [c.clone(), d.clone(), b.clone()]);
    let now = (t1 + keep).timestamp();
    assert_eq!(keys.verify_access_token(&a_token, ISS, Some(API), now), Err(VerifyError::UnknownKey));
    // Another instance forgets it when it reloads.
    other.reload(&db.store(), &master).unwrap();
    assert_eq!(kids(&other.jwks(t1 + keep, forever), alg), [c.clone(), d.clone(), b]);

    // Current and next keys are kept whatever the retention.
    let late = t2 + forever;
    assert_eq!(keys.prune_retired(&store, late, Duration::zero()).unwrap(), 1);
    assert_eq!(keys.prune_retired(&store, late, Duration::zero()).unwrap(), 0);
    assert_eq!(stored(), sorted(vec![c.clone(), d.clone()]));
    assert_eq!(kids(&keys.jwks(late, Duration::zero()), alg), [c, d]);
    let token = keys.sign_access_token(&claims_at(late.timestamp())).unwrap();
    assert!(keys.verify_access_token(&token, ISS, Some(API), late.timestamp()).is_ok());
    // A window longer than the calendar prunes nothing, and does not panic.
    assert_eq!(keys.prune_retired(&store, late, Duration::MAX).unwrap(), 0);
    assert_eq!(kids(&keys.jwks(late, Duration::MAX), alg).len(), 2);
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
        Store::open(
            self.url.clone(),
            &PoolSettings { size: 2, timeout: std::time::Duration::from_secs(10), ..PoolSettings::default() },
        )
        .unwrap()
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn);
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
        let es256 = rows.into_iter().filter(|r| r.algorithm == SigningAlgorithm::ES256.as_str());
        es256.filter(|r| r.state == state).map(|r| r.kid).collect::<Vec<_>>()
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
            matches!(
                refused,
                SigningError::NextAlreadyPrepared(_)
                    | SigningError::Store(StoreError::Conflict(_) | StoreError::Busy(_))
            ),
            "{refused}"
        );
    }

    let activated = all_at_once(&stores, |store| {
        let keys = SigningKeys::load_or_create(store, &master, SigningAlgorithm::ES256, t0()).unwrap();
        keys.activate_next(store, &master, SigningAlgorithm::ES256, t0()).map_err(|e| e.to_string())
    });
    assert_eq!(states(STATE_CURRENT), next);
    assert_eq!(states(STATE_RETIRED), first);
    // Late callers find no next key left; nobody activates anything else.
    assert!(activated.iter().all(|r| *r == Ok(next[0].clone()) || r.as_deref().is_err_and(|e| e.contains("no next"))));
    for keys in &instances {
        keys.reload(&stores[0], &master).unwrap();
        assert_eq!(keys.current_kid(), next[0]);
    }
}
