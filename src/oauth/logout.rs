//! OpenID Connect RP-Initiated Logout 1.0: what a relying party asks at the
//! end_session_endpoint, checked. No HTTP types here; `http::oauth::logout`
//! renders the outcome.
//!
//! Sign-out without asking: only with an `id_token_hint` that names the
//! signed-in user and, when it carries a `sid`, this very session. §2 says
//! the OP MUST ask when there is no such hint and SHOULD ask otherwise; we
//! do not ask then because the hint proves that an app the user signed in
//! to asks for it, and the worst another holder of that ID token can do is
//! sign the user out. Everything else gets the confirmation page.

use std::sync::Arc;

use chrono::NaiveDateTime;

use super::OAuth;
use super::clients::Client;
use super::oidc::hint::IdTokenHint;
use super::scopes::{self, OFFLINE_ACCESS};
use super::subject::subject;
use crate::store::oidc_logins::{self, EndedSession};
use crate::store::{DbConnection, StoreError};

/// The request's parameters (§2). `ui_locales` is accepted and ignored: the
/// pages have one language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

impl LogoutRequest {
    /// From the request's parameters; empty values count as absent.
    pub fn from_params(params: &[(String, String)]) -> Self {
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        Self {
            id_token_hint: get("id_token_hint"),
            client_id: get("client_id"),
            post_logout_redirect_uri: get("post_logout_redirect_uri"),
            state: get("state"),
        }
    }

    /// The parameters again, for the confirmation form.
    pub fn to_params(&self) -> Vec<(&'static str, String)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("client_id", &self.client_id),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// Who the hint says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub sub: String,
    pub sid: Option<String>,
}

/// A checked request.
#[derive(Debug, Clone)]
pub struct Logout {
    /// The app that asks, from the hint or client_id.
    pub client: Option<Arc<Client>>,
    pub hint: Option<Hint>,
    /// Where to send the browser afterwards, `state` added: only a
    /// registered post_logout_redirect_uri of `client`.
    pub redirect_to: Option<String>,
}

impl Logout {
    /// True when the hint names `user_id` as `client` knows them and, if it
    /// has a `sid`, the session `session_id` as `client` knows it (a sid
    /// another app got for it does not do): then no confirmation is asked.
    pub fn hint_names(&self, oauth: &OAuth, user_id: &str, session_id: &str) -> bool {
        match (&self.hint, &self.client) {
            (Some(hint), Some(client)) => {
                hint.sub == subject(client, user_id, &oauth.pairwise)
                    && hint.sid.as_deref().is_none_or(|sid| sid == oauth.sid.sid(session_id, &client.client_id))
            }
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogoutError {
    /// Shown on an error page; never a redirect (§3: no redirection to an
    /// unverified URI).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(message: &str) -> LogoutError {
    LogoutError::Invalid(message.to_owned())
}

/// `uri` with `state` added to its query (§3).
fn with_state(uri: &str, state: Option<&str>) -> Result<String, LogoutError> {
    let Some(state) = state else { return Ok(uri.to_owned()) };
    let mut url = url::Url::parse(uri).map_err(|_| invalid("The post_logout_redirect_uri is not a valid URI."))?;
    url.query_pairs_mut().append_pair("state", state);
    Ok(url.into())
}

impl OAuth {
    /// Checks a logout request (§2, §3): a hint must be an ID token we
    /// signed (expired ones are fine: it is a hint), for an app that exists;
    /// client_id must agree with it; a post_logout_redirect_uri must be one
    /// the app registered, exactly.
    pub async fn check_logout(&self, request: &LogoutRequest) -> Result<Logout, LogoutError> {
        let hint = match &request.id_token_hint {
            Some(token) => Some(self.read_hint(token)?),
            None => None,
        };
        let client_id = match (&hint, &request.client_id) {
            (Some((_, from_hint)), Some(given)) if from_hint != given => {
                return Err(invalid("The client_id does not match the audience of the id_token_hint."));
            }
            (Some((_, from_hint)), _) => Some(from_hint.clone()),
            (None, given) => given.clone(),
        };
        let client = match client_id {
            Some(id) => {
                Some(self.clients.get(&id).await?.ok_or_else(|| invalid("The app that asks is not registered."))?)
            }
            None => None,
        };
        let redirect_to = match (&request.post_logout_redirect_uri, &client) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(invalid("A post_logout_redirect_uri needs an id_token_hint or a client_id."));
            }
            (Some(uri), Some(client)) => {
                if !client.post_logout_redirect_uris.iter().any(|registered| registered == uri) {
                    return Err(invalid("The post_logout_redirect_uri is not registered for this app."));
                }
                Some(with_state(uri, request.state.as_deref())?)
            }
        };
        Ok(Logout { client, hint: hint.map(|(h, _)| h), redirect_to })
    }

    /// What the end of a browser session takes along, on the caller's
    /// connection (it joins the transaction that ends the session).
    /// Back-Channel Logout §2.7: the refresh-token families signed in
    /// through it are revoked with their access tokens, but for those with
    /// `offline_access`, which are meant to outlive it (OIDC Core §11). Codes
    /// approved in it and not redeemed yet go too: redeemed later, they
    /// would start a family of a session that has ended.
    pub fn end_session_tokens_blocking(
        conn: &mut DbConnection,
        session: &EndedSession,
        now: NaiveDateTime,
        deny_until: NaiveDateTime,
    ) -> Result<(), StoreError> {
        // Codes first: a redemption in flight holds its code's row, so on
        // PostgreSQL this waits for it to commit, and the read of the
        // families below (a new statement, read committed) then sees the
        // family it started. The other way round, that family would escape.
        oidc_logins::delete_pending_codes_of_session(conn, &session.user_id, &session.session_id)?;
        for (family, scope) in oidc_logins::families_of_session(conn, &session.user_id, &session.session_id, now)? {
            // A scope that does not parse grants nothing to keep.
            if !scopes::parse(&scope).is_ok_and(|s| s.contains(OFFLINE_ACCESS)) {
                Self::revoke_family_blocking(conn, &family, now, deny_until)?;
            }
        }
        Ok(())
    }

    /// The hint's subject and the client it was issued to.
    fn read_hint(&self, token: &str) -> Result<(Hint, String), LogoutError> {
        let not_ours = || invalid("The id_token_hint is not an ID token issued by this server.");
        let hint = IdTokenHint::read(self, token).ok_or_else(not_ours)?;
        let client_id = hint.client_id().ok_or_else(not_ours)?.to_owned();
        Ok((Hint { sub: hint.sub, sid: hint.sid }, client_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_added_to_the_registered_uri() {
        assert_eq!(with_state("https://rp.example/bye", None).unwrap(), "https://rp.example/bye");
        assert_eq!(
            with_state("https://rp.example/bye", Some("a b&c")).unwrap(),
            "https://rp.example/bye?state=a+b%26c"
        );
        assert_eq!(with_state("https://rp.example/bye?x=1", Some("s")).unwrap(), "https://rp.example/bye?x=1&state=s");
    }

    #[test]
    fn parameters_round_trip_and_empty_ones_are_absent() {
        let params: Vec<(String, String)> =
            [("client_id", "c"), ("state", ""), ("ui_locales", "fr"), ("post_logout_redirect_uri", "https://rp/x")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .to_vec();
        let request = LogoutRequest::from_params(&params);
        assert_eq!(request.client_id.as_deref(), Some("c"));
        assert_eq!(request.state, None);
        assert_eq!(
            request.to_params(),
            vec![("client_id", "c".to_owned()), ("post_logout_redirect_uri", "https://rp/x".to_owned())]
        );
    }
}
