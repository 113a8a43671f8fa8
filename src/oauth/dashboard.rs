//! Dashboard sessions for API clients (`/v1/auth/login`): the OAuth
//! server's own short access token and rotating refresh token, issued to
//! the built-in dashboard client, acting for one organization of the user.

use chrono::{DateTime, Utc};

use super::clients::{Client, DASHBOARD_CLIENT_ID};
use super::error::OAuthError;
use super::grants::refresh_token;
use super::scopes::ScopeSet;
use super::service::{OAuth, TokenResponse, new_jti};
use crate::store::{self, StoreError};
use crate::tokens::opaque;

/// Dashboard access tokens live 15 minutes; the refresh token carries on.
pub const ACCESS_TTL_SECS: i64 = 900;

/// What a sign-in gives.
pub struct DashboardSession {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
}

impl OAuth {
    fn dashboard_client() -> Client {
        Client::dashboard(ACCESS_TTL_SECS)
    }

    /// What a dashboard session is given, before its role narrows it.
    pub fn dashboard_scopes() -> ScopeSet {
        Self::dashboard_client().scopes
    }

    /// Opens a session for `user_id`, acting for `organization_id` (a
    /// membership the caller has checked).
    pub async fn start_dashboard_session(
        &self,
        user_id: &str,
        organization_id: &str,
    ) -> Result<DashboardSession, OAuthError> {
        let client = Self::dashboard_client();
        let jti = new_jti(self.now());
        let (refresh, mut row) = self.new_refresh_token(&client, Some(user_id), &client.scopes, None, &jti);
        row.organization_id = Some(organization_id.to_owned());
        let uid = user_id.to_owned();
        let written = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    // A user disabled while their password was being checked
                    // gets no session (attacker round 11, finding 9).
                    if !store::users::active_held(c, &uid)? {
                        return Ok(false);
                    }
                    store::grants::insert_refresh_token(c, &row)?;
                    Ok(true)
                })
            })
            .await?;
        if !written {
            return Err(OAuthError::invalid_grant("Invalid email or password."));
        }
        let issued = self.sign_access_token(&client, user_id, &client.scopes, jti, Some(organization_id))?;
        Ok(DashboardSession { access_token: issued.token, expires_in: issued.expires_in, refresh_token: refresh })
    }

    /// Rotates a dashboard refresh token (the same rules as every refresh).
    pub async fn refresh_dashboard_session(&self, refresh: &str) -> Result<TokenResponse, OAuthError> {
        refresh_token::grant(self, &Self::dashboard_client(), Some(refresh), None).await
    }

    /// Ends a session: the access token used is denied until it expires,
    /// and the refresh token (if sent, and the same user's) revokes its
    /// family with every access token issued in it.
    pub async fn end_dashboard_session(
        &self,
        user_id: Option<String>,
        jti: String,
        access_expires_at: DateTime<Utc>,
        refresh: Option<String>,
    ) -> Result<(), StoreError> {
        let now = self.now().naive_utc();
        let deny_until = self.deny_until(&Self::dashboard_client());
        let until = access_expires_at.naive_utc();
        self.store
            .run(move |conn| {
                store::grants::revoke_access_token(conn, &jti, until)?;
                if let Some(token) = refresh {
                    let digest = opaque::digest(&token);
                    if let Some(r) = store::grants::find_refresh_token(conn, &digest)?
                        && r.client_id == DASHBOARD_CLIENT_ID
                        && r.user_id == user_id
                    {
                        Self::revoke_family_blocking(conn, &r.family_id, now, deny_until)?;
                    }
                }
                Ok(())
            })
            .await
    }
}
