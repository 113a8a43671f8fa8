//! An organization's members: listing, role changes, removal. An
//! organization always keeps at least one OWNER, and only an OWNER may
//! make or unmake one.

use super::{Accounts, AccountsError, Role, User};
use crate::store::{self, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

fn parse_role(s: &str) -> Result<Role, StoreError> {
    s.parse().map_err(|e| StoreError::Other(format!("membership: {e}")))
}

/// Why a change is refused, as the caller should read it.
fn refuse(refusal: Refusal) -> AccountsError {
    match refusal {
        Refusal::Rule(message) => AccountsError::Validation(message.to_owned()),
        Refusal::Powerless(message) => AccountsError::Powerless(message),
    }
}

enum Refusal {
    /// The organization's rules (the last OWNER stays, …).
    Rule(&'static str),
    /// The asker's standing, as it is now, does not reach that far.
    Powerless(String),
}

/// Who asks for a change of membership.
#[derive(Debug, Clone)]
pub enum Asker {
    /// The server's operator (the CLI): an OWNER's power.
    Operator,
    /// A member, with the role their credential carried when the request
    /// began. The role is read again under the lock that orders membership
    /// changes: a demotion or removal that committed while the request was
    /// on its way is what counts, so a request sent as OWNER cannot undo
    /// the demotion that overtook it.
    Member { user_id: String, role: Role },
}

impl Asker {
    /// The asker's power now, within the locked transaction: the lower of
    /// the credential's role and the current one; refused when that role
    /// may not manage members at all or cannot give `role`.
    fn power_now(
        &self,
        conn: &mut store::DbConnection,
        organization_id: &str,
        role: Role,
    ) -> Result<Result<Role, Refusal>, StoreError> {
        let Asker::Member { user_id, role: carried } = self else { return Ok(Ok(Role::Owner)) };
        let now = match store::orgs::find_membership(conn, organization_id, user_id)? {
            Some(m) => parse_role(&m.role)?.min(*carried),
            None => return Ok(Err(Refusal::Powerless("You are no longer a member of this organization.".into()))),
        };
        if !crate::apikeys::policy::role_allows(now, "members:write") {
            return Ok(Err(Refusal::Powerless(format!("Your role is now {now}: it does not manage members."))));
        }
        if role > now {
            return Ok(Err(Refusal::Powerless(format!("Your role is now {now}: it cannot make {role}."))));
        }
        Ok(Ok(now))
    }
}

impl Accounts {
    /// A page of members, oldest first; `None` when the cursor is unknown.
    pub async fn members(
        &self,
        organization_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<Member>>, AccountsError> {
        let (org, after) = (organization_id.to_owned(), after.map(str::to_owned));
        let rows = self.store.run(move |conn| store::orgs::members_page(conn, &org, after.as_deref(), limit)).await?;
        let Some(rows) = rows else { return Ok(None) };
        let members = rows
            .into_iter()
            .map(|(m, u)| Ok(Member { role: parse_role(&m.role)?, joined_at: m.created_at.and_utc(), user: u.into() }))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(members))
    }

    pub async fn member(&self, organization_id: &str, user_id: &str) -> Result<Option<Member>, AccountsError> {
        let (org, uid) = (organization_id.to_owned(), user_id.to_owned());
        let found = self
            .store
            .run(move |conn| {
                let m = store::orgs::find_membership(conn, &org, &uid)?;
                let u = store::users::find_user(conn, &uid)?;
                Ok(m.zip(u))
            })
            .await?;
        Ok(match found {
            Some((m, u)) => {
                Some(Member { role: parse_role(&m.role)?, joined_at: m.created_at.and_utc(), user: u.into() })
            }
            None => None,
        })
    }

    /// Changes a member's role on behalf of `asker`.
    /// Returns the role before, or `None` when there is no such member.
    /// A real change ends the member's tokens: they were issued under the
    /// old role (DESIGN invariant 10).
    pub async fn change_role(
        &self,
        organization_id: &str,
        user_id: &str,
        new: Role,
        asker: Asker,
    ) -> Result<Option<Role>, AccountsError> {
        let (org, uid) = (organization_id.to_owned(), user_id.to_owned());
        let revoke_tokens = self.revoke_user_tokens();
        let outcome = self
            .store
            .run(move |conn| {
                store::orgs::with_owners_locked(conn, &org.clone(), |c| {
                    let actor = match asker.power_now(c, &org, new)? {
                        Ok(actor) => actor,
                        Err(refusal) => return Ok(Err(refusal)),
                    };
                    let Some(m) = store::orgs::find_membership(c, &org, &uid)? else { return Ok(Ok(None)) };
                    let old = parse_role(&m.role)?;
                    if (old == Role::Owner || new == Role::Owner) && actor != Role::Owner {
                        return Ok(Err(Refusal::Rule("Only an OWNER can make or unmake an OWNER.")));
                    }
                    if old == Role::Owner && new != Role::Owner && store::orgs::count_owners(c, &org)? <= 1 {
                        return Ok(Err(Refusal::Rule(
                            "The last OWNER cannot be demoted; make another member OWNER first.",
                        )));
                    }
                    if old != new {
                        store::orgs::set_role(c, &org, &uid, new.as_str())?;
                        revoke_tokens(c, &uid)?;
                    }
                    Ok(Ok(Some(old)))
                })
            })
            .await?;
        self.caught_up().await;
        outcome.map_err(refuse)
    }

    /// Removes a member; same OWNER rules as `change_role`. Every token of
    /// the removed user ends with the membership, and so do the API keys
    /// they made there and the management power of their apps.
    pub async fn remove_member(
        &self,
        organization_id: &str,
        user_id: &str,
        asker: Asker,
    ) -> Result<Option<Role>, AccountsError> {
        let (org, uid) = (organization_id.to_owned(), user_id.to_owned());
        let revoke_tokens = self.revoke_user_tokens();
        let now = self.clock.now().naive_utc();
        let outcome = self
            .store
            .run(move |conn| {
                store::orgs::with_owners_locked(conn, &org.clone(), |c| {
                    // Removing needs the standing of one who assigns the lowest role.
                    let actor = match asker.power_now(c, &org, Role::Viewer)? {
                        Ok(actor) => actor,
                        Err(refusal) => return Ok(Err(refusal)),
                    };
                    let Some(m) = store::orgs::find_membership(c, &org, &uid)? else { return Ok(Ok(None)) };
                    let old = parse_role(&m.role)?;
                    if old == Role::Owner && actor != Role::Owner {
                        return Ok(Err(Refusal::Rule("Only an OWNER can remove an OWNER.")));
                    }
                    if old == Role::Owner && store::orgs::count_owners(c, &org)? <= 1 {
                        return Ok(Err(Refusal::Rule("The last OWNER cannot be removed.")));
                    }
                    revoke_tokens(c, &uid)?;
                    leave_blocking(c, &org, &uid, now)?;
                    Ok(Ok(Some(old)))
                })
            })
            .await?;
        self.caught_up().await;
        outcome.map_err(refuse)
    }
}

/// Ends a membership and what the member made in the organization, on the
/// caller's connection so it joins the caller's transaction (the member's
/// tokens are the caller's to end): the API keys they made are revoked and
/// their apps lose their management power, so a re-join revives nothing
/// (DESIGN invariant: no credential outlives its acting member's power).
/// The one way for a removal and a deleted account.
pub(super) fn leave_blocking(
    conn: &mut store::DbConnection,
    organization_id: &str,
    user_id: &str,
    now: chrono::NaiveDateTime,
) -> Result<(), StoreError> {
    store::orgs::delete_membership(conn, organization_id, user_id)?;
    store::api_keys::revoke_keys_of_member(conn, organization_id, user_id, now)?;
    store::clients::end_management_of_member(conn, organization_id, user_id, now)?;
    Ok(())
}
