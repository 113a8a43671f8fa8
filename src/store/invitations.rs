//! Invitations: found by token digest, used once by one conditional UPDATE.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{MembershipRow, OrganizationRow};
use super::schema::{invitations, memberships, organizations};
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct InvitationRow {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub email_normalized: String,
    pub role: String,
    pub token_digest: String,
    pub invited_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub accepted_by: Option<String>,
    pub revoked_at: Option<NaiveDateTime>,
    /// The API key it was sent through: accepted only while that key lives.
    pub made_by_key: Option<String>,
}

pub fn insert_invitation(conn: &mut DbConnection, row: &InvitationRow) -> Result<(), StoreError> {
    diesel::insert_into(invitations::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_by_digest(
    conn: &mut DbConnection,
    digest: &str,
) -> Result<Option<(InvitationRow, OrganizationRow)>, StoreError> {
    Ok(invitations::table
        .inner_join(organizations::table)
        .filter(invitations::token_digest.eq(digest))
        .select((InvitationRow::as_select(), OrganizationRow::as_select()))
        .first(conn)
        .optional()?)
}

/// Pending invitations of an organization, newest first, after the
/// invitation `after`; `None` when that cursor is not one of theirs.
pub fn list_pending(
    conn: &mut DbConnection,
    organization_id: &str,
    now: NaiveDateTime,
    after: Option<&str>,
    limit: i64,
) -> Result<Option<Vec<InvitationRow>>, StoreError> {
    let cursor = match after {
        Some(id) => {
            let found = invitations::table
                .filter(invitations::organization_id.eq(organization_id))
                .filter(invitations::id.eq(id))
                .select((invitations::created_at, invitations::id))
                .first::<(NaiveDateTime, String)>(conn)
                .optional()?;
            match found {
                Some(c) => Some(c),
                None => return Ok(None),
            }
        }
        None => None,
    };
    let mut q = invitations::table
        .filter(invitations::organization_id.eq(organization_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .order((invitations::created_at.desc(), invitations::id.desc()))
        .limit(limit)
        .select(InvitationRow::as_select())
        .into_boxed();
    if let Some((at, id)) = cursor {
        q = q.filter(invitations::created_at.lt(at).or(invitations::created_at.eq(at).and(invitations::id.lt(id))));
    }
    Ok(Some(q.load(conn)?))
}

pub fn revoke(
    conn: &mut DbConnection,
    organization_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        invitations::table
            .filter(invitations::organization_id.eq(organization_id))
            .filter(invitations::id.eq(id))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(now))
    .execute(conn)?
        == 1)
}

/// Revokes the pending invitations `user_id` sent, in every organization
/// (their account is being deleted: the rows would lose their sender, and
/// an acceptance could no longer check the sender's power).
pub fn revoke_sent_by(conn: &mut DbConnection, user_id: &str, now: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::update(
        invitations::table
            .filter(invitations::invited_by.eq(user_id))
            .filter(invitations::accepted_at.is_null())
            .filter(invitations::revoked_at.is_null()),
    )
    .set(invitations::revoked_at.eq(now))
    .execute(conn)?)
}

/// What became of an acceptance.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// The one acceptance that won: the membership is new.
    Joined,
    /// The acceptance won, but the person was a member already (another
    /// invitation, accepted a moment before): their role stays.
    AlreadyMember,
    /// Used, revoked or expired meanwhile.
    Gone,
    /// The sender no longer holds the power the invitation carries.
    SenderPowerless,
    /// The API key it was sent through was revoked or has expired.
    KeyEnded,
    /// The accepting account was deleted or disabled meanwhile (its
    /// deletion committed first): the invitation stays pending.
    AccepterGone,
}

/// Uses the invitation and adds the membership, in one transaction that
/// first reads the sender's role with their membership row locked
/// (`sender_may` judges it): a demotion or removal of the sender commits
/// either before (and the invitation dies) or after the new member is in
/// (and then it is the sender's later loss of power, not the invitation's).
pub fn accept(
    conn: &mut DbConnection,
    id: &str,
    membership: &MembershipRow,
    now: NaiveDateTime,
    sender: Option<&str>,
    sender_may: impl Fn(Option<&str>) -> bool,
) -> Result<Accepted, StoreError> {
    super::write_transaction(conn, |c| {
        // Sent through a key: that key's line is locked and must be live.
        let through: Option<Option<String>> =
            invitations::table.find(id).select(invitations::made_by_key).first(c).optional()?;
        if let Some(key) = through.flatten()
            && super::api_keys::live_key_until(c, &key, now)?.is_err()
        {
            return Ok(Accepted::KeyEnded);
        }
        if let Some(sender) = sender {
            let of_sender = memberships::table
                .filter(memberships::organization_id.eq(&membership.organization_id))
                .filter(memberships::user_id.eq(sender))
                .select(memberships::role);
            let role: Option<String> = match c {
                DbConnection::Postgresql(pg) => of_sender.for_share().first(pg).optional()?,
                // The immediate transaction already holds the write lock.
                DbConnection::Sqlite(sqlite) => of_sender.first(sqlite).optional()?,
            };
            // A disabled sender (`portcullis user disable`) holds no power either.
            let role = if super::users::is_disabled(c, sender)? { None } else { role };
            if !sender_may(role.as_deref()) {
                return Ok(Accepted::SenderPowerless);
            }
        }
        // The accepting user's row, held against their account's deletion
        // (which locks it after the owner rows, as this does after the
        // sender's): a deletion that committed first leaves nothing to join.
        if !super::users::active_held(c, &membership.user_id)? {
            return Ok(Accepted::AccepterGone);
        }
        let n = diesel::update(
            invitations::table
                .filter(invitations::id.eq(id))
                .filter(invitations::accepted_at.is_null())
                .filter(invitations::revoked_at.is_null())
                .filter(invitations::expires_at.gt(now)),
        )
        .set((invitations::accepted_at.eq(now), invitations::accepted_by.eq(&membership.user_id)))
        .execute(c)?;
        if n != 1 {
            return Ok(Accepted::Gone);
        }
        // Already a member keeps their role; two acceptances of one user at
        // once (two invitations) must not both insert.
        let inserted = match c {
            DbConnection::Postgresql(pg) => {
                diesel::insert_into(memberships::table).values(membership).on_conflict_do_nothing().execute(pg)?
            }
            DbConnection::Sqlite(sqlite) => {
                diesel::insert_or_ignore_into(memberships::table).values(membership).execute(sqlite)?
            }
        };
        Ok(if inserted == 1 { Accepted::Joined } else { Accepted::AlreadyMember })
    })
}
