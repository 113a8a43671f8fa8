//! A person deleting their own account: confirmed with the current
//! password, refused while they are the last OWNER of an organization that
//! would be left without one, and otherwise everything of theirs ends at
//! once, in one transaction.

use super::members::leave_blocking;
use super::passwords::Verified;
use super::{Accounts, AccountsError, CurrentSession, Membership, Organization, Role, membership};
use crate::audit::Origin;
use crate::store::{self, StoreError};

/// What a deletion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountDeletion {
    /// The user is gone: `left` are the organizations they left (each told
    /// in its audit log as `user.deleted`); `deleted` the organizations
    /// that were theirs alone, empty but for them, and went with them.
    Deleted { left: Vec<Membership>, deleted: Vec<Organization> },
    /// Nothing changed: the user is the last OWNER of `0`, which has other
    /// members or data (API keys, OAuth apps) that would be left without an
    /// OWNER.
    LastOwner(Organization),
}

/// Why an organization keeps its last OWNER, or whether it goes with them.
enum OwnerCheck {
    Stays,
    GoesWithUser,
    Blocks,
}

fn check_owner(conn: &mut store::DbConnection, organization_id: &str, role: Role) -> Result<OwnerCheck, StoreError> {
    if role != Role::Owner || store::orgs::count_owners(conn, organization_id)? > 1 {
        return Ok(OwnerCheck::Stays);
    }
    if store::orgs::count_members(conn, organization_id)? > 1 || store::orgs::holds_data(conn, organization_id)? {
        return Ok(OwnerCheck::Blocks);
    }
    Ok(OwnerCheck::GoesWithUser)
}

/// Within the deleting transaction, holds what makes the last-OWNER check
/// true until it commits (PostgreSQL row locks; SQLite's immediate
/// transaction holds the whole database already):
/// - each organization's OWNER rows (`FOR UPDATE`), so no owner is demoted
///   or removed, as `change_role` and `remove_member` lock them too;
/// - each organization's row (`FOR UPDATE`), so no one joins it (a new
///   membership's foreign key locks its organization's row), and one that
///   goes with the user goes empty;
/// - the user's row (`FOR UPDATE`), so the user joins nothing more (a new
///   membership's foreign key locks its user's row too) and the
///   organizations read are all there are.
///
/// Owners before organizations before the user, the order an acceptance
/// takes its locks in (the sender's membership, then the new membership's
/// rows), so the two wait for each other rather than deadlock. An
/// organization joined before the user's row was held is locked in turn.
fn hold_what_the_check_reads(conn: &mut store::DbConnection, user_id: &str) -> Result<(), StoreError> {
    let organizations_of = |conn: &mut store::DbConnection| -> Result<Vec<String>, StoreError> {
        Ok(store::orgs::memberships_of_user(conn, user_id)?.into_iter().map(|(m, _)| m.organization_id).collect())
    };
    let hold = |conn: &mut store::DbConnection, organization_id: &str| -> Result<(), StoreError> {
        store::orgs::lock_owners(conn, organization_id)?;
        store::orgs::lock_organization(conn, organization_id)
    };
    let before = organizations_of(conn)?;
    for organization_id in &before {
        hold(conn, organization_id)?;
    }
    store::users::lock_user(conn, user_id)?;
    // Read under the user's lock: complete.
    for organization_id in organizations_of(conn)?.iter().filter(|o| !before.contains(o)) {
        hold(conn, organization_id)?;
    }
    Ok(())
}

impl Accounts {
    /// The organizations that keep the user from deleting their account
    /// now: those of which they are the last OWNER, with other members or
    /// data (what `delete_account` would refuse for).
    pub async fn organizations_keeping_account(&self, user_id: &str) -> Result<Vec<Organization>, AccountsError> {
        let uid = user_id.to_owned();
        let found = self
            .store
            .run(move |conn| {
                let mut keeping = Vec::new();
                for (m, org) in store::orgs::memberships_of_user(conn, &uid)? {
                    let m = membership(m, org)?;
                    if let OwnerCheck::Blocks = check_owner(conn, &m.organization.id, m.role)? {
                        keeping.push(m.organization);
                    }
                }
                Ok(keeping)
            })
            .await?;
        Ok(found)
    }

    /// Deletes the account of the signed-in user after checking
    /// `password` (throttled like a sign-in): in one transaction, every
    /// session (this one too) and token of theirs ends, they leave each
    /// organization as a removed member does (their API keys revoked,
    /// their apps' management power ended), an organization that was
    /// theirs alone goes too, and the user row goes with their consents,
    /// pairwise subjects and password resets (the schema's cascades).
    /// Refused, with nothing changed, while they are the last OWNER of an
    /// organization that has other members or data.
    pub async fn delete_account(
        &self,
        session: &CurrentSession,
        password: &str,
        origin: &Origin,
    ) -> Result<AccountDeletion, AccountsError> {
        let user_id = session.user.id.clone();
        let verify = |stored: String| async move {
            let verified = self.passwords.verify(Some(&stored), password).await?;
            Ok(matches!(verified, Verified::Right { .. }).then_some(()))
        };
        self.check_current_password(&user_id, verify).await?;
        let sign_out = self.sign_out_everywhere();
        let now = self.now();
        let uid = user_id.clone();
        let outcome = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    hold_what_the_check_reads(c, &uid)?;
                    let (mut left, mut deleted) = (Vec::new(), Vec::new());
                    for (m, org) in store::orgs::memberships_of_user(c, &uid)? {
                        let m = membership(m, org)?;
                        match check_owner(c, &m.organization.id, m.role)? {
                            OwnerCheck::Blocks => return Ok((AccountDeletion::LastOwner(m.organization), Vec::new())),
                            OwnerCheck::Stays => left.push(m),
                            OwnerCheck::GoesWithUser => deleted.push(m.organization),
                        }
                    }
                    let ended = sign_out(c, &uid, None)?;
                    for m in &left {
                        leave_blocking(c, &m.organization.id, &uid, now)?;
                    }
                    for org in &deleted {
                        store::orgs::delete_organization(c, &org.id)?;
                    }
                    store::invitations::revoke_sent_by(c, &uid, now)?;
                    store::users::delete_user(c, &uid)?;
                    Ok((AccountDeletion::Deleted { left, deleted }, ended))
                })
            })
            .await?;
        let (outcome, ended) = outcome;
        self.sessions_ended(ended);
        self.caught_up().await;
        if let AccountDeletion::Deleted { left, .. } = &outcome {
            for m in left {
                let details = serde_json::json!({ "role": m.role.as_str() });
                let org = &m.organization.id;
                crate::audit::record(
                    &self.store,
                    self.clock.now(),
                    org,
                    "user.deleted",
                    origin,
                    Some(&user_id),
                    details,
                )
                .await;
            }
        }
        Ok(outcome)
    }
}
