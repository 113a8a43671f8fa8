//! OpenID Connect Back-Channel Logout 1.0: when a browser session ends,
//! every client that received an ID token in it and registered a
//! `backchannel_logout_uri` gets a signed logout token, POSTed from the
//! background so that nobody's sign-out waits on a relying party.
//!
//! Delivery: `logout_token=<JWT>` as a form (§2.5), redirects not followed,
//! a connect and a total timeout, up to `ATTEMPTS` tries with a doubling
//! pause; 200 or 204 is success (§2.8). Failures are logged with the
//! client_id and the status, never the token. A production (https) server
//! posts only to public addresses (`crate::outbound`): a URI whose host is,
//! or resolves to, a private, loopback or link-local address is refused
//! before any connection, and not tried again.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::clients::{self, Client as OAuthClient};
use super::oidc::sid::SidKey;
use super::subject::{PairwiseKey, subject};
use crate::clock::Clock;
use crate::outbound::{self, NotPublic, PublicResolver};
use crate::store::Store;
use crate::store::oidc_logins::EndedSession;
use crate::tokens::signing::{SigningError, SigningKeys};

/// Back-Channel Logout §2.4: the `typ` of a logout token.
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";
/// Back-Channel Logout §2.4: the one member of `events`.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is good for: long enough for the retries.
const TOKEN_LIFETIME_SECS: i64 = 120;

/// The claims of a logout token (§2.4): no `nonce`, ever.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: serde_json::Value,
}

/// How hard delivery tries.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    pub attempts: u32,
    /// The pause after the first failure; doubled after each next one.
    pub first_pause: Duration,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            first_pause: Duration::from_millis(500),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Sends logout tokens. Cheap to clone.
#[derive(Clone)]
pub struct BackChannel {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    keys: Arc<SigningKeys>,
    pairwise: Arc<PairwiseKey>,
    sid: Arc<SidKey>,
    issuer: String,
    http: HttpClient,
    policy: DeliveryPolicy,
}

impl BackChannel {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        keys: Arc<SigningKeys>,
        pairwise: Arc<PairwiseKey>,
        sid: Arc<SidKey>,
        issuer: String,
        policy: DeliveryPolicy,
    ) -> anyhow::Result<Self> {
        let http = http_client(&policy, public_only(&issuer))?;
        Ok(Self { inner: Arc::new(Inner { store, clock, keys, pairwise, sid, issuer, http, policy }) })
    }

    /// A signed logout token for `client` about `session` (§2.4): the
    /// subject and the session's `sid` as that client knows them, signed
    /// with its ID-token algorithm.
    pub fn logout_token(&self, client: &OAuthClient, user_id: &str, session_id: &str) -> Result<String, SigningError> {
        let now = self.inner.clock.now().timestamp();
        let claims = LogoutTokenClaims {
            iss: self.inner.issuer.clone(),
            aud: client.client_id.clone(),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
            jti: uuid::Uuid::new_v4().to_string(),
            sub: subject(client, user_id, &self.inner.pairwise),
            sid: self.inner.sid.sid(session_id, &client.client_id),
            events: json!({ LOGOUT_EVENT: {} }),
        };
        self.inner.keys.sign_jwt(client.id_token_alg, LOGOUT_TOKEN_TYPE, &claims)
    }

    /// Tells the clients of each ended session, in the background; returns
    /// at once. Needs a Tokio runtime (every session ends in a request).
    pub fn notify(&self, ended: Vec<EndedSession>) {
        for session in ended {
            for client_id in session.client_ids {
                let (this, user_id, session_id) = (self.clone(), session.user_id.clone(), session.session_id.clone());
                tokio::spawn(async move { this.deliver(&client_id, &user_id, &session_id).await });
            }
        }
    }

    /// Sends one client its logout token, with the bounded retries.
    /// Returns whether it was accepted.
    pub async fn deliver(&self, client_id: &str, user_id: &str, session_id: &str) -> bool {
        self.deliver_to(client_id, user_id, session_id).await == Delivery::Delivered
    }

    /// `deliver`, saying what came of it: for a command that reports each
    /// app (the server only logs). Every failure is logged as well.
    pub async fn deliver_to(&self, client_id: &str, user_id: &str, session_id: &str) -> Delivery {
        let failed = |why: String| Delivery::Failed(why);
        let client = match clients::find_uncached(&self.inner.store, client_id).await {
            Ok(Some(c)) => c,
            // Deleted since: nobody to tell.
            Ok(None) => return Delivery::NoBackChannel,
            Err(e) => {
                tracing::warn!(client_id, cause = %e, "back-channel logout: could not load the client");
                return failed(format!("could not load the app: {e}"));
            }
        };
        let Some(uri) = client.backchannel_logout_uri.as_deref() else { return Delivery::NoBackChannel };
        let Ok(uri) = url::Url::parse(uri) else {
            tracing::warn!(client_id, "back-channel logout: the registered URI is not a URI");
            return failed("the registered back-channel logout URI is not a URI".into());
        };
        // Registration lets http through for loopback hosts, for development;
        // a production (https) server posts nothing to its own host's ports.
        let public_only = public_only(&self.inner.issuer);
        if uri.scheme() == "http" && public_only {
            tracing::warn!(client_id, "back-channel logout: an http URI is used only by an http (development) issuer");
            return failed("an http back-channel URI is used only by an http (development) issuer".into());
        }
        // An IP literal never reaches the resolver that checks names.
        if let Some(refused) = refused_literal(&uri).filter(|_| public_only) {
            warn_not_public(client_id, &refused);
            return failed(not_public(&refused));
        }
        let token = match self.logout_token(&client, user_id, session_id) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(client_id, cause = %e, "back-channel logout: signing the logout token failed");
                return failed(format!("signing the logout token failed: {e}"));
            }
        };
        let body: String =
            url::form_urlencoded::Serializer::new(String::new()).append_pair("logout_token", &token).finish();
        let policy = self.inner.policy;
        let mut pause = policy.first_pause;
        let mut last = String::new();
        for attempt in 1..=policy.attempts {
            // The URI as parsed, which is what was checked.
            match self.post(uri.as_str(), &body).await {
                Ok(200 | 204) => {
                    tracing::info!(client_id, attempt, "back-channel logout delivered");
                    return Delivery::Delivered;
                }
                Ok(status) => {
                    tracing::warn!(client_id, attempt, status, "back-channel logout refused");
                    last = format!("answered {status}");
                }
                // Another try would resolve to the same place.
                Err(NotSent::NotPublic(refused)) => {
                    warn_not_public(client_id, &refused);
                    return failed(not_public(&refused));
                }
                // The cause names the connection, not the body: no token in the log.
                Err(NotSent::Failed(cause)) => {
                    tracing::warn!(client_id, attempt, %cause, "back-channel logout not delivered");
                    last = format!("not delivered: {cause}");
                }
            }
            if attempt < policy.attempts {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        tracing::error!(client_id, attempts = policy.attempts, "back-channel logout gave up");
        failed(format!("{last} ({} attempts, {uri})", policy.attempts))
    }

    /// One POST; its status, or why there is none. The connector's timeout
    /// bounds the connection, this one the whole exchange.
    async fn post(&self, uri: &str, body: &str) -> Result<u16, NotSent> {
        let request = hyper::Request::post(uri)
            .header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(hyper::header::USER_AGENT, concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| NotSent::Failed(e.to_string()))?;
        match tokio::time::timeout(self.inner.policy.timeout, self.inner.http.request(request)).await {
            Ok(Ok(response)) => Ok(response.status().as_u16()),
            Ok(Err(e)) => match NotPublic::among_causes(&e) {
                Some(refused) => Err(NotSent::NotPublic(refused.clone())),
                None => Err(NotSent::Failed(causes(&e))),
            },
            Err(_) => Err(NotSent::Failed(format!("no answer within {:?}", self.inner.policy.timeout))),
        }
    }
}

/// Why a POST got no status.
enum NotSent {
    /// The host resolved to an address a production server posts nothing to.
    NotPublic(NotPublic),
    Failed(String),
}

/// A production (https) issuer posts only to public addresses; a
/// development (http) one to the relying parties on its own machine too.
fn public_only(issuer: &str) -> bool {
    issuer.starts_with("https:")
}

/// The refusal of a URI whose host is an IP literal that is not public.
fn refused_literal(uri: &url::Url) -> Option<NotPublic> {
    let address = match uri.host()? {
        url::Host::Ipv4(ip) => ip.into(),
        url::Host::Ipv6(ip) => ip.into(),
        url::Host::Domain(_) => return None,
    };
    let host = uri.host_str().unwrap_or_default().to_owned();
    (!outbound::is_public(address)).then_some(NotPublic { host, address })
}

/// What came of telling one app that a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The app registered no back-channel logout URI, or is gone: there is
    /// nobody to tell, and nothing failed.
    NoBackChannel,
    /// Why it was not delivered (never the token).
    Failed(String),
}

fn not_public(refused: &NotPublic) -> String {
    format!(
        "the host {} is {}, not a public address, and an https server posts only to public ones",
        refused.host, refused.address
    )
}

fn warn_not_public(client_id: &str, refused: &NotPublic) {
    tracing::warn!(
        client_id,
        host = %refused.host,
        address = %refused.address,
        "back-channel logout not sent: the host is not a public address, and an https server posts only to public ones"
    );
}

/// An error with its causes: hyper-util's own message alone says little
/// ("client error (Connect)").
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

type HttpClient = Client<HttpsConnector<HttpConnector<PublicResolver>>, Full<Bytes>>;

/// hyper-util's client: it never follows a redirect (Back-Channel Logout
/// §2.8 asks for none, and one would send the token somewhere never
/// registered), and hyper is already in the tree. When `public_only`, its
/// resolver refuses names that resolve to addresses that are not public.
fn http_client(policy: &DeliveryPolicy, public_only: bool) -> anyhow::Result<HttpClient> {
    let mut tcp = HttpConnector::new_with_resolver(PublicResolver::new(public_only));
    tcp.enforce_http(false);
    tcp.set_connect_timeout(Some(policy.connect_timeout));
    let connector =
        HttpsConnectorBuilder::new().with_tls_config(tls_config()?).https_or_http().enable_http1().wrap_connector(tcp);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// TLS for delivery: rustls with the aws-lc-rs provider and the Mozilla
/// roots (webpki-roots), so nothing depends on the host's certificate store.
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
