//! Registered apps (OAuth clients): registration, secret rotation, client
//! authentication, and an in-memory cache that every instance empties when
//! the change log says a client changed.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use super::error::OAuthError;
use super::redirect;
use super::scopes::{self, ScopeRegistry, ScopeSet};
use crate::apikeys::MadeThrough;
use crate::cache::Cache;
use crate::changes::{Change, Changes};
use crate::clock::Clock;
use crate::config::CacheConfig;
use crate::outbound;
use crate::problem::{self, Link, Problem};
use crate::store::clients::{self as rows, ClientRow, ClientSecretRow};
use crate::store::{self, Store, StoreError};
use crate::tokens::opaque;
use crate::tokens::signing::SigningAlgorithm;

const TOPIC: &str = "client";

/// The longest access-token lifetime an app may set: a day. RFC 9700 §2.2
/// favours short-lived access tokens, and a retired signing key stays
/// published as long as the longest of them lives, so `RotationPolicy`
/// clamps each stored lifetime (rows older than this bound too) to it.
pub const MAX_ACCESS_TOKEN_TTL_SECS: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

impl FromStr for ClientType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            other => Err(format!("unknown client type {other:?}: use confidential or public")),
        }
    }
}

impl fmt::Display for ClientType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [Self::AuthorizationCode, Self::ClientCredentials, Self::RefreshToken];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
        }
    }
}

impl FromStr for GrantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| {
            format!("unknown grant type {s:?}: use authorization_code, client_credentials or refresh_token")
        })
    }
}

/// How the `sub` of a user's ID tokens is chosen for a client (OIDC Core §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectType {
    /// The user's id, the same for every client.
    #[default]
    Public,
    /// A different, unlinkable `sub` per sector identifier (see `subject`).
    Pairwise,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }
}

impl FromStr for SubjectType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(Self::Public),
            "pairwise" => Ok(Self::Pairwise),
            other => Err(format!("unknown subject_type {other:?}: use public or pairwise")),
        }
    }
}

/// A client secret's digest and, once rotated out, when it stops working.
#[derive(Debug, Clone)]
pub struct SecretDigest {
    /// The secret's row id: an app's own tokens carry it (`secret_id`).
    pub id: String,
    pub digest: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Client {
    pub pk: String,
    pub client_id: String,
    pub organization_id: String,
    pub organization_name: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub grant_types: BTreeSet<GrantType>,
    pub scopes: ScopeSet,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_token_ttl_secs: Option<i64>,
    pub always_issue_refresh_token: bool,
    pub resource_server: bool,
    /// Its client-credentials tokens may call the /v1 management API, acting
    /// with its creator's current role (set by an ADMIN or OWNER only).
    pub management: bool,
    /// PKCE S256 on the code flow (OAuth 2.1); only a legacy confidential
    /// client may be exempted.
    pub require_pkce: bool,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Its own (client-credentials) access tokens issued at or before this
    /// second are dead: set when its secret is rotated without grace, when
    /// another member takes it over, when management is turned on.
    pub tokens_valid_after: Option<DateTime<Utc>>,
    /// The API key it was registered through: it ends with that key.
    pub made_by_key: Option<String>,
    /// The management app whose token registered it: it ends with that app.
    pub made_by_app: Option<String>,
    /// From then on the app is unknown (`Clients::get`): its maker key's end.
    pub ends_at: Option<DateTime<Utc>>,
    /// Where RP-initiated logout may send the browser, matched exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where back-channel logout tokens are POSTed.
    pub backchannel_logout_uri: Option<String>,
    pub subject_type: SubjectType,
    /// The host pairwise subjects are computed for (pairwise clients only).
    pub sector_identifier: Option<String>,
    /// `id_token_signed_response_alg`: RS256 unless the client asked otherwise.
    pub id_token_alg: SigningAlgorithm,
    secrets: Vec<SecretDigest>,
    /// Registered through a key, or by a management app, whose creator is
    /// disabled: the key or machine acts as if unknown while that lasts,
    /// and so does the app (attacker round 11, finding 8; round 12,
    /// finding 4).
    maker_disabled: bool,
}

/// The client_id of portcullis's own dashboard sessions (/v1/auth/login).
pub const DASHBOARD_CLIENT_ID: &str = "portcullis-dashboard";

impl Client {
    /// True when an access token this client got for itself (client
    /// credentials) is from before its cut-off: dead. When it was made comes
    /// from its `jti`, to the millisecond (`service::issued_instant`).
    pub fn own_token_cut_off(&self, iat: i64, jti: &str) -> bool {
        let Some(cut) = self.tokens_valid_after else { return false };
        // Both to the millisecond: a token made in the cut-off's own
        // millisecond, after it, lives.
        let cut = crate::oauth::revocation::tokens_revoked_at(cut);
        super::service::issued_instant(jti, iat).is_none_or(|issued| issued < cut)
    }

    /// The dashboard's own client: in memory only, public, refresh grant,
    /// the management scopes. Its tokens act within the user's role.
    pub fn dashboard(access_token_ttl_secs: i64) -> Self {
        Self {
            pk: String::new(),
            client_id: DASHBOARD_CLIENT_ID.into(),
            organization_id: String::new(),
            organization_name: String::new(),
            name: "portcullis dashboard".into(),
            client_type: ClientType::Public,
            redirect_uris: Vec::new(),
            grant_types: [GrantType::RefreshToken].into_iter().collect(),
            scopes: ["read", "write", "delete", "admin", "webhook"].into_iter().map(String::from).collect(),
            homepage_url: None,
            logo_url: None,
            access_token_ttl_secs: Some(access_token_ttl_secs),
            refresh_token_ttl_secs: None,
            always_issue_refresh_token: true,
            resource_server: false,
            management: true,
            require_pkce: true,
            created_by: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            tokens_valid_after: None,
            made_by_key: None,
            made_by_app: None,
            ends_at: None,
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            subject_type: SubjectType::Public,
            sector_identifier: None,
            id_token_alg: SigningAlgorithm::RS256,
            secrets: Vec::new(),
            maker_disabled: false,
        }
    }

    /// Registered through a key, or by a management app, whose creator is
    /// disabled now: no token endpoint, authorization or live token for it
    /// until they are enabled (its tokens then live again, as the key does).
    pub fn maker_disabled(&self) -> bool {
        self.maker_disabled
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    pub fn is_public(&self) -> bool {
        self.client_type == ClientType::Public
    }

    /// True when `secret` matches a secret that is valid at `now`.
    pub fn secret_matches(&self, secret: &str, now: DateTime<Utc>) -> bool {
        self.matching_secret(secret, now).is_some()
    }

    /// The secret valid at `now` that `secret` matches. Every candidate is
    /// compared, in constant time, whatever the outcome.
    pub fn matching_secret(&self, secret: &str, now: DateTime<Utc>) -> Option<&SecretDigest> {
        let digest = opaque::digest(secret);
        self.secrets.iter().fold(None, |found, s| {
            let live = s.expires_at.is_none_or(|t| t > now);
            if opaque::constant_time_eq(&s.digest, &digest) && live { Some(s) } else { found }
        })
    }

    /// True when the secret `id` is one of the app's and valid at `now`:
    /// an own token issued under it lives no longer (a rotation without
    /// grace deletes it, a grace or the roll of the key it was issued
    /// through ends it).
    pub fn secret_live(&self, id: &str, now: DateTime<Utc>) -> bool {
        self.secrets.iter().any(|s| s.id == id && s.expires_at.is_none_or(|t| t > now))
    }
}

/// What an operator gives to register a client.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub organization_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub grant_types: BTreeSet<GrantType>,
    pub scopes: Vec<String>,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    pub access_token_ttl_secs: Option<i64>,
    pub refresh_token_ttl_secs: Option<i64>,
    pub always_issue_refresh_token: bool,
    pub resource_server: bool,
    pub management: bool,
    pub require_pkce: bool,
    pub created_by: Option<String>,
    pub oidc: OidcRegistration,
}

/// The OpenID Connect part of a registration (OIDC Registration §2,
/// RP-Initiated Logout §3.1, Back-Channel Logout §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRegistration {
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub subject_type: SubjectType,
    /// For a pairwise client: the host its subjects are computed for, one of
    /// its redirect URIs' hosts. Needed when they span several hosts; else
    /// their one host.
    pub sector_identifier: Option<String>,
    pub id_token_alg: SigningAlgorithm,
}

impl Default for OidcRegistration {
    fn default() -> Self {
        Self {
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            subject_type: SubjectType::Public,
            sector_identifier: None,
            // OIDC Core §3.1.3.7: RS256 unless the client registered another.
            id_token_alg: SigningAlgorithm::RS256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// What is wrong with the client asked for (see `crate::problem`).
    #[error("{0}")]
    Validation(Problem),
    #[error("no client with id {0}")]
    NotFound(String),
    /// The API key registering it was revoked, or expired, while it asked.
    #[error("the API key registering this app has ended")]
    MakerEnded,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ClientError {
    /// A problem the pages show in the domain's words ([`Problem::Other`]).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Validation(Problem::other(message))
    }
}

/// What `update` may change; `None` leaves a field as it is. For the
/// optional URLs, `Some(None)` clears them.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<BTreeSet<GrantType>>,
    pub scopes: Option<Vec<String>>,
    pub homepage_url: Option<Option<String>>,
    pub logo_url: Option<Option<String>>,
    pub management: Option<bool>,
    pub resource_server: Option<bool>,
    /// `Some(false)` exempts a legacy confidential client from PKCE.
    pub require_pkce: Option<bool>,
    /// The member the app acts for from now on: whoever last changed it,
    /// so that changing an app never hands out someone else's power.
    pub acting_for: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub backchannel_logout_uri: Option<Option<String>>,
    /// Fixed at registration: only the current value is accepted.
    pub subject_type: Option<SubjectType>,
    /// Fixed at registration: only the current value is accepted.
    pub sector_identifier: Option<Option<String>>,
    pub id_token_alg: Option<SigningAlgorithm>,
}

/// How a client presented itself at an endpoint that authenticates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `client_secret_basic` (RFC 6749 §2.3.1).
    Basic { client_id: String, secret: String },
    /// `client_secret_post`.
    Post { client_id: String, secret: String },
    /// A public client: client_id only.
    None { client_id: String },
}

impl ClientCredentials {
    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. } | Self::Post { client_id, .. } | Self::None { client_id } => client_id,
        }
    }
    pub fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

pub struct Clients {
    store: Store,
    clock: Arc<dyn Clock>,
    registry: Arc<ScopeRegistry>,
    /// Clients by id, as last read (none: every use reads the database).
    cache: Option<Arc<Cache<Client>>>,
    /// Whether back-channel logout URIs must name public hosts: under an
    /// https (production) issuer; see `crate::outbound`.
    public_targets_only: bool,
    /// `oauth.refresh_token_absolute_ttl_secs`: a refresh-token family ends
    /// then, so no app's idle lifetime may be longer.
    refresh_token_absolute_ttl_secs: i64,
    /// The change log, read back after a change that ends keys (what a
    /// management app made), so this instance's key cache knows at once.
    changes: Option<Arc<Changes>>,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

fn from_rows(
    row: ClientRow,
    org: store::models::OrganizationRow,
    secrets: Vec<ClientSecretRow>,
) -> Result<Client, StoreError> {
    let bad = |what: &str| StoreError::Other(format!("client {}: malformed {what}", row.client_id));
    let redirect_uris: Vec<String> = serde_json::from_str(&row.redirect_uris).map_err(|_| bad("redirect_uris"))?;
    // '' is the column's default: rows from before OIDC registration.
    let post_logout_redirect_uris: Vec<String> = match row.post_logout_redirect_uris.as_str() {
        "" => Vec::new(),
        json => serde_json::from_str(json).map_err(|_| bad("post_logout_redirect_uris"))?,
    };
    let grant_types = row
        .grant_types
        .split_whitespace()
        .map(GrantType::from_str)
        .collect::<Result<_, _>>()
        .map_err(|_| bad("grant_types"))?;
    Ok(Client {
        client_type: row.client_type.parse().map_err(|_| bad("client_type"))?,
        subject_type: row.subject_type.parse().map_err(|_| bad("subject_type"))?,
        id_token_alg: row.id_token_signed_response_alg.parse().map_err(|_| bad("id_token_signed_response_alg"))?,
        post_logout_redirect_uris,
        backchannel_logout_uri: row.backchannel_logout_uri,
        sector_identifier: row.sector_identifier,
        scopes: scopes::parse(&row.scopes).map_err(|_| bad("scopes"))?,
        pk: row.id,
        client_id: row.client_id,
        organization_id: row.organization_id,
        organization_name: org.name,
        name: row.name,
        redirect_uris,
        grant_types,
        homepage_url: row.homepage_url,
        logo_url: row.logo_url,
        // A row from before the bound issues tokens no longer than it.
        access_token_ttl_secs: row.access_token_ttl_secs.map(|s| i64::from(s).min(MAX_ACCESS_TOKEN_TTL_SECS)),
        refresh_token_ttl_secs: row.refresh_token_ttl_secs.map(i64::from),
        always_issue_refresh_token: row.always_issue_refresh_token,
        resource_server: row.resource_server,
        management: row.management,
        require_pkce: row.require_pkce,
        created_by: row.created_by,
        created_at: utc(row.created_at),
        tokens_valid_after: row.tokens_valid_after.map(utc),
        made_by_key: row.made_by_key,
        made_by_app: row.made_by_app,
        ends_at: row.ends_at.map(utc),
        secrets: secrets
            .into_iter()
            .map(|s| SecretDigest { id: s.id, digest: s.secret_digest, expires_at: s.expires_at.map(utc) })
            .collect(),
        maker_disabled: false,
    })
}

/// The client as stored now, past any cache: for work in the background
/// (back-channel logout) that has no `Clients` at hand.
pub async fn find_uncached(store: &Store, client_id: &str) -> Result<Option<Client>, StoreError> {
    let id = client_id.to_owned();
    let found = store.run(move |conn| rows::find_client(conn, &id)).await?;
    found.map(|(row, org, secrets)| from_rows(row, org, secrets)).transpose()
}

fn optional_url(link: Link, value: Option<String>) -> Result<Option<String>, ClientError> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match url::Url::parse(&v) {
            Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(Some(v)),
            _ => Err(ClientError::Validation(Problem::NotWebUrl(link))),
        },
    }
}

/// The grants a client registers: at least one; client credentials only
/// with a secret; the authorization code grant with somewhere to send
/// people back.
fn check_grants(public: bool, grants: &BTreeSet<GrantType>, redirect_uris: &[String]) -> Result<(), Problem> {
    if grants.is_empty() {
        return Err(Problem::NoGrant);
    }
    if public && grants.contains(&GrantType::ClientCredentials) {
        return Err(Problem::PublicClientCredentials);
    }
    if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
        return Err(Problem::NoRedirectUri);
    }
    Ok(())
}

/// A token lifetime an app sets for itself: 1 to `max` seconds, `why` says
/// where the bound comes from.
fn ttl(label: &str, value: Option<i64>, max: i64, why: &str) -> Result<Option<i32>, ClientError> {
    let max = max.min(i64::from(i32::MAX));
    match value {
        None => Ok(None),
        Some(v) if (1..=max).contains(&v) => Ok(i32::try_from(v).ok()),
        Some(_) => Err(ClientError::invalid(format!("{label} must be between 1 and {max} seconds: {why}"))),
    }
}

/// A management app is a confidential machine that acts for the member who
/// created it; without a creator it would act for nobody.
fn check_management(
    management: bool,
    public: bool,
    grants: &BTreeSet<GrantType>,
    created_by: Option<&str>,
) -> Result<(), ClientError> {
    if !management {
        return Ok(());
    }
    if public || !grants.contains(&GrantType::ClientCredentials) {
        return Err(ClientError::Validation(Problem::ManagementNotMachine));
    }
    if created_by.is_none() {
        return Err(ClientError::invalid("a management app must be created by a member, through /v1"));
    }
    Ok(())
}

/// A resource server may introspect every token of the organization: it
/// must prove who it is, so it has a secret.
fn check_resource_server(resource_server: bool, public: bool) -> Result<(), ClientError> {
    if resource_server && public {
        return Err(ClientError::invalid("a resource server must be a confidential client"));
    }
    Ok(())
}

/// RFC 9700 §2.1.1, OAuth 2.1 §4.1.1: a public client always uses PKCE;
/// only a confidential one may be exempted, for legacy software.
fn check_pkce_exemption(public: bool, require_pkce: bool) -> Result<(), ClientError> {
    if public && !require_pkce {
        return Err(ClientError::invalid("a public client must use PKCE: require_pkce cannot be false"));
    }
    Ok(())
}

/// The OIDC columns of a client, checked.
struct OidcColumns {
    post_logout_redirect_uris: String,
    backchannel_logout_uri: Option<String>,
    subject_type: &'static str,
    sector_identifier: Option<String>,
    id_token_alg: &'static str,
}

/// Checks the OIDC fields of a registration whose sector identifier was
/// decided already (`registered_sector`, or kept by an update).
fn check_oidc(oidc: OidcRegistration, public: bool, public_targets_only: bool) -> Result<OidcColumns, ClientError> {
    for uri in &oidc.post_logout_redirect_uris {
        check_post_logout_redirect_uri(uri, public).map_err(ClientError::invalid)?;
    }
    let backchannel_logout_uri = match oidc.backchannel_logout_uri.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Some(check_backchannel_uri(&v, public_targets_only).map_err(ClientError::invalid)?),
        _ => None,
    };
    Ok(OidcColumns {
        // serde_json cannot fail on a Vec<String>.
        post_logout_redirect_uris: serde_json::to_string(&oidc.post_logout_redirect_uris)
            .unwrap_or_else(|_| "[]".into()),
        backchannel_logout_uri,
        subject_type: oidc.subject_type.as_str(),
        sector_identifier: oidc.sector_identifier,
        id_token_alg: oidc.id_token_alg.as_str(),
    })
}

/// RP-Initiated Logout 1.0 §3: where a relying party may send the browser
/// after logout, matched by exact string comparison. So a URI not in its
/// normal form (`https://RP.example`, `https://rp.example:443/`) is refused
/// rather than normalized: stored normalized, it would no longer match the
/// string the relying party sends, and the error names the form to use.
fn check_post_logout_redirect_uri(uri: &str, public_client: bool) -> Result<(), String> {
    let label = "post_logout_redirect_uri";
    redirect::validate_labelled(label, uri, public_client)?;
    match url::Url::parse(uri) {
        Ok(url) if url.as_str() != uri => {
            Err(format!("{label} {uri:?} is not in its normal form: register {:?}", url.as_str()))
        }
        _ => Ok(()),
    }
}

/// Back-Channel Logout 1.0 §2.2: an absolute URI without a fragment; https,
/// or http to a loopback host (development and tests). When
/// `public_targets_only` (an https issuer), its host must not be a
/// loopback, private or link-local address or a `localhost` name.
///
/// Returned in its normal form, which is what delivery parses and posts
/// to: nobody compares it with a string, and the host checked is then the
/// host connected to (`0x7f.1` is stored as `127.0.0.1`).
fn check_backchannel_uri(uri: &str, public_targets_only: bool) -> Result<String, String> {
    let label = "backchannel_logout_uri";
    let url = url::Url::parse(uri).map_err(|_| format!("{label} {uri:?} is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(format!("{label} {uri:?} must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{label} {uri:?} must not contain a user name or password"));
    }
    if public_targets_only && url.host().is_some_and(|host| !outbound::may_be_public(&host)) {
        return Err(format!("{label} {uri:?} must name a public host, not a loopback, private or link-local address"));
    }
    match url.scheme() {
        "https" if url.has_host() => Ok(url.into()),
        "http" if redirect::is_loopback(&url) => Ok(url.into()),
        _ => Err(format!("{label} {uri:?} must use https (http only for loopback)")),
    }
}

/// A sector identifier given by the operator: a bare host name.
fn check_sector_identifier(given: &str) -> Result<String, String> {
    let host = given.trim().to_ascii_lowercase();
    let parsed = url::Url::parse(&format!("https://{host}/")).ok();
    match parsed {
        Some(u) if !host.is_empty() && u.host_str() == Some(host.as_str()) && u.port().is_none() => Ok(host),
        _ => Err(format!(
            "sector_identifier {given:?} must be a host name such as app.example (no scheme, port or path)"
        )),
    }
}

/// The host of each redirect URI, lower-cased; `None` for one without a
/// host (a private-use scheme).
fn redirect_hosts(redirect_uris: &[String]) -> BTreeSet<Option<String>> {
    redirect_uris
        .iter()
        .map(|u| url::Url::parse(u).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase)))
        .collect()
}

/// OIDC Core §8.1: without a sector identifier, pairwise subjects are
/// computed for the host of the redirect URIs, which must then be one.
fn sector_of(redirect_uris: &[String]) -> Result<String, String> {
    let mut hosts = redirect_hosts(redirect_uris).into_iter();
    match (hosts.next(), hosts.next()) {
        (Some(Some(host)), None) => Ok(host),
        (None, _) => Err("a pairwise app needs redirect URIs: its subjects are computed for their host".into()),
        _ => Err("the redirect URIs of a pairwise app span several hosts (or have none): give a sector_identifier, \
                  the one of their hosts its subjects are computed for"
            .into()),
    }
}

/// OIDC Core §8.1 trusts a sector once the client has shown it controls
/// it, with a `sector_identifier_uri` listing its redirect URIs. portcullis
/// fetches none, so the one proof it has is the app's own redirect URIs:
/// the sector must be the host of one of them. Else an app could name
/// another app's host and receive the same subjects for its users.
fn check_sector_among(sector: &str, redirect_uris: &[String]) -> Result<(), String> {
    let hosts: Vec<String> = redirect_hosts(redirect_uris).into_iter().flatten().collect();
    if hosts.iter().any(|h| h == sector) {
        return Ok(());
    }
    let listed = if hosts.is_empty() { "none".to_owned() } else { hosts.join(", ") };
    Err(format!(
        "sector_identifier {sector:?} must be the host of one of the app's redirect URIs ({listed}): \
         portcullis can verify no other sector"
    ))
}

/// The sector a new app's pairwise subjects are computed for: the one
/// given, if it is one of its redirect hosts, else the one host of its
/// redirect URIs; none for a public app.
fn registered_sector(
    subject_type: SubjectType,
    given: Option<String>,
    redirect_uris: &[String],
) -> Result<Option<String>, String> {
    match (subject_type, given) {
        (SubjectType::Public, None) => Ok(None),
        (SubjectType::Public, Some(_)) => Err("sector_identifier is used only with subject_type pairwise".into()),
        (SubjectType::Pairwise, Some(given)) => {
            let sector = check_sector_identifier(&given)?;
            check_sector_among(&sector, redirect_uris)?;
            Ok(Some(sector))
        }
        (SubjectType::Pairwise, None) => sector_of(redirect_uris).map(Some),
    }
}

/// `subject_type` and `sector_identifier` are fixed at registration: a
/// change would hand the app other subjects for its users (or their real
/// id) under the consents they gave it. Giving the current value again is
/// no change.
fn check_subjects_unchanged(
    current: &Client,
    subject_type: Option<SubjectType>,
    sector: Option<Option<String>>,
) -> Result<(), String> {
    if subject_type.is_some_and(|s| s != current.subject_type) {
        return Err("subject_type cannot change after registration: register a new app".into());
    }
    if let Some(given) = sector {
        let given = given.as_deref().map(check_sector_identifier).transpose()?;
        if given != current.sector_identifier {
            return Err("sector_identifier cannot change after registration: register a new app".into());
        }
    }
    Ok(())
}

/// New redirect URIs of a pairwise app keep one on its (fixed) sector host,
/// so that the sector stays one the app has shown it controls.
fn check_keeps_sector(current: &Client, redirect_uris: &[String]) -> Result<(), String> {
    match &current.sector_identifier {
        Some(sector) if current.subject_type == SubjectType::Pairwise => check_sector_among(sector, redirect_uris)
            .map_err(|_| {
                format!(
                    "the redirect URIs of a pairwise app must keep one on its sector host {sector:?}, which its \
                     subjects are computed for and cannot change"
                )
            }),
        _ => Ok(()),
    }
}

/// A client_id: 16 random bytes, URL-safe (unguessable, not a secret).
fn new_client_id() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("pc_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl Clients {
    pub fn new(store: Store, clock: Arc<dyn Clock>, registry: Arc<ScopeRegistry>) -> Self {
        Self {
            store,
            clock,
            registry,
            cache: Some(Arc::new(Cache::new(10_000, std::time::Duration::from_secs(300)))),
            public_targets_only: true,
            refresh_token_absolute_ttl_secs: crate::config::OAuthConfig::default().refresh_token_absolute_ttl_secs,
            changes: None,
        }
    }

    /// The registration rules that follow the configuration. For an http
    /// (development) issuer, back-channel logout URIs may name loopback and
    /// private hosts, where relying parties under development run; without
    /// this call, only public hosts are accepted, and refresh tokens are
    /// bounded by the default absolute lifetime.
    pub fn for_config(mut self, config: &crate::config::Config) -> Self {
        self.public_targets_only = config.is_https();
        self.refresh_token_absolute_ttl_secs = config.oauth.refresh_token_absolute_ttl_secs;
        self
    }

    /// The cache as configured (none when `strict`), emptied of a client
    /// whenever the change log names it.
    pub fn with_cache(mut self, config: &CacheConfig, changes: &Arc<Changes>) -> Self {
        self.changes = Some(changes.clone());
        if config.strict {
            self.cache = None;
            return self;
        }
        let cache = Arc::new(Cache::new(config.max_entries, std::time::Duration::from_secs(config.max_age_secs)));
        let c = cache.clone();
        changes.subscribe(Arc::new(move |change| match change {
            Change::Everything => c.clear(),
            Change::Item { topic: TOPIC, item } => c.forget(item),
            // A user disabled or enabled: the apps made through keys or by
            // machines (whose creator it may be) are read again.
            Change::Item { topic: "user", .. } => {
                c.forget_where(|client: &Client| client.made_by_key.is_some() || client.made_by_app.is_some())
            }
            Change::Item { topic: "organization", item } => {
                c.forget_where(|client: &Client| client.organization_id == item)
            }
            Change::Item { .. } => {}
        }));
        self.cache = Some(cache);
        self
    }

    async fn caught_up(&self) {
        if let Some(changes) = &self.changes {
            changes.catch_up_now().await;
        }
    }

    /// Registers a client; a confidential one gets a secret, returned here
    /// once and stored only as its digest.
    pub async fn create(&self, new: NewClient) -> Result<(Client, Option<String>), ClientError> {
        self.create_made_by(new, MadeThrough::default()).await
    }

    /// Registers a client through an API key or with a management app's
    /// token (`made_by`, when given): it ends with that key (deleted when it
    /// is revoked, unknown from its expiry) or app (deleted with it), and is
    /// written only while that lives.
    pub async fn create_made_by(
        &self,
        new: NewClient,
        made_by: MadeThrough,
    ) -> Result<(Client, Option<String>), ClientError> {
        let name = problem::check_name(&new.name).map_err(ClientError::Validation)?;
        let public = new.client_type == ClientType::Public;
        check_grants(public, &new.grant_types, &new.redirect_uris).map_err(ClientError::Validation)?;
        for uri in &new.redirect_uris {
            redirect::validate_for_registration(uri, public).map_err(ClientError::invalid)?;
        }
        check_pkce_exemption(public, new.require_pkce)?;
        let scopes = self.registry.parse_known_list(&new.scopes).map_err(|e| ClientError::invalid(e.description))?;
        check_management(new.management, public, &new.grant_types, new.created_by.as_deref())?;
        check_resource_server(new.resource_server, public)?;
        let mut oidc = new.oidc;
        oidc.sector_identifier = registered_sector(oidc.subject_type, oidc.sector_identifier, &new.redirect_uris)
            .map_err(ClientError::invalid)?;
        let oidc = check_oidc(oidc, public, self.public_targets_only)?;
        let now = self.clock.now().naive_utc();
        let row = ClientRow {
            id: uuid::Uuid::new_v4().to_string(),
            client_id: new_client_id(),
            organization_id: new.organization_id,
            name,
            client_type: new.client_type.as_str().into(),
            // serde_json cannot fail on a Vec<String>.
            redirect_uris: serde_json::to_string(&new.redirect_uris).unwrap_or_else(|_| "[]".into()),
            grant_types: new.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" "),
            scopes: scopes::join(&scopes),
            homepage_url: optional_url(Link::Homepage, new.homepage_url)?,
            logo_url: optional_url(Link::Logo, new.logo_url)?,
            access_token_ttl_secs: ttl(
                "access_token_ttl",
                new.access_token_ttl_secs,
                MAX_ACCESS_TOKEN_TTL_SECS,
                "an access token lives a day at most (RFC 9700: short-lived access tokens)",
            )?,
            refresh_token_ttl_secs: ttl(
                "refresh_token_ttl",
                new.refresh_token_ttl_secs,
                self.refresh_token_absolute_ttl_secs,
                "a refresh token's family ends then (oauth.refresh_token_absolute_ttl_secs)",
            )?,
            always_issue_refresh_token: new.always_issue_refresh_token,
            resource_server: new.resource_server,
            created_by: new.created_by,
            created_at: now,
            updated_at: now,
            management: new.management,
            require_pkce: new.require_pkce,
            post_logout_redirect_uris: oidc.post_logout_redirect_uris,
            backchannel_logout_uri: oidc.backchannel_logout_uri,
            subject_type: oidc.subject_type.into(),
            sector_identifier: oidc.sector_identifier,
            id_token_signed_response_alg: oidc.id_token_alg.into(),
            tokens_valid_after: None,
            made_by_key: made_by.key,
            ends_at: None,
            made_by_app: made_by.app,
            made_by_secret: made_by.secret,
        };
        let secret = (!public).then(opaque::random_secret);
        let secret_row = secret.as_ref().map(|s| ClientSecretRow {
            id: uuid::Uuid::new_v4().to_string(),
            client_pk: row.id.clone(),
            secret_digest: opaque::digest(s),
            created_at: now,
            expires_at: None,
            made_by_key: None,
        });
        let client_id = row.client_id.clone();
        self.store
            .run(move |conn| rows::insert_client(conn, &row, secret_row.as_ref()))
            .await
            .map_err(|e| match e {
                StoreError::ForeignKey(_) => ClientError::invalid("no such organization"),
                other => other.into(),
            })?
            .map_err(|_| ClientError::MakerEnded)?;
        let client = self.load(&client_id).await?.ok_or_else(|| ClientError::NotFound(client_id.clone()))?;
        Ok(((*client).clone(), secret))
    }

    /// A new secret for a confidential client. The previous ones stay valid
    /// for `grace` (none when zero), so a deployment can roll over.
    pub async fn rotate_secret(&self, client_id: &str, grace: Duration) -> Result<String, ClientError> {
        self.rotate_secret_through(client_id, grace, &MadeThrough::default()).await
    }

    /// `rotate_secret`, issued through the API key `made_by.key` when given:
    /// the new secret is deleted (with the tokens it got) when that key is
    /// revoked, and expires when it does; issued only while it lives. With
    /// a management app's token issued under the secret `made_by.secret`,
    /// the new secret takes that secret's key and expiry: a machine
    /// rotating its own secret sheds no tie (a secret issued through a key
    /// would otherwise turn into one bound to nothing).
    pub async fn rotate_secret_through(
        &self,
        client_id: &str,
        grace: Duration,
        made_by: &MadeThrough,
    ) -> Result<String, ClientError> {
        self.rotate(client_id, grace, made_by, false).await
    }

    /// A person (at the dashboard: no key, no machine) takes the app over
    /// with a new secret and no grace: the old secrets, and what they got,
    /// end, and with them the app's tie to the key or machine that
    /// registered it, in the same transaction. Until then the app ends with
    /// its maker, whoever edits it, since whoever holds an old secret may
    /// be the maker's holder (attacker round 11, finding 13: an ADMIN's
    /// adopted app was deleted with the developer's key it was made by).
    pub async fn take_over(&self, client_id: &str) -> Result<String, ClientError> {
        self.rotate(client_id, Duration::zero(), &MadeThrough::default(), true).await
    }

    async fn rotate(
        &self,
        client_id: &str,
        grace: Duration,
        made_by: &MadeThrough,
        adopt: bool,
    ) -> Result<String, ClientError> {
        let client = self.load(client_id).await?.ok_or_else(|| ClientError::NotFound(client_id.into()))?;
        if client.is_public() {
            return Err(ClientError::invalid("public clients have no secret"));
        }
        if grace < Duration::zero() {
            return Err(ClientError::Validation(Problem::NegativeGrace));
        }
        let secret = opaque::random_secret();
        let now = self.clock.now().naive_utc();
        let new = ClientSecretRow {
            id: uuid::Uuid::new_v4().to_string(),
            client_pk: client.pk.clone(),
            secret_digest: opaque::digest(&secret),
            created_at: now,
            expires_at: None,
            made_by_key: made_by.key.clone(),
        };
        let until = (grace > Duration::zero()).then(|| now + grace);
        let (cid, under) = (client_id.to_owned(), made_by.secret.clone());
        self.store
            .run(move |conn| {
                crate::store::write_transaction(conn, |c| {
                    let mut new = new.clone();
                    if let Some(under) = &under {
                        match rows::secret_lineage(c, under, now)? {
                            Ok((key, end)) => {
                                new.made_by_key = new.made_by_key.or(key);
                                new.expires_at = end;
                            }
                            Err(_) => return Ok(Err(ClientError::MakerEnded)),
                        }
                    }
                    if let Some(key) = &new.made_by_key {
                        match crate::store::api_keys::live_key_until(c, key, now)? {
                            Ok(end) => new.expires_at = rows::earliest(new.expires_at, end),
                            Err(_) => return Ok(Err(ClientError::MakerEnded)),
                        }
                    }
                    rows::rotate_secret(c, &new, until, now)?;
                    if adopt {
                        rows::adopt_client(c, &new.client_pk)?;
                    }
                    crate::store::changes::record_invalidation(c, TOPIC, &cid)?;
                    Ok(Ok(()))
                })
            })
            .await
            .map_err(|e| match e {
                // Deleted meanwhile (with the key that registered it, say):
                // the new secret has no app to belong to (attacker round
                // 12, finding 8: this answered 500).
                StoreError::ForeignKey(_) => ClientError::NotFound(client_id.to_owned()),
                other => other.into(),
            })??;
        self.forget(client_id);
        // What the old secrets' tokens made may have ended with them.
        self.caught_up().await;
        Ok(secret)
    }

    pub async fn list(&self, organization_id: Option<String>) -> Result<Vec<Client>, ClientError> {
        let rows = self.store.run(move |conn| rows::list_clients(conn, organization_id.as_deref())).await?;
        rows.into_iter().map(|(c, o)| from_rows(c, o, Vec::new()).map_err(ClientError::from)).collect()
    }

    /// A page of an organization's clients, newest first, after `after`
    /// (a client_id). `None` when the cursor is unknown.
    pub async fn list_page(
        &self,
        organization_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<Client>>, ClientError> {
        let (org, after) = (organization_id.to_owned(), after.map(str::to_owned));
        let rows = self.store.run(move |conn| rows::list_clients_page(conn, &org, after.as_deref(), limit)).await?;
        let Some(rows) = rows else { return Ok(None) };
        Ok(Some(rows.into_iter().map(|(c, o)| from_rows(c, o, Vec::new())).collect::<Result<_, _>>()?))
    }

    /// Changes what an operator may change; validated like a new client.
    pub async fn update(&self, client_id: &str, changes: ClientChanges) -> Result<Client, ClientError> {
        let current = self.load(client_id).await?.ok_or_else(|| ClientError::NotFound(client_id.into()))?;
        let public = current.is_public();
        let name = match changes.name {
            Some(n) => problem::check_name(&n).map_err(ClientError::Validation)?,
            None => current.name.clone(),
        };
        check_subjects_unchanged(&current, changes.subject_type, changes.sector_identifier)
            .map_err(ClientError::invalid)?;
        let redirect_uris = match changes.redirect_uris {
            Some(uris) => {
                for uri in &uris {
                    redirect::validate_for_registration(uri, public).map_err(ClientError::invalid)?;
                }
                check_keeps_sector(&current, &uris).map_err(ClientError::invalid)?;
                uris
            }
            None => current.redirect_uris.clone(),
        };
        let grant_types = changes.grant_types.unwrap_or_else(|| current.grant_types.clone());
        check_grants(public, &grant_types, &redirect_uris).map_err(ClientError::Validation)?;
        let require_pkce = changes.require_pkce.unwrap_or(current.require_pkce);
        check_pkce_exemption(public, require_pkce)?;
        let scopes = match changes.scopes {
            Some(list) => self.registry.parse_known_list(&list).map_err(|e| ClientError::invalid(e.description))?,
            None => current.scopes.clone(),
        };
        let homepage = match changes.homepage_url {
            Some(v) => optional_url(Link::Homepage, v)?,
            None => current.homepage_url.clone(),
        };
        let logo = match changes.logo_url {
            Some(v) => optional_url(Link::Logo, v)?,
            None => current.logo_url.clone(),
        };
        let management = changes.management.unwrap_or(current.management);
        let created_by = changes.acting_for.or_else(|| current.created_by.clone());
        check_management(management, public, &grant_types, created_by.as_deref())?;
        let resource_server = changes.resource_server.unwrap_or(current.resource_server);
        check_resource_server(resource_server, public)?;
        let oidc = OidcRegistration {
            post_logout_redirect_uris: changes
                .post_logout_redirect_uris
                .unwrap_or_else(|| current.post_logout_redirect_uris.clone()),
            backchannel_logout_uri: changes
                .backchannel_logout_uri
                .unwrap_or_else(|| current.backchannel_logout_uri.clone()),
            subject_type: current.subject_type,
            sector_identifier: current.sector_identifier.clone(),
            id_token_alg: changes.id_token_alg.unwrap_or(current.id_token_alg),
        };
        let oidc = check_oidc(oidc, public, self.public_targets_only)?;
        let now = self.clock.now().naive_utc();
        let update = rows::ClientUpdate {
            management,
            resource_server,
            created_by,
            name,
            redirect_uris: serde_json::to_string(&redirect_uris).unwrap_or_else(|_| "[]".into()),
            grant_types: grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" "),
            scopes: scopes::join(&scopes),
            homepage_url: homepage,
            logo_url: logo,
            require_pkce,
            updated_at: now,
            post_logout_redirect_uris: oidc.post_logout_redirect_uris,
            backchannel_logout_uri: oidc.backchannel_logout_uri,
            id_token_signed_response_alg: oidc.id_token_alg.into(),
            // Turned on, management must not wake up tokens issued before
            // (they were refused while it was off).
            tokens_valid_after: if management && !current.management {
                Some(now)
            } else {
                current.tokens_valid_after.map(|t| t.naive_utc())
            },
        };
        let (pk, cid) = (current.pk.clone(), client_id.to_owned());
        // Turned off, management ends what the app's tokens made.
        let ended = (current.management && !management).then_some(now);
        self.store.run(move |conn| rows::update_client(conn, &pk, &update, (TOPIC, &cid), ended)).await?;
        self.forget(client_id);
        if ended.is_some() {
            self.caught_up().await;
        }
        let client = self.load(client_id).await?.ok_or_else(|| ClientError::NotFound(client_id.into()))?;
        Ok((*client).clone())
    }

    /// Deletes a client with its secrets, refresh tokens and consents. Its
    /// access tokens stop at the next introspection (the client is gone).
    pub async fn delete(&self, client_id: &str) -> Result<(), ClientError> {
        let current = self.load(client_id).await?.ok_or_else(|| ClientError::NotFound(client_id.into()))?;
        let (pk, cid, now) = (current.pk.clone(), client_id.to_owned(), self.clock.now().naive_utc());
        self.store.run(move |conn| rows::delete_client(conn, &pk, &cid, (TOPIC, &cid), now)).await?;
        self.forget(client_id);
        // The keys its token made were revoked with it.
        self.caught_up().await;
        Ok(())
    }

    /// The client, from memory when cached: the token endpoint's hot path
    /// touches the database only on a miss.
    /// An app registered through a key that has expired is unknown.
    pub async fn get(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        let found = match self.cache.as_ref().and_then(|c| c.get(client_id)) {
            Some(c) => Some(c),
            None => self.load(client_id).await?,
        };
        Ok(found.filter(|c| c.ends_at.is_none_or(|end| end > self.clock.now())))
    }

    /// Housekeeping: deletes the apps registered through a key that has
    /// since expired (unknown since then), with what they hold.
    pub fn delete_ended(&self) -> Result<usize, StoreError> {
        let now = self.clock.now().naive_utc();
        self.store.run_blocking(|conn| rows::delete_ended_clients(conn, now))
    }

    /// Unknown ids are not kept: a flood of made-up ids costs lookups, never
    /// memory.
    async fn load(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        if client_id.is_empty() || client_id.len() > 128 {
            return Ok(None);
        }
        let since = self.cache.as_ref().map(|c| c.generation());
        let id = client_id.to_owned();
        let found = self
            .store
            .run(move |conn| {
                let Some(found) = rows::find_client(conn, &id)? else { return Ok(None) };
                let maker_disabled = match (&found.0.made_by_key, &found.0.made_by_app) {
                    (Some(key), _) if store::api_keys::creator_disabled(conn, key)? => true,
                    (_, Some(app)) => rows::app_creator_disabled(conn, app)?,
                    _ => false,
                };
                Ok(Some((found, maker_disabled)))
            })
            .await?;
        let Some(((row, org, secrets), maker_disabled)) = found else { return Ok(None) };
        let client = Arc::new(Client { maker_disabled, ..from_rows(row, org, secrets)? });
        if let (Some(cache), Some(since)) = (&self.cache, since) {
            cache.insert(since, client_id.to_owned(), client.clone());
        }
        Ok(Some(client))
    }

    /// The client cache's counts, none in strict mode.
    pub fn cache_stats(&self) -> Option<crate::cache::CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    fn forget(&self, client_id: &str) {
        if let Some(cache) = &self.cache {
            cache.forget(client_id);
        }
    }

    /// Authenticates a client at the token, introspection or revocation
    /// endpoint (RFC 6749 §2.3). Failures are `invalid_client`.
    pub async fn authenticate(&self, credentials: &ClientCredentials) -> Result<Arc<Client>, OAuthError> {
        Ok(self.authenticate_with_secret(credentials).await?.0)
    }

    /// `authenticate`, and the secret that authenticated a confidential
    /// client (what its own tokens are issued under).
    pub async fn authenticate_with_secret(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<(Arc<Client>, Option<SecretDigest>), OAuthError> {
        let unknown = || OAuthError::invalid_client("Client authentication failed.");
        let client = self.get(credentials.client_id()).await?.filter(|c| !c.maker_disabled).ok_or_else(unknown)?;
        let now = self.clock.now();
        match (credentials, client.client_type) {
            (
                ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. },
                ClientType::Confidential,
            ) => match client.matching_secret(secret, now).cloned() {
                Some(matched) => Ok((client, Some(matched))),
                None => Err(unknown()),
            },
            (ClientCredentials::None { .. }, ClientType::Public) => Ok((client, None)),
            _ => Err(unknown()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(secrets: Vec<SecretDigest>) -> Client {
        Client {
            pk: "pk".into(),
            client_id: "c".into(),
            organization_id: "o".into(),
            organization_name: "O".into(),
            name: "n".into(),
            client_type: ClientType::Confidential,
            redirect_uris: vec![],
            grant_types: BTreeSet::new(),
            scopes: ScopeSet::new(),
            homepage_url: None,
            logo_url: None,
            access_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            always_issue_refresh_token: false,
            resource_server: false,
            management: false,
            require_pkce: true,
            created_by: None,
            created_at: Utc::now(),
            tokens_valid_after: None,
            made_by_key: None,
            made_by_app: None,
            ends_at: None,
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            subject_type: SubjectType::Public,
            sector_identifier: None,
            id_token_alg: SigningAlgorithm::RS256,
            secrets,
            maker_disabled: false,
        }
    }

    #[test]
    fn secrets_match_by_digest_until_they_expire() {
        let now = Utc::now();
        let c = client(vec![
            SecretDigest { id: "1".into(), digest: opaque::digest("new"), expires_at: None },
            SecretDigest {
                id: "2".into(),
                digest: opaque::digest("old"),
                expires_at: Some(now + Duration::seconds(10)),
            },
            SecretDigest {
                id: "3".into(),
                digest: opaque::digest("older"),
                expires_at: Some(now - Duration::seconds(1)),
            },
        ]);
        assert!(c.secret_matches("new", now));
        assert!(c.secret_matches("old", now));
        assert!(!c.secret_matches("old", now + Duration::seconds(10)));
        assert!(!c.secret_matches("older", now));
        assert!(!c.secret_matches("", now));
    }

    #[test]
    fn a_pairwise_sector_is_the_one_host_of_the_redirect_uris_or_given() {
        let uris = |list: &[&str]| list.iter().map(|u| u.to_string()).collect::<Vec<_>>();
        assert_eq!(sector_of(&uris(&["https://A.example/cb", "https://a.example/other"])).unwrap(), "a.example");
        assert!(sector_of(&uris(&["https://a.example/cb", "https://b.example/cb"])).is_err());
        assert!(sector_of(&uris(&["https://a.example/cb", "com.example.app:/cb"])).is_err());
        assert!(sector_of(&uris(&["com.example.app:/cb"])).is_err());
        assert!(sector_of(&[]).is_err());
        assert_eq!(check_sector_identifier(" Apps.Example ").unwrap(), "apps.example");
        for bad in ["", "https://a.example", "a.example/x", "a.example:443", "user@a.example", "a b"] {
            assert!(check_sector_identifier(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_given_sector_must_be_one_of_the_redirect_hosts() {
        let uris = |list: &[&str]| list.iter().map(|u| u.to_string()).collect::<Vec<_>>();
        let spread = uris(&["https://a.example/cb", "https://B.example/cb", "com.example.app:/cb"]);
        let pairwise =
            |given: &str, redirects: &[String]| registered_sector(SubjectType::Pairwise, Some(given.into()), redirects);
        assert_eq!(pairwise("b.example", &spread), Ok(Some("b.example".into())));
        assert_eq!(pairwise("A.Example", &spread), Ok(Some("a.example".into())));
        for (foreign, redirects, listed) in [
            ("c.example", &spread, "a.example, b.example"),
            ("*", &spread, "a.example, b.example"),
            ("a.example.", &spread, "a.example, b.example"),
            ("localhost", &uris(&["http://127.0.0.1:9/cb"]), "127.0.0.1"),
            ("a.example", &uris(&["com.example.app:/cb"]), "none"),
        ] {
            let refusal = format!(
                "sector_identifier {:?} must be the host of one of the app's redirect URIs ({listed}): portcullis can \
                 verify no other sector",
                foreign.to_ascii_lowercase()
            );
            assert_eq!(pairwise(foreign, redirects), Err(refusal), "{foreign}");
        }
    }

    #[test]
    fn token_lifetimes_are_bounded() {
        let why = "why";
        assert_eq!(ttl("t", Some(86_400), MAX_ACCESS_TOKEN_TTL_SECS, why).unwrap(), Some(86_400));
        assert_eq!(ttl("t", None, MAX_ACCESS_TOKEN_TTL_SECS, why).unwrap(), None);
        for bad in [0, -1, 86_401, 315_360_000] {
            let err = ttl("t", Some(bad), MAX_ACCESS_TOKEN_TTL_SECS, why).unwrap_err().to_string();
            assert_eq!(err, "t must be between 1 and 86400 seconds: why");
        }
        // A configured bound past what the column holds is the column's.
        let err = ttl("t", Some(i64::MAX), i64::MAX, why).unwrap_err().to_string();
        assert_eq!(err, format!("t must be between 1 and {} seconds: why", i32::MAX));
    }

    #[test]
    fn backchannel_uris_are_https_or_loopback_http_without_fragment() {
        for good in ["https://rp.example/bc?x=1", "http://127.0.0.1:9/bc", "http://[::1]/bc", "http://localhost/bc"] {
            assert_eq!(check_backchannel_uri(good, false).as_deref(), Ok(good), "{good}");
        }
        for bad in ["http://rp.example/bc", "https://rp.example/bc#f", "urn:x:y", "https://u@rp.example/"] {
            assert!(check_backchannel_uri(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn under_an_https_issuer_backchannel_uris_name_public_hosts() {
        assert_eq!(check_backchannel_uri("https://rp.example/bc", true).as_deref(), Ok("https://rp.example/bc"));
        for internal in ["http://127.0.0.1:9/bc", "https://localhost/bc", "https://10.1.2.3/bc", "https://[fe80::1]/"] {
            assert_eq!(
                check_backchannel_uri(internal, true),
                Err(format!(
                    "backchannel_logout_uri {internal:?} must name a public host, not a loopback, private or \
                     link-local address"
                )),
            );
        }
    }

    #[test]
    fn backchannel_uris_are_kept_in_their_normal_form() {
        for (given, stored) in [
            ("HTTPS://RP.Example:443/bc", "https://rp.example/bc"),
            ("https://rp.example", "https://rp.example/"),
            ("http://0x7f.1:9/bc", "http://127.0.0.1:9/bc"),
            ("https://rp.example/a b", "https://rp.example/a%20b"),
        ] {
            assert_eq!(check_backchannel_uri(given, false).as_deref(), Ok(stored), "{given}");
        }
    }

    #[test]
    fn post_logout_redirect_uris_must_be_given_in_their_normal_form() {
        for normal in ["https://rp.example/bye?x=1", "http://127.0.0.1:8080/bye", "com.example.app:/bye"] {
            assert_eq!(check_post_logout_redirect_uri(normal, true), Ok(()), "{normal}");
        }
        for (given, normal) in [
            ("https://RP.example/bye", "https://rp.example/bye"),
            ("https://rp.example", "https://rp.example/"),
            ("https://rp.example:443/bye", "https://rp.example/bye"),
            ("https://rp.example/a/../bye", "https://rp.example/bye"),
        ] {
            assert_eq!(
                check_post_logout_redirect_uri(given, false),
                Err(format!("post_logout_redirect_uri {given:?} is not in its normal form: register {normal:?}"))
            );
        }
    }

    #[test]
    fn client_ids_are_random_and_url_safe() {
        let a = new_client_id();
        assert!(a.starts_with("pc_") && a.len() == 25, "{a}");
        assert!(a[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, new_client_id());
    }
}
