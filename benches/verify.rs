//! Hot paths, measured through the library on a real SQLite database:
//! API-key format check, API-key verification, access-token signing and
//! verification per algorithm, the whole client-credentials grant.
//! Run: `cargo bench --bench verify`. Results: BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis::accounts::Role;
use portcullis::apikeys::{Environment, KeyKind, NewApiKey, format};
use portcullis::clock::SystemClock;
use portcullis::config::Config;
use portcullis::oauth::clients::{ClientType, GrantType, NewClient};
use portcullis::oauth::grants::client_credentials;
use portcullis::tokens::signing::AccessTokenClaims;

struct Fixture {
    _dir: tempfile::TempDir,
    state: actix_web::web::Data<portcullis::http::AppState>,
    rt: tokio::runtime::Runtime,
}

fn fixture(algorithm: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        database_url: format!("sqlite://{}", dir.path().join("b.db").display()),
        data_dir: dir.path().to_owned(),
        oauth: portcullis::config::OAuthConfig { signing_algorithm: algorithm.into(), ..Default::default() },
        ..Config::default()
    };
    let state = portcullis::build_state(config, Arc::new(SystemClock)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    Fixture { _dir: dir, state, rt }
}

fn claims(f: &Fixture) -> AccessTokenClaims {
    let now = chrono::Utc::now().timestamp();
    AccessTokenClaims {
        iss: f.state.config.issuer().to_owned(),
        sub: "client".into(),
        aud: vec![f.state.config.issuer().to_owned()],
        exp: now + 3600,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: "client".into(),
        scope: "read write".into(),
        org_id: None,
    }
}

fn api_keys(c: &mut Criterion) {
    let f = fixture("ES256");
    let (user, org, _) =
        f.rt.block_on(f.state.accounts.create_user("bench@example.com", "bench password 123", "Bench", Role::Owner))
            .unwrap();
    let (_, key) =
        f.rt.block_on(f.state.api_keys.create(NewApiKey {
            organization_id: org.id,
            created_by: Some(user.id),
            name: "bench".into(),
            kind: KeyKind::Secret,
            environment: Environment::Live,
            scopes: vec!["read".into()],
            expires_at: None,
            rate_limit_per_minute: None,
        }))
        .unwrap();
    let words = f.state.api_keys.words().clone();
    let mut typo = key.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    c.bench_function("api_key/format_check/valid", |b| b.iter(|| format::parse(&words, black_box(&key)).is_some()));
    c.bench_function("api_key/format_check/mistyped", |b| b.iter(|| format::parse(&words, black_box(&typo)).is_none()));
    c.bench_function("api_key/verify", |b| {
        b.iter(|| f.rt.block_on(f.state.api_keys.verify(black_box(&key))).unwrap().is_ok())
    });
}

fn tokens(c: &mut Criterion) {
    for alg in ["ES256", "EdDSA", "RS256"] {
        let f = fixture(alg);
        let claims = claims(&f);
        let token = f.state.oauth.keys.sign_access_token(&claims).unwrap();
        let issuer = f.state.config.issuer().to_owned();
        let now = chrono::Utc::now().timestamp();
        c.bench_function(&format!("access_token/sign/{alg}"), |b| {
            b.iter(|| f.state.oauth.keys.sign_access_token(black_box(&claims)).unwrap())
        });
        c.bench_function(&format!("access_token/verify/{alg}"), |b| {
            b.iter(|| f.state.oauth.keys.verify_access_token(black_box(&token), &issuer, Some(&issuer), now).unwrap())
        });
        if alg == "ES256" || alg == "EdDSA" {
            let (_, org, _) =
                f.rt.block_on(f.state.accounts.create_user("cc@example.com", "bench password 123", "CC", Role::Owner))
                    .unwrap();
            let (client, _) =
                f.rt.block_on(f.state.oauth.clients.create(NewClient {
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
                }))
                .unwrap();
            c.bench_function(&format!("client_credentials/grant/{alg}"), |b| {
                b.iter(|| client_credentials::grant(&f.state.oauth, black_box(&client), Some("read")).unwrap())
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(3));
    targets = api_keys, tokens
}
criterion_main!(benches);
