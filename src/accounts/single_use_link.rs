//! Single-use links (email verification, password reset): a 256-bit token
//! shown once in the link, only its SHA-256 digest stored, used once by a
//! conditional UPDATE, for a fixed lifetime. One shape over each link's
//! own table.

use chrono::{Duration, NaiveDateTime};

use crate::store::email_verifications::EmailVerificationRow;
use crate::store::password_resets::PasswordResetRow;
use crate::tokens::opaque;

/// No token we issue is longer: longer input is refused unread.
const MAX_TOKEN_LENGTH: usize = 128;

/// A row of a single-use link's table.
pub(super) trait LinkRow {
    fn unused(token_digest: String, user_id: String, created_at: NaiveDateTime, expires_at: NaiveDateTime) -> Self;
}

macro_rules! link_row {
    ($row:ty) => {
        impl LinkRow for $row {
            fn unused(
                token_digest: String,
                user_id: String,
                created_at: NaiveDateTime,
                expires_at: NaiveDateTime,
            ) -> Self {
                Self { token_digest, user_id, created_at, expires_at, used_at: None }
            }
        }
    };
}

link_row!(EmailVerificationRow);
link_row!(PasswordResetRow);

/// A new link for `user_id`, working for `lifetime` from `now`: its token
/// (returned this once) and its row.
pub(super) fn new_link<R: LinkRow>(user_id: &str, now: NaiveDateTime, lifetime: Duration) -> (String, R) {
    let token = opaque::random_secret();
    let row = R::unused(opaque::digest(&token), user_id.to_owned(), now, now + lifetime);
    (token, row)
}

/// The digest a link is stored by, or `None` for what no link could be.
pub(super) fn digest_of(token: &str) -> Option<String> {
    (!token.is_empty() && token.len() <= MAX_TOKEN_LENGTH).then(|| opaque::digest(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_link_stores_only_its_digest_and_expires_after_its_lifetime() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap().naive_utc();
        let (token, row): (String, PasswordResetRow) = new_link("u1", now, Duration::minutes(30));
        assert_eq!(row.token_digest, opaque::digest(&token));
        assert_ne!(row.token_digest, token);
        assert_eq!(
            (row.user_id.as_str(), row.created_at, row.expires_at, row.used_at),
            ("u1", now, now + Duration::minutes(30), None)
        );
        assert_eq!(digest_of(&token), Some(row.token_digest));
        assert_eq!(digest_of(""), None);
        assert_eq!(digest_of(&"a".repeat(MAX_TOKEN_LENGTH + 1)), None);
    }
}
