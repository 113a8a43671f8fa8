//! Managing an organization's people on behalf of a [`Principal`]: the
//! checks, the change and its audit event, once, for `/v1/members`,
//! `/v1/invitations` and the dashboard's members page alike.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::accounts::invitations::Invitation;
use crate::accounts::members::Asker;
use crate::accounts::{Accounts, AccountsError, Role};
use crate::audit::Origin;
use crate::authority::{Denied, Principal};
use crate::store::Store;

/// Why a change to the organization's people was refused.
#[derive(Debug)]
pub enum PeopleError {
    /// The credential lacks this broad scope (and its resource scope).
    MissingScope(&'static str),
    /// Its power does not reach that far (assigning a role above its own,
    /// a machine managing members) or the role is not one.
    Denied(Denied),
    /// No such member or pending invitation in this organization.
    NotFound(&'static str),
    /// The organization's rules (the last OWNER stays; only an OWNER makes
    /// an OWNER; a valid email), or the store.
    Accounts(AccountsError),
}

impl From<Denied> for PeopleError {
    fn from(d: Denied) -> Self {
        Self::Denied(d)
    }
}

impl From<AccountsError> for PeopleError {
    fn from(e: AccountsError) -> Self {
        Self::Accounts(e)
    }
}

/// A principal acting on its organization's people, with the context the
/// audit events need.
pub struct Acting<'a> {
    pub accounts: &'a Accounts,
    pub store: &'a Store,
    pub principal: &'a Principal,
    pub origin: Origin,
    pub now: DateTime<Utc>,
}

/// The link an invitation's token opens (`/invitations/{token}`).
pub fn invitation_url(issuer: &str, token: &str) -> String {
    format!("{issuer}/invitations/{token}")
}

impl Acting<'_> {
    /// Managing members takes `admin` or `members:write`.
    fn require_members_write(&self) -> Result<(), PeopleError> {
        if self.principal.allows("admin", Some("members:write")) {
            Ok(())
        } else {
            Err(PeopleError::MissingScope("admin"))
        }
    }

    /// The asker of a membership change that gives `role`, once the
    /// credential may give it; the store checks the member's role again.
    fn asker(&self, role: Role) -> Result<Asker, PeopleError> {
        let carried = self.principal.may_assign_role(role)?;
        let user_id = self.principal.user_id.clone().ok_or(PeopleError::MissingScope("admin"))?;
        Ok(Asker::Member { user_id, role: carried })
    }

    fn parse_role(role: &str) -> Result<Role, PeopleError> {
        role.parse().map_err(|e| PeopleError::Denied(Denied::Invalid(e)))
    }

    async fn audit(&self, action: &str, target: &str, details: serde_json::Value) {
        let org = &self.principal.organization_id;
        crate::audit::record(self.store, self.now, org, action, &self.origin, Some(target), details).await;
    }

    /// Makes member `user_id` `role`; returns the role before.
    pub async fn change_role(&self, user_id: &str, role: &str) -> Result<Role, PeopleError> {
        self.require_members_write()?;
        let role = Self::parse_role(role)?;
        let asker = self.asker(role)?;
        let org = &self.principal.organization_id;
        let old = self.accounts.change_role(org, user_id, role, asker).await?.ok_or(PeopleError::NotFound("member"))?;
        self.audit("member.role_changed", user_id, json!({ "from": old.as_str(), "to": role.as_str() })).await;
        Ok(old)
    }

    /// Removes member `user_id` (their keys are revoked and their apps
    /// lose management); returns the role they had.
    pub async fn remove_member(&self, user_id: &str) -> Result<Role, PeopleError> {
        self.require_members_write()?;
        // Removing needs the same standing as assigning the lowest role.
        let asker = self.asker(Role::Viewer)?;
        let org = &self.principal.organization_id;
        let old = self.accounts.remove_member(org, user_id, asker).await?.ok_or(PeopleError::NotFound("member"))?;
        self.audit("member.removed", user_id, json!({ "role": old.as_str() })).await;
        Ok(old)
    }

    /// Invites `email` as `role`: the invitation and its token (shown once).
    pub async fn invite(&self, email: &str, role: &str) -> Result<(Invitation, String), PeopleError> {
        self.require_members_write()?;
        let role = Self::parse_role(role)?;
        let actor = self.principal.may_assign_role(role)?;
        let p = self.principal;
        let key = p.key.as_ref().map(|k| k.id.clone());
        let (invitation, token) =
            self.accounts.invite_through(&p.organization_id, email, role, p.user_id.clone(), Some(actor), key).await?;
        let details = json!({ "email": invitation.email, "role": role.as_str(), "emailed": invitation.emailed });
        self.audit("member.invited", &invitation.id, details).await;
        Ok((invitation, token))
    }

    /// Revokes the pending invitation `id`: its link stops working.
    pub async fn revoke_invitation(&self, id: &str) -> Result<(), PeopleError> {
        self.require_members_write()?;
        self.principal.may_assign_role(Role::Viewer)?;
        if !self.accounts.revoke_invitation(&self.principal.organization_id, id).await? {
            return Err(PeopleError::NotFound("pending invitation"));
        }
        self.audit("member.invitation_revoked", id, json!({})).await;
        Ok(())
    }
}

/// The roles `principal` may give, highest first (a page's select); none
/// without the power to manage members.
pub fn assignable_roles(principal: &Principal) -> Vec<Role> {
    if !principal.allows("admin", Some("members:write")) {
        return Vec::new();
    }
    Role::ALL.into_iter().filter(|r| principal.may_assign_role(*r).is_ok()).collect()
}
