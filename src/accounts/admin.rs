//! What an operator does to accounts (the `portcullis` command line):
//! organizations created and renamed, users listed, disabled and enabled,
//! members added, every session of a user ended. The HTTP layer calls the
//! same functions where it does the same thing.

use chrono::{DateTime, Utc};

use super::{Accounts, AccountsError, MembershipRow, Organization, OrganizationRow, Role, User, new_id, validate};
use crate::audit::Origin;
use crate::store::{self, StoreError};

/// A user as an operator sees them: whether they are disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAccount {
    pub user: User,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<store::models::UserRow> for UserAccount {
    fn from(r: store::models::UserRow) -> Self {
        let disabled_at = r.disabled_at.map(|t| t.and_utc());
        Self { user: r.into(), disabled_at }
    }
}

impl Accounts {
    /// A new organization with no members yet.
    pub async fn create_organization(&self, name: &str) -> Result<Organization, AccountsError> {
        let name = validate::organization_name(name).map_err(AccountsError::Validation)?;
        let row = OrganizationRow { id: new_id(), name, created_at: self.now() };
        let r = row.clone();
        self.store.run(move |conn| store::orgs::insert_organization(conn, &r)).await?;
        Ok(row.into())
    }

    /// Renames an organization: its name before, or `None` when there is no
    /// organization with that id.
    pub async fn rename_organization(&self, id: &str, name: &str) -> Result<Option<String>, AccountsError> {
        let name = validate::organization_name(name).map_err(AccountsError::Validation)?;
        let id = id.to_owned();
        let old = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    let Some(org) = store::orgs::find_organization(c, &id)? else { return Ok(None) };
                    store::orgs::rename_organization(c, &id, &name)?;
                    Ok(Some(org.name))
                })
            })
            .await?;
        self.caught_up().await;
        Ok(old)
    }

    /// The user with this email (case-insensitively), disabled or not.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserAccount>, AccountsError> {
        let normalized = validate::normalize_email(email);
        let found = self.store.run(move |conn| store::users::find_user_by_email(conn, &normalized)).await?;
        Ok(found.map(UserAccount::from))
    }

    /// Every user, oldest first.
    pub async fn all_users(&self) -> Result<Vec<UserAccount>, AccountsError> {
        let rows = self.store.run(store::users::list_users).await?;
        Ok(rows.into_iter().map(UserAccount::from).collect())
    }

    /// Adds an existing user to an organization with `role`. A user who is
    /// a member already is refused: their role changes with `change_role`.
    pub async fn add_member(&self, organization_id: &str, user_id: &str, role: Role) -> Result<(), AccountsError> {
        let row = MembershipRow {
            organization_id: organization_id.to_owned(),
            user_id: user_id.to_owned(),
            role: role.as_str().into(),
            created_at: self.now(),
        };
        self.store.run(move |conn| store::orgs::insert_membership(conn, &row)).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                AccountsError::Validation("The user is a member already; change their role instead.".into())
            }
            StoreError::ForeignKey(_) => AccountsError::Validation("No such user or organization.".into()),
            other => other.into(),
        })?;
        self.caught_up().await;
        Ok(())
    }

    /// Disables a user: sign-in is refused (as a wrong password is), every
    /// session and token of theirs ends now, and their API keys and
    /// management apps act for nobody while it lasts (the store and
    /// `authority` read `disabled_at`). False when they were disabled
    /// already (their sessions are ended again all the same).
    pub async fn disable_user(&self, user_id: &str) -> Result<bool, AccountsError> {
        let (uid, now) = (user_id.to_owned(), self.now());
        let sign_out = self.sign_out_everywhere();
        let (changed, ended) = self
            .store
            .run(move |conn| {
                store::write_transaction(conn, |c| {
                    let changed = store::users::set_disabled(c, &uid, Some(now))?;
                    // The tokens their management apps hold end too, so that
                    // `enable` brings none back (attacker round 11, finding 7).
                    store::clients::cut_tokens_of_apps_by(c, &uid, now)?;
                    Ok((changed, sign_out(c, &uid, None)?))
                })
            })
            .await?;
        self.sessions_ended(ended);
        self.caught_up().await;
        Ok(changed)
    }

    /// Lets a disabled user sign in again. What ended when they were
    /// disabled (sessions, tokens) stays ended. False when they were not
    /// disabled.
    pub async fn enable_user(&self, user_id: &str) -> Result<bool, AccountsError> {
        let uid = user_id.to_owned();
        let changed = self.store.run(move |conn| store::users::set_disabled(conn, &uid, None)).await?;
        self.caught_up().await;
        Ok(changed)
    }

    /// Signs a user out everywhere: every browser session (their apps told
    /// on the back channel) and every token. Returns how many sessions ended.
    pub async fn end_every_session(&self, user_id: &str) -> Result<usize, AccountsError> {
        let uid = user_id.to_owned();
        let sign_out = self.sign_out_everywhere();
        let ended = self.store.run(move |conn| store::write_transaction(conn, |c| sign_out(c, &uid, None))).await?;
        let count = ended.len();
        self.sessions_ended(ended);
        self.caught_up().await;
        Ok(count)
    }

    /// Records an event about a user in each organization they belong to
    /// (an audit event belongs to an organization; a user belongs to no one
    /// of them alone). Returns how many organizations it was recorded in:
    /// none for a user who belongs to none.
    pub async fn audit_user_event(
        &self,
        user_id: &str,
        action: &str,
        origin: &Origin,
        details: serde_json::Value,
    ) -> Result<usize, AccountsError> {
        let memberships = self.memberships(user_id).await?;
        for m in &memberships {
            crate::audit::record(
                &self.store,
                self.clock.now(),
                &m.organization.id,
                action,
                origin,
                Some(user_id),
                details.clone(),
            )
            .await;
        }
        Ok(memberships.len())
    }
}
