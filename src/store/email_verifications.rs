//! Email-verification links: stored by the SHA-256 digest of their token,
//! used once by a conditional UPDATE that marks the address verified.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{email_verifications, users};
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = email_verifications)]
pub struct EmailVerificationRow {
    pub token_digest: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &EmailVerificationRow) -> Result<(), StoreError> {
    diesel::insert_into(email_verifications::table).values(row).execute(conn)?;
    Ok(())
}

/// The user of a link still usable at `now` (not used, not expired).
pub fn find_usable(
    conn: &mut DbConnection,
    token_digest: &str,
    now: NaiveDateTime,
) -> Result<Option<String>, StoreError> {
    Ok(email_verifications::table
        .find(token_digest)
        .filter(email_verifications::used_at.is_null())
        .filter(email_verifications::expires_at.gt(now))
        .select(email_verifications::user_id)
        .first(conn)
        .optional()?)
}

/// Uses the link and marks its user's address verified, in one
/// transaction; the user's id when this call won the link.
pub fn consume(conn: &mut DbConnection, token_digest: &str, now: NaiveDateTime) -> Result<Option<String>, StoreError> {
    super::write_transaction(conn, |c| {
        let Some(user_id) = find_usable(c, token_digest, now)? else { return Ok(None) };
        let won = diesel::update(
            email_verifications::table
                .find(token_digest)
                .filter(email_verifications::used_at.is_null())
                .filter(email_verifications::expires_at.gt(now)),
        )
        .set(email_verifications::used_at.eq(now))
        .execute(c)?;
        if won != 1 {
            return Ok(None);
        }
        diesel::update(users::table.find(&user_id).filter(users::email_verified_at.is_null()))
            .set(users::email_verified_at.eq(now))
            .execute(c)?;
        Ok(Some(user_id))
    })
}

/// When the user's latest link was made, if any: resending waits a little.
pub fn latest_for_user(conn: &mut DbConnection, user_id: &str) -> Result<Option<NaiveDateTime>, StoreError> {
    Ok(email_verifications::table
        .filter(email_verifications::user_id.eq(user_id))
        .select(diesel::dsl::max(email_verifications::created_at))
        .first::<Option<NaiveDateTime>>(conn)?)
}
