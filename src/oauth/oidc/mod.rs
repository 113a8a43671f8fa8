//! OpenID Connect Core 1.0 on top of the OAuth server: the subject an app
//! sees, the claims each scope releases, ID tokens, userinfo, and the
//! discovery document.
//!
//! What the account store holds decides the claims, and nothing is made up:
//! `email` releases `email` and `email_verified` (true once the person has
//! followed the link emailed to the address); `profile` releases `updated_at` only, since accounts have
//! no name, nickname, picture or locale (their profile never changes after
//! creation, so `updated_at` is the account's creation time).

pub mod discovery;
pub mod hint;
pub mod id_token;
pub mod reauth;
pub mod sid;
pub mod userinfo;

use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::clients::Client;
use super::scopes::{EMAIL, PROFILE, ScopeSet};
use super::service::OAuth;

/// RFC 8176 §2: every sign-in here is by password.
pub const AMR_PASSWORD: &str = "pwd";

/// The claims this server can release, for discovery's `claims_supported`.
pub const CLAIMS_SUPPORTED: [&str; 14] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "sid",
    "amr",
    "email",
    "email_verified",
    "updated_at",
];

/// The `sub` of `user_id` as `client` sees it (OIDC Core §8, public or
/// pairwise): the one place every ID token, userinfo answer and hint check
/// takes it from.
pub fn subject(oauth: &OAuth, client: &Client, user_id: &str) -> String {
    super::subject::subject(client, user_id, &oauth.pairwise)
}

/// What the account store knows about a user, as claims draw on it.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub email: String,
    pub email_verified: bool,
    pub created_at: NaiveDateTime,
}

impl From<crate::store::models::UserRow> for UserFacts {
    fn from(user: crate::store::models::UserRow) -> Self {
        Self { email: user.email, email_verified: user.email_verified_at.is_some(), created_at: user.created_at }
    }
}

/// The claims `scope` releases about a user (OIDC Core §5.4), added to
/// `claims`.
pub fn scope_claims(user: &UserFacts, scope: &ScopeSet, claims: &mut Map<String, Value>) {
    if scope.contains(EMAIL) {
        claims.insert("email".into(), json!(user.email));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
    if scope.contains(PROFILE) {
        claims.insert("updated_at".into(), json!(user.created_at.and_utc().timestamp()));
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::oauth::scopes;

    #[test]
    fn each_scope_releases_only_its_claims() {
        let user = UserFacts {
            email: "ada@example.com".into(),
            email_verified: false,
            created_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap().naive_utc(),
        };
        let claims_for = |scope: &str| {
            let mut claims = Map::new();
            scope_claims(&user, &scopes::parse(scope).unwrap(), &mut claims);
            Value::Object(claims)
        };
        assert_eq!(claims_for("openid"), json!({}));
        assert_eq!(claims_for("openid email"), json!({"email": "ada@example.com", "email_verified": false}));
        assert_eq!(claims_for("openid profile"), json!({"updated_at": 1_700_000_000}));
    }
}
