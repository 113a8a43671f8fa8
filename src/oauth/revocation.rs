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

/// `tokens_revoked_at` is kept to the millisecond, as a token's `jti`
/// tells when it was made (`service::new_jti`): a token dies when it was
/// made before the revocation, even in the same second (attacker round 4,
/// M-3: whole seconds let a token made just before a demotion live), and a
/// sign-in right after a password change works. A token whose id tells no
/// time (from before) is judged by its `iat` second, which dies whole.
pub fn tokens_revoked_at(now: DateTime<Utc>) -> NaiveDateTime {
    let below_ms = now.timestamp_subsec_nanos() % 1_000_000;
    (now - chrono::Duration::nanoseconds(i64::from(below_ms))).naive_utc()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn revocation_time_is_kept_to_the_millisecond_of_token_ids() {
        use crate::oauth::service::{issued_instant, new_jti};
        let second = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 7).unwrap();
        let now = second + chrono::Duration::microseconds(900_450);
        let at = tokens_revoked_at(now);
        assert_eq!(at, (second + chrono::Duration::milliseconds(900)).naive_utc());
        let iat = now.timestamp();
        let made = |t| issued_instant(&new_jti(t), iat).unwrap();
        // Made a moment before, in the same second: before the revocation.
        assert!(made(now - chrono::Duration::milliseconds(3)) < at);
        // Made at the revocation or after: not before it.
        assert!(made(now) >= at);
        // A token whose id tells no time is judged by its iat second.
        assert!(issued_instant("c0b3c1b2-6a4e-4f5e-9d0b-6c5f3e2d1a00", iat).unwrap() < at);
    }
}
