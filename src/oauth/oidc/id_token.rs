//! ID tokens (OIDC Core §2, §3.1.3.6, §12.2): issued at the token endpoint
//! with the code grant's tokens when `openid` was granted, and again at
//! every refresh, signed with the client's registered algorithm (RS256
//! unless it registered ES256 or EdDSA).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use super::{AMR_PASSWORD, UserFacts, scope_claims, subject};
use crate::oauth::clients::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::scopes::ScopeSet;
use crate::oauth::service::OAuth;
use crate::store;
use crate::tokens::signing::SigningAlgorithm;

/// The `typ` header of an ID token.
pub const ID_TOKEN_TYPE: &str = "JWT";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nonce: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub at_hash: Option<String>,
    pub azp: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    /// The claims the scopes release (`email`, `updated_at`…).
    #[serde(flatten)]
    pub scope_claims: Map<String, Value>,
}

/// OIDC Core §3.1.3.6: the left half of the hash of the access token's
/// ASCII octets, base64url. The hash is the one of the ID token's `alg`:
/// SHA-256 for RS256 and ES256; for EdDSA (Ed25519) SHA-512, as the
/// `openidconnect` crate and the OpenID Foundation's guidance for EdDSA do.
pub fn at_hash(algorithm: SigningAlgorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match algorithm {
        SigningAlgorithm::RS256 | SigningAlgorithm::ES256 => Sha256::digest(access_token.as_bytes()).to_vec(),
        SigningAlgorithm::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// What an ID token is about.
pub struct Subject<'a> {
    pub client: &'a Client,
    pub user_id: &'a str,
    pub scope: &'a ScopeSet,
    /// Echoed from the authorization request; never on a refresh.
    pub nonce: Option<&'a str>,
    pub auth_time: DateTime<Utc>,
    /// The browser session signed in through: while it lasts, the token's
    /// `sid` is this app's own for it (`oidc::sid`).
    pub session_id: Option<&'a str>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
}

/// Signs an ID token for `s`. Reads the user (for the scopes' claims) and
/// whether the session still lasts: an offline_access family outlives it
/// (Back-Channel Logout §2.7), and its ID tokens then name no session
/// (OIDC Core §12.2 keeps iss, sub, aud, auth_time and azp, not `sid`).
pub async fn issue(oauth: &OAuth, s: Subject<'_>) -> Result<String, OAuthError> {
    let now = oauth.now();
    let (user_id, session_id, at) = (s.user_id.to_owned(), s.session_id.map(str::to_owned), now.naive_utc());
    let (user, session_lasts) = oauth
        .store
        .run(move |conn| {
            let lasts = match &session_id {
                Some(id) => store::sessions::is_live(conn, id, at)?,
                None => false,
            };
            Ok((store::users::find_user(conn, &user_id)?, lasts))
        })
        .await?;
    let user = user.ok_or_else(|| OAuthError::invalid_grant("The user of this grant no longer exists."))?;
    let session_id = s.session_id.filter(|_| session_lasts);
    let algorithm = s.client.id_token_alg;
    let mut extra = Map::new();
    scope_claims(&UserFacts::from(user), s.scope, &mut extra);
    let claims = IdTokenClaims {
        iss: oauth.settings.issuer.clone(),
        sub: subject(oauth, s.client, s.user_id),
        aud: vec![s.client.client_id.clone()],
        exp: (now + oauth.settings.id_token_ttl).timestamp(),
        iat: now.timestamp(),
        auth_time: s.auth_time.timestamp(),
        nonce: s.nonce.map(str::to_owned),
        at_hash: Some(at_hash(algorithm, s.access_token)),
        azp: s.client.client_id.clone(),
        sid: session_id.map(|session| oauth.sid.sid(session, &s.client.client_id)),
        amr: vec![AMR_PASSWORD.to_owned()],
        scope_claims: extra,
    };
    oauth.keys.sign_jwt(algorithm, ID_TOKEN_TYPE, &claims).map_err(|e| {
        tracing::error!(cause = %e, "signing an ID token failed");
        OAuthError::server_error()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // OIDC Core §A.3's example: this access token, RS256.
        assert_eq!(
            at_hash(SigningAlgorithm::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(SigningAlgorithm::ES256, "x").len(), 22, "16 bytes");
        assert_eq!(at_hash(SigningAlgorithm::EdDSA, "x").len(), 43, "32 bytes of SHA-512");
    }
}
