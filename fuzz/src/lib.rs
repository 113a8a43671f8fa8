//! The fixture the protocol targets share: a real portcullis (`build_state`,
//! `http::routes`, the middleware) over SQLite in a temporary directory,
//! one organization, a confidential and a public client, built once per
//! fuzzing process. Requests go through actix's test service: the same
//! handlers, extractors and domain code as a running server, no socket.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::middleware::from_fn;
use actix_web::rt::System;
use actix_web::{App, test, web};
use chrono::{TimeZone, Utc};
use portcullis::accounts::roles::Role;
use portcullis::clock::ManualClock;
use portcullis::config::Config;
use portcullis::http::AppState;
use portcullis::oauth::clients::{Client, ClientType, GrantType, NewClient, OidcRegistration};

/// The confidential client's redirect URI.
pub const CONFIDENTIAL_REDIRECT: &str = "https://app.example/cb";
/// The public (native) client's: any port on loopback (RFC 8252 §7.3).
pub const PUBLIC_REDIRECTS: [&str; 2] = ["http://127.0.0.1/native", "com.example.app:/cb"];
pub const ISSUER: &str = "http://127.0.0.1:8080";

type Call = dyn Fn(actix_http::Request) -> Pin<Box<dyn Future<Output = ServiceResponse<BoxBody>>>>;

/// What a request got back.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: web::Bytes,
}

impl Answer {
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
}

pub struct World {
    pub state: web::Data<AppState>,
    pub confidential: Client,
    pub confidential_secret: String,
    pub public: Client,
    /// The clock's fixed time, in unix seconds.
    pub now: i64,
    system: actix_web::rt::SystemRunner,
    call: Rc<Call>,
}

static DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_dir() {
    if let Some(dir) = DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

thread_local! {
    /// Never dropped: libFuzzer may still run inputs while thread-locals
    /// are destroyed at exit, and the files go with `remove_dir`.
    static WORLD: &'static World = Box::leak(Box::new(World::build()));
}

/// Runs `f` with the process' world (built on first use).
pub fn with_world<R>(f: impl FnOnce(&World) -> R) -> R {
    WORLD.with(|world| f(world))
}

impl World {
    fn build() -> Self {
        let dir = std::env::temp_dir().join(format!("portcullis-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fixture directory");
        DIR.set(dir.clone()).expect("one world per process");
        // SAFETY: registers a plain function, called once at exit.
        unsafe { libc::atexit(remove_dir) };
        let config = Config {
            issuer: ISSUER.into(),
            data_dir: dir.clone(),
            database_url: format!("sqlite://{}", dir.join("portcullis.db").display()),
            master_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
            workers: Some(1),
            pool_size: 2,
            ..Config::default()
        };
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().expect("a valid time");
        let clock = Arc::new(ManualClock::new(start));
        let system = System::new();
        let (state, confidential, confidential_secret, public, call) = system.block_on(async {
            let state = portcullis::build_state(config, clock).expect("state");
            let (_, org, _) = state
                .accounts
                .create_user("owner@fuzz.example", "correct horse battery staple", "Fuzz Org", Role::Owner)
                .await
                .expect("user");
            let new = |client_type, redirect_uris: Vec<String>, grant_types: Vec<GrantType>| NewClient {
                organization_id: org.id.clone(),
                name: "Fuzzed App".into(),
                client_type,
                redirect_uris,
                grant_types: grant_types.into_iter().collect(),
                scopes: ["openid", "profile", "email", "read", "write", "offline_access"].map(String::from).to_vec(),
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
            };
            let (confidential, secret) = state
                .oauth
                .clients
                .create(new(ClientType::Confidential, vec![CONFIDENTIAL_REDIRECT.into()], GrantType::ALL.to_vec()))
                .await
                .expect("confidential client");
            let (public, _) = state
                .oauth
                .clients
                .create(new(
                    ClientType::Public,
                    PUBLIC_REDIRECTS.map(String::from).to_vec(),
                    vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                ))
                .await
                .expect("public client");
            let config = state.config.clone();
            let app = App::new()
                .app_data(state.clone())
                .wrap(portcullis::http::middleware::security_headers(false))
                .wrap(from_fn(portcullis::http::middleware::request_context))
                .configure(|cfg| portcullis::http::routes(cfg, &config));
            let service = Rc::new(test::init_service(app).await);
            let call: Rc<Call> = Rc::new(move |req| {
                let service = service.clone();
                Box::pin(async move { test::call_service(&*service, req).await.map_into_boxed_body() })
            });
            (state, confidential, secret.expect("a confidential client has a secret"), public, call)
        });
        let now = start.timestamp();
        Self { state, confidential, confidential_secret, public, now, system, call }
    }

    /// Sends a request through the app.
    pub fn send(&self, req: test::TestRequest) -> Answer {
        let call = self.call.clone();
        self.system.block_on(async move {
            let res = call(req.to_request()).await;
            let (status, headers) = (res.status(), res.headers().clone());
            let body = test::read_body(res).await;
            Answer { status, headers, body }
        })
    }

    /// Runs a future on the world's runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.system.block_on(f)
    }
}

/// The `error` codes of RFC 6749 §5.2 and §4.1.2.1, RFC 7009, OIDC Core
/// §3.1.2.6 and RFC 6750 that an OAuth error response may carry.
pub const ERROR_CODES: [&str; 17] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
    "unsupported_response_type",
    "server_error",
    "temporarily_unavailable",
    "unsupported_token_type",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "request_not_supported",
    "request_uri_not_supported",
];
