//! The one way a refresh-token family is revoked (reuse, code replay,
//! RFC 7009 revocation, logout): always with its access tokens.

use chrono::NaiveDateTime;

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
}
