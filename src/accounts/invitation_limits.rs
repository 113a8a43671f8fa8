//! Who may send invitations, and how many (attacker round 12, finding 2):
//! an invitation is an email with the organization's name as its text,
//! sent from the operator's address, so it goes out only from a person
//! whose address is verified (or whom an operator made, vouching for it),
//! and at most `login_throttle.invitations_per_inviter` per person and
//! `invitations_per_organization` per organization within the window.
//! One address receives at most `invitations_per_recipient` of them by
//! email within the window, from every organization together (many
//! senders, each within their own limits, must not flood one mailbox):
//! beyond that an invitation is still made, and its link shown to its
//! sender only, so no one can use up an address's count to keep its owner
//! from being invited.
//! Counted in the database (`throttle`), so every instance shares the count.

use super::{Accounts, AccountsError, throttle};
use crate::store;

impl Accounts {
    /// Refuses an invitation to `email` (normalized) that `inviter` (none:
    /// made by the operator's own tools) may not send now, or counts it;
    /// then whether it may also be emailed (counted for the address if so).
    /// Counted whatever becomes of it afterwards, as sign-ups are.
    pub(super) async fn may_send_invitation(
        &self,
        inviter: Option<&str>,
        organization_id: &str,
        email: &str,
    ) -> Result<bool, AccountsError> {
        let (inviter, org, email) = (inviter.map(str::to_owned), organization_id.to_owned(), email.to_owned());
        let (policy, now) = (self.throttle.clone(), self.now());
        let outcome = self
            .store
            .run(move |conn| {
                let mut keys = vec![(format!("invite-org:{org}"), policy.invitations_per_organization)];
                if let Some(id) = &inviter {
                    let user = store::users::find_user(conn, id)?;
                    if !user.is_some_and(|u| u.email_verified_at.is_some() || u.made_by_operator) {
                        return Ok(None);
                    }
                    keys.push((format!("invite-user:{id}"), policy.invitations_per_inviter));
                }
                let sent = throttle::reserve(conn, &keys, policy.window_secs, now)?;
                if let throttle::Attempt::Throttled { .. } = sent {
                    return Ok(Some((sent, false)));
                }
                let to_them = [(format!("invite-to:{email}"), policy.invitations_per_recipient)];
                let emailed = throttle::reserve(conn, &to_them, policy.window_secs, now)?;
                Ok(Some((sent, matches!(emailed, throttle::Attempt::Reserved(_)))))
            })
            .await?;
        match outcome {
            None => Err(AccountsError::EmailNotVerified),
            Some((throttle::Attempt::Reserved(_), emailed)) => Ok(emailed),
            Some((throttle::Attempt::Throttled { retry_after_secs }, _)) => {
                Err(AccountsError::TooManyInvitations { retry_after_secs })
            }
        }
    }
}
