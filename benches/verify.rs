//! Hot paths, measured through the library on a real SQLite database in a
//! temp dir: API-key format check, API-key verification (and the parts it is
//! made of: the hop to the blocking pool, the checkout, the query),
//! access-token signing and verification per algorithm, client
//! authentication from the cache, the whole client-credentials grant, and
//! the bare crypto library underneath (aws-lc-rs). Optionally the API-key group again on
//! PostgreSQL (`PORTCULLIS_BENCH_POSTGRES_URL`, an empty database).
//! Run: `cargo bench --bench verify`. Results and how to read them: BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::accounts::Role;
use portcullis::apikeys::{Environment, KeyKind, NewApiKey, format};
use portcullis::clock::SystemClock;
use portcullis::config::{Config, OAuthConfig};
use portcullis::http::AppState;
use portcullis::oauth::clients::{Client, ClientCredentials, ClientType, GrantType, NewClient, OidcRegistration};
use portcullis::oauth::grants::client_credentials;
use portcullis::tokens::signing::AccessTokenClaims;

const PASSWORD: &str = "bench password 1234";

/// A fresh app state on its own SQLite file (or on the PostgreSQL database
/// given). The runtime drives the async domain functions with `block_on`
/// (criterion's async support is off).
struct Fixture {
    state: actix_web::web::Data<AppState>,
    rt: tokio::runtime::Runtime,
    // Dropped last: the database lives in it.
    _dir: tempfile::TempDir,
}

fn fixture(algorithm: &str, database_url: Option<String>) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config {
        database_url: database_url.unwrap_or_else(|| format!("sqlite://{}/b.db", dir.path().display())),
        data_dir: dir.path().to_owned(),
        oauth: OAuthConfig { signing_algorithm: algorithm.into(), ..OAuthConfig::default() },
        ..Config::default()
    };
    let state = portcullis::build_state(config, Arc::new(SystemClock)).expect("build state");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    Fixture { state, rt, _dir: dir }
}

fn claims(f: &Fixture) -> AccessTokenClaims {
    let now = chrono::Utc::now().timestamp();
    let issuer = f.state.config.issuer().to_owned();
    AccessTokenClaims {
        iss: issuer.clone(),
        sub: "pc_bench".into(),
        aud: vec![issuer],
        exp: now + 3600,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: "pc_bench".into(),
        scope: "read write".into(),
        org_id: None,
        secret_id: None,
    }
}

/// A confidential client-credentials client of a new organization, and its secret.
fn machine_client(f: &Fixture) -> (Client, String) {
    let state = &f.state;
    let (_, org, _) =
        f.rt.block_on(state.accounts.create_user("cc@example.com", PASSWORD, "Machines", Role::Owner)).expect("user");
    let (client, secret) =
        f.rt.block_on(state.oauth.clients.create(NewClient {
            organization_id: org.id,
            name: "bench".into(),
            client_type: ClientType::Confidential,
            redirect_uris: vec![],
            grant_types: [GrantType::ClientCredentials].into_iter().collect(),
            scopes: vec!["read".into()],
            homepage_url: None,
            logo_url: None,
            access_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            always_issue_refresh_token: false,
            resource_server: false,
            management: false,
            require_pkce: true,
            created_by: None,
            oidc: OidcRegistration::default(),
        }))
        .expect("client");
    (client, secret.expect("a confidential client has a secret"))
}

fn api_keys(c: &mut Criterion) {
    api_key_group(c, "api_key", &fixture("ES256", None));
    // Optional, the same on PostgreSQL: an empty database made for the run, e.g.
    // PORTCULLIS_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/portcullis_bench
    if let Some(url) = std::env::var("PORTCULLIS_BENCH_POSTGRES_URL").ok().filter(|u| !u.is_empty()) {
        api_key_group(c, "api_key_postgres", &fixture("ES256", Some(url)));
    }
}

fn api_key_group(c: &mut Criterion, group: &str, f: &Fixture) {
    let state = &f.state;
    // Unique names: a PostgreSQL database may be reused between runs.
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (user, org, _) =
        f.rt.block_on(state.accounts.create_user(&format!("{tag}@example.com"), PASSWORD, &tag, Role::Owner))
            .expect("user");
    let (_, key) =
        f.rt.block_on(state.api_keys.create(NewApiKey {
            organization_id: org.id,
            created_by: Some(user.id),
            name: "bench".into(),
            kind: KeyKind::Secret,
            environment: Environment::Live,
            scopes: vec!["read".into()],
            expires_at: None,
            rate_limit_per_minute: None,
            made_by_key: None,
            made_by_app: None,
            made_by_secret: None,
        }))
        .expect("key");
    // One character of the random part changed: the checksum no longer matches.
    let mut typo = key.clone().into_bytes();
    let i = key.len() - 12;
    typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    let words = state.api_keys.words().clone();
    assert!(format::parse(&words, &key).is_some() && format::parse(&words, &typo).is_none());
    assert!(f.rt.block_on(state.api_keys.verify(&key)).expect("store").is_ok());
    let digest = portcullis::tokens::opaque::digest(&key);

    let mut g = c.benchmark_group(group);
    if group == "api_key" {
        // No I/O: the same on every backend.
        g.bench_function("format_check/valid", |b| b.iter(|| format::parse(&words, black_box(&key)).is_some()));
        g.bench_function("format_check/mistyped", |b| b.iter(|| format::parse(&words, black_box(&typo)).is_none()));
        g.bench_function("verify/mistyped", |b| {
            b.iter(|| f.rt.block_on(state.api_keys.verify(black_box(&typo))).expect("store").is_err())
        });
    }
    g.bench_function("verify", |b| {
        b.iter(|| f.rt.block_on(state.api_keys.verify(black_box(&key))).expect("store").is_ok())
    });
    // What `verify` is made of, to read it against:
    // the lookup through `Store::run` (blocking pool, checkout, query),
    g.bench_function("lookup_query", |b| {
        b.iter(|| {
            let d = digest.clone();
            f.rt.block_on(state.store.run(move |conn| portcullis::store::api_keys::find_for_verification(conn, &d)))
                .expect("store")
                .is_some()
        })
    });
    // the same on this thread (checkout and query, no hop),
    g.bench_function("lookup_query_blocking", |b| {
        b.iter(|| {
            state
                .store
                .run_blocking(|conn| portcullis::store::api_keys::find_for_verification(conn, black_box(&digest)))
                .expect("store")
                .is_some()
        })
    });
    // the hop to the blocking pool with a checkout and no query,
    g.bench_function("store_round_trip_no_query", |b| {
        b.iter(|| f.rt.block_on(state.store.run(|_| Ok(black_box(1)))).expect("store"))
    });
    // and the checkout alone, on this thread (r2d2 tests the connection on
    // every checkout unless told not to).
    g.bench_function("store_checkout_blocking", |b| {
        b.iter(|| state.store.run_blocking(|_| Ok(black_box(1))).expect("store"))
    });
    g.finish();
}

/// What the crypto library costs alone, on a token-sized message: the floor
/// under `access_token/*` (aws-lc-rs, with keys parsed once as the server does).
fn crypto_floor(c: &mut Criterion) {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as sig, KeyPair};
    let message = [b'x'; 320];
    let rng = SystemRandom::new();
    let mut g = c.benchmark_group("crypto_floor");

    let es = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("p256 key");
    let es_sig = es.sign(&rng, &message).expect("sign");
    let es_pub = sig::ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, es.public_key().as_ref()).expect("key");
    g.bench_function("p256_sign", |b| b.iter(|| es.sign(&rng, black_box(&message)).expect("sign")));
    g.bench_function("p256_verify", |b| b.iter(|| es_pub.verify_sig(black_box(&message), es_sig.as_ref()).is_ok()));

    let ed = sig::Ed25519KeyPair::generate().expect("ed25519 key");
    let ed_sig = ed.sign(&message);
    let ed_pub = sig::ParsedPublicKey::new(&sig::ED25519, ed.public_key().as_ref()).expect("key");
    g.bench_function("ed25519_sign", |b| b.iter(|| ed.sign(black_box(&message))));
    g.bench_function("ed25519_verify", |b| b.iter(|| ed_pub.verify_sig(black_box(&message), ed_sig.as_ref()).is_ok()));

    let rs = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa key");
    let mut rs_sig = vec![0; rs.public_modulus_len()];
    rs.sign(&sig::RSA_PKCS1_SHA256, &rng, &message, &mut rs_sig).expect("sign");
    let rs_pub = sig::ParsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, rs.public_key().as_ref()).expect("key");
    g.bench_function("rsa2048_sign", |b| {
        b.iter(|| {
            let mut out = vec![0; rs.public_modulus_len()];
            rs.sign(&sig::RSA_PKCS1_SHA256, &rng, black_box(&message), &mut out).expect("sign");
            out
        })
    });
    g.bench_function("rsa2048_verify", |b| b.iter(|| rs_pub.verify_sig(black_box(&message), &rs_sig).is_ok()));
    g.finish();
}

fn tokens(c: &mut Criterion) {
    for alg in ["ES256", "EdDSA", "RS256"] {
        let f = fixture(alg, None);
        let keys = &f.state.oauth.keys;
        let claims = claims(&f);
        let token = keys.sign_access_token(&claims).expect("sign");
        let issuer = f.state.config.issuer().to_owned();
        let now = chrono::Utc::now().timestamp();
        assert!(keys.verify_access_token(&token, &issuer, Some(&issuer), now).is_ok());

        let mut g = c.benchmark_group("access_token");
        g.bench_function(format!("sign/{alg}"), |b| {
            b.iter(|| keys.sign_access_token(black_box(&claims)).expect("sign"))
        });
        g.bench_function(format!("verify/{alg}"), |b| {
            b.iter(|| keys.verify_access_token(black_box(&token), &issuer, Some(&issuer), now).expect("verify"))
        });
        g.finish();

        let (client, secret) = machine_client(&f);
        let credentials = ClientCredentials::Basic { client_id: client.client_id.clone(), secret };
        // Warm the client cache as the first request of a running server would.
        f.rt.block_on(f.state.oauth.clients.authenticate(&credentials)).expect("authenticate");
        let mut g = c.benchmark_group("client_credentials");
        if alg == "ES256" {
            // Independent of the algorithm: measured once.
            g.bench_function("authenticate_cached", |b| {
                b.iter(|| f.rt.block_on(f.state.oauth.clients.authenticate(black_box(&credentials))).expect("auth"))
            });
        }
        g.bench_function(format!("grant/{alg}"), |b| {
            b.iter(|| client_credentials::grant(&f.state.oauth, black_box(&client), None, Some("read")).expect("grant"))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // Modest on purpose: the whole run takes about two minutes on 2 cores.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = api_keys, tokens, crypto_floor
}
criterion_main!(benches);
