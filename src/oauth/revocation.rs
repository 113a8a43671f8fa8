//! The one way tokens are revoked in bulk: a refresh-token family (reuse,
//! code replay, RFC 7009 revocation, logout), every token of a user
//! (password change, removal, demotion), or every token one app holds for a
//! user (a withdrawn consent). Each always takes the access tokens with it.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::service::OAuth;
use crate::store::{self, DbConnection, StoreError};

impl OAuth {
    /// Revokes a refresh-token family and denies, until `deny_until` (the
    /// longest they could live), the access tokens issued with it
    /// (RFC 9700 §4.14.2, RFC 7009 §2.1). Runs on the caller's connection,
    /// so it joins the caller's transaction.
    pub fn revoke_family_blocking(
        conn: &mut DbConnection,
        family_id: &str,
        now: NaiveDateTime,
        deny_until: NaiveDateTime,
    ) -> Result<(), StoreError> {
        store::grants::revoke_family(conn, family_id, now, deny_until)
    }

    /// Ends every token of a user: each live refresh-token family (with its
    /// access tokens), and any other access token issued to the user before
    /// `now`, through `users.tokens_revoked_at` (see `live_access_token`).
    pub fn revoke_user_tokens_blocking(
        conn: &mut DbConnection,
        user_id: &str,
        now: DateTime<Utc>,
        deny_until: NaiveDateTime,
    ) -> Result<(), StoreError> {
        store::users::set_tokens_revoked_at(conn, user_id, tokens_revoked_at(now))?;
        // A code not yet redeemed would still give a fresh family.
        store::grants::delete_pending_codes_of_user(conn, user_id)?;
        let now = now.naive_utc();
        for family in store::grants::live_families_of_user(conn, user_id, now)? {
            Self::revoke_family_blocking(conn, &family, now, deny_until)?;
        }
        Ok(())
    }

    /// Ends every token `client_id` holds for `user_id`: each live
    /// refresh-token family (with its access tokens), and any other access
    /// token (a code redeemed without `offline_access`) issued before `now`,
    /// through `client_tokens_revoked` (see `live_access_token`); the access
    /// tokens of codes redeemed in the second of `now` are denied by `jti`,
    /// since the time is rounded down like `users.tokens_revoked_at`.
    /// `deny_until - now` bounds an access token's lifetime.
    pub fn revoke_client_tokens_blocking(
        conn: &mut DbConnection,
        user_id: &str,
        client_id: &str,
        now: DateTime<Utc>,
        deny_until: NaiveDateTime,
    ) -> Result<(), StoreError> {
        let at = tokens_revoked_at(now);
        store::consents::set_client_tokens_revoked_at(conn, user_id, client_id, at)?;
        // A code not yet redeemed would still give a fresh token.
        store::consents::delete_pending_codes(conn, user_id, client_id)?;
        for jti in store::consents::code_issued_jtis(conn, user_id, client_id, at)? {
            store::grants::revoke_access_token(conn, &jti, deny_until)?;
        }
        let now = now.naive_utc();
        for family in store::consents::live_families(conn, user_id, client_id, now)? {
            Self::revoke_family_blocking(conn, &family, now, deny_until)?;
        }
        Ok(())
    }
}

/// `tokens_revoked_at` is kept to the whole second, rounded down, because
/// `iat` has whole seconds only (RFC 7519 §2 NumericDate, as we issue it):
/// a token dies when `iat < tokens_revoked_at`. Rounding down lets a token
/// issued in the same second as the revocation live, so a sign-in right
/// after a password change works; a token issued in that second just
/// before the change is the price, and if it belongs to a refresh family
/// it is denied by its `jti` anyway.
pub fn tokens_revoked_at(now: DateTime<Utc>) -> NaiveDateTime {
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now).naive_utc()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn revocation_time_is_rounded_down_to_the_second_of_iat() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 7).unwrap() + chrono::Duration::milliseconds(900);
        let at = tokens_revoked_at(now);
        assert_eq!(at, Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 7).unwrap().naive_utc());
        // A token signed in the same second (iat = 12:00:07) is not before it.
        assert!(DateTime::from_timestamp(now.timestamp(), 0).unwrap().naive_utc() >= at);
    }
}
