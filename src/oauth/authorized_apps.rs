//! The apps a user authorized on the consent page ("authorized apps"), and
//! the withdrawal of such an authorization by the user: the consent goes,
//! and with it every token the app holds for the user, so the next
//! authorization request shows the consent page again.

use chrono::{DateTime, Utc};

use super::service::OAuth;
use crate::audit::Origin;
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
    /// When the app last received a token for the user, if still known
    /// (`store::consents::last_token_times`).
    pub last_used_at: Option<DateTime<Utc>>,
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
        let found = self
            .store
            .run(move |conn| {
                let Some(rows) = store::consents::authorized_apps_page(conn, &user, after.as_deref(), limit)? else {
                    return Ok(None);
                };
                let ids: Vec<String> = rows.iter().map(|r| r.client_id.clone()).collect();
                let used = store::consents::last_token_times(conn, &user, &ids)?;
                Ok(Some((rows, used)))
            })
            .await?;
        Ok(found.map(|(rows, used)| {
            rows.into_iter()
                .map(|r| AuthorizedApp {
                    last_used_at: used.iter().find(|(c, _)| *c == r.client_id).map(|(_, at)| at.and_utc()),
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

    /// `revoke_authorization`, told to the app's organization as
    /// `consent.revoked` (audit events belong to an organization; a user's
    /// consent belongs to none: the app's organization, whose app lost the
    /// grant, hears of it). What `DELETE /v1/authorized-apps/{id}` and the
    /// authorized-apps page both do.
    pub async fn withdraw_consent(
        &self,
        user_id: &str,
        client_id: &str,
        now: DateTime<Utc>,
        origin: &Origin,
    ) -> Result<Option<WithdrawnConsent>, StoreError> {
        let withdrawn = self.revoke_authorization(user_id, client_id, now).await?;
        if let Some(org) = withdrawn.as_ref().and_then(|w| w.organization_id.as_deref()) {
            let scope = withdrawn.as_ref().map(|w| w.scope.as_str());
            let details = serde_json::json!({ "user_id": user_id, "scope": scope });
            crate::audit::record(&self.store, now, org, "consent.revoked", origin, Some(client_id), details).await;
        }
        Ok(withdrawn)
    }
}
