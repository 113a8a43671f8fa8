//! Rows as diesel reads and writes them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{login_failures, memberships, organizations, sessions, users};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    pub password_changed_at: NaiveDateTime,
    /// Set while an operator has disabled the user (`portcullis user disable`).
    pub disabled_at: Option<NaiveDateTime>,
    /// When the owner followed the verification link sent to the address.
    pub email_verified_at: Option<NaiveDateTime>,
    /// Made by an operator (`portcullis user create`), who vouches for the
    /// address: the person may invite others before verifying it. Not
    /// `email_verified` (ID tokens say that only of a followed link).
    pub made_by_operator: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub token_digest: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_failures)]
pub struct LoginFailureRow {
    pub id: String,
    pub throttle_key: String,
    pub failed_at: NaiveDateTime,
}

/// A signing key; `private_key_encrypted` is sealed under the master key
/// (see `tokens::signing`), never the key itself.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::signing_keys)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    pub state: String,
    pub public_jwk: String,
    pub private_key_encrypted: String,
    pub created_at: NaiveDateTime,
    pub activated_at: Option<NaiveDateTime>,
    pub retired_at: Option<NaiveDateTime>,
}
