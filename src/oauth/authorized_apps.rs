//! The apps a user authorized on the consent page ("authorized apps"), and
//! the withdrawal of such an authorization by the user: the consent goes,
//! and with it every token the app holds for the user, so the next
//! authorization request shows the consent page again.

use chrono::{DateTime, Utc};

use super::service::OAuth;
use crate::store::{self, StoreError};

/// An app the user consented to, with what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedApp {
    pub client_id: String,
    pub name: String,
    pub organization_id: String,
    pub organization_name: String,
    pub homepage_url: Option<String>,
    pub logo_url: Option<String>,
    /// The scopes granted, in the order stored.
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// What a withdrawal ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawnConsent {
    /// The scopes the app had been granted.
    pub scope: String,
    /// The app's organization; `None` when the app is gone.
    pub organization_id: Option<String>,
}

impl OAuth {
    /// A page of the apps `user_id` authorized, newest consent first, after
    /// the app `after`; `None` when that cursor is no app of the user's.
    pub async fn authorized_apps(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<AuthorizedApp>>, StoreError> {
        let (user, after) = (user_id.to_owned(), after.map(str::to_owned));
        let rows = self
            .store
            .run(move |conn| store::consents::authorized_apps_page(conn, &user, after.as_deref(), limit))
            .await?;
        Ok(rows.map(|rows| {
            rows.into_iter()
                .map(|r| AuthorizedApp {
                    scopes: r.scope.split_whitespace().map(str::to_owned).collect(),
                    client_id: r.client_id,
                    name: r.name,
                    organization_id: r.organization_id,
                    organization_name: r.organization_name,
                    homepage_url: r.homepage_url,
                    logo_url: r.logo_url,
                    granted_at: r.granted_at.and_utc(),
                })
                .collect()
        }))
    }

    /// Withdraws the consent of `user_id` to `client_id`, in one store
    /// transaction: the consent is deleted, every refresh-token family of
    /// the user with the app ends, and every access token the app holds for
    /// the user is dead (`revoke_client_tokens_blocking`), on every
    /// instance. `None` when the user had no consent for that app (nothing
    /// changes then).
    pub async fn revoke_authorization(
        &self,
        user_id: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<WithdrawnConsent>, StoreError> {
        let client = self.clients.get(client_id).await?;
        // The furthest any token of the app issued until now can live.
        let ttl = client.as_ref().map_or(self.settings.access_token_ttl, |c| self.access_ttl(c));
        let deny_until = (now + ttl.max(self.settings.access_token_ttl)).naive_utc();
        let (user, app) = (user_id.to_owned(), client_id.to_owned());
        let scope = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    let Some(scope) = store::grants::find_consent(c, &user, &app)? else { return Ok(None) };
                    if !store::consents::delete_consent(c, &user, &app)? {
                        return Ok(None);
                    }
                    Self::revoke_client_tokens_blocking(c, &user, &app, now, deny_until)?;
                    Ok(Some(scope))
                })
            })
            .await?;
        Ok(scope.map(|scope| WithdrawnConsent { scope, organization_id: client.map(|c| c.organization_id.clone()) }))
    }
}
