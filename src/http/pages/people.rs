//! `/dashboard/orgs/{org}/members`: the organization's members and pending
//! invitations; role changes, removal, invitations and their revocation,
//! through the same [`crate::people::Acting`] as `/v1/members` and
//! `/v1/invitations` (the same checks, the same audit events).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::org::{InOrg, Shell};
use super::{Made, Posted, already_made, render, see_other};
use crate::accounts::{AccountsError, Role};
use crate::authority::Denied;
use crate::http::AppState;
use crate::http::errors::PageError;
use crate::http::session::verify_form_token;
use crate::people::{self, PeopleError};

/// Members shown on one page.
const PAGE_SIZE: i64 = 50;

pub struct MemberRow {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub joined: String,
    pub me: bool,
    /// This person may change this member's role and remove them.
    pub manageable: bool,
}

pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub sent: String,
    pub expires: String,
}

/// The invite form as sent, and what came of it.
#[derive(Default)]
pub struct InviteState {
    pub email: String,
    pub role: String,
    pub error: Option<String>,
    /// The link of the invitation just made, shown this once.
    pub link: Option<String>,
    pub sent_to: String,
    /// Whether that invitation was emailed too.
    pub emailed: bool,
    /// The form's single-use token, new each time it is shown.
    pub once: String,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    shell: Shell,
    members: Vec<MemberRow>,
    older: Option<String>,
    invitations: Vec<InvitationRow>,
    /// The roles this person may give; empty: read-only.
    roles: Vec<Role>,
    notice: Option<&'static str>,
    /// A refused role change: the member's id and why.
    error_member: String,
    error: Option<String>,
    invite: InviteState,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    shell: Shell,
    title: String,
    what_happens: &'static str,
    action: String,
    button: &'static str,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct MembersQuery {
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    form_once: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf_token: String,
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

impl MembersPage {
    fn role_selected(&self, member: &MemberRow, role: &Role) -> bool {
        member.role == *role
    }

    fn invite_role_selected(&self, role: &Role) -> bool {
        if self.invite.role.is_empty() { *role == Role::Developer } else { self.invite.role == role.as_str() }
    }
}

/// What the page shows when nothing was sent; `after` pages the members.
async fn members_page(state: &AppState, in_org: &InOrg, after: Option<&str>) -> Result<MembersPage, PageError> {
    let p = &in_org.principal;
    if !p.allows("read", Some("members:read")) {
        return Err(PageError::NotFound);
    }
    let org = &p.organization_id;
    let mut members = state.accounts.members(org, after, PAGE_SIZE + 1).await?.ok_or(PageError::NotFound)?;
    let older = if members.len() as i64 > PAGE_SIZE {
        members.truncate(PAGE_SIZE as usize);
        members.last().map(|m| in_org.shell("members").href(&format!("members?after={}", m.user.id)))
    } else {
        None
    };
    let roles = people::assignable_roles(p);
    let members = members
        .into_iter()
        .map(|m| MemberRow {
            me: Some(&m.user.id) == p.user_id.as_ref(),
            manageable: roles.contains(&m.role),
            id: m.user.id,
            email: m.user.email,
            role: m.role,
            joined: day(m.joined_at),
        })
        .collect();
    let invitations = state
        .accounts
        .pending_invitations(org, None, 100)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(|i| InvitationRow {
            id: i.id,
            email: i.email,
            role: i.role.as_str(),
            sent: day(i.created_at),
            expires: day(i.expires_at),
        })
        .collect();
    Ok(MembersPage {
        shell: in_org.shell("members"),
        members,
        older,
        invitations,
        roles,
        notice: None,
        error_member: String::new(),
        error: None,
        invite: InviteState { once: super::once_token(state), ..InviteState::default() },
    })
}

/// A refusal the page did not invite (a forged form, a member of another
/// organization) as its page; `Ok(message)` when it is the organization's
/// rule, to show next to the control.
fn refusal(e: PeopleError) -> Result<String, PageError> {
    match e {
        PeopleError::Accounts(AccountsError::Validation(message)) => Ok(message),
        PeopleError::Accounts(e @ (AccountsError::EmailNotVerified | AccountsError::TooManyInvitations { .. })) => {
            Ok(e.to_string())
        }
        PeopleError::Denied(Denied::Invalid(message)) => Ok(message),
        PeopleError::Denied(Denied::Scope { reason, .. }) => Err(PageError::Forbidden(reason)),
        PeopleError::MissingScope(_) => {
            Err(PageError::Forbidden("Your role does not allow managing this organization's members.".into()))
        }
        PeopleError::NotFound(_) => Err(PageError::NotFound),
        PeopleError::Accounts(e) => Err(e.into()),
    }
}

fn members_href(in_org: &InOrg, done: &str) -> String {
    in_org.shell("members").href(&format!("members?done={done}"))
}

pub async fn list(
    state: web::Data<AppState>,
    in_org: InOrg,
    q: web::Query<MembersQuery>,
) -> Result<HttpResponse, PageError> {
    let mut page = members_page(&state, &in_org, q.after.as_deref()).await?;
    page.notice = match q.done.as_deref() {
        Some("role") => Some("The role was changed. The member's earlier sessions and tokens have ended."),
        Some("removed") => Some("The member was removed, their API keys revoked and their apps demoted."),
        Some("revoked") => Some("The invitation was revoked: its link no longer works."),
        _ => None,
    };
    render(StatusCode::OK, &page, None)
}

pub async fn change_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
    form: web::Form<RoleForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&in_org.session), &form.csrf_token)?;
    let id = &path.1;
    match in_org.principal.acting(&req, &state).change_role(id, &form.role).await {
        Ok(_) => Ok(see_other(&members_href(&in_org, "role")).finish()),
        Err(e) => {
            let message = refusal(e)?;
            let mut page = members_page(&state, &in_org, None).await?;
            (page.error_member, page.error) = (id.clone(), Some(message));
            render(StatusCode::BAD_REQUEST, &page, None)
        }
    }
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&in_org.session), &form.csrf_token)?;
    let user_id = &in_org.session.user.id;
    // Refused for its sender, not its form: said on the page, with the status.
    let mut refused_status = StatusCode::BAD_REQUEST;
    let mut retry_after = None;
    let sent = match Posted::claim(&state, user_id, Some(&form.form_once)).await? {
        Posted::Again => return already_made(&in_org, Made::Invitation),
        Posted::Expired(message) => Err(message.to_owned()),
        Posted::First(claimed) => match in_org.principal.acting(&req, &state).invite(&form.email, &form.role).await {
            Ok(made) => Ok(made),
            Err(e) => {
                Posted::release(claimed, &state, user_id).await?;
                match &e {
                    PeopleError::Accounts(AccountsError::EmailNotVerified) => refused_status = StatusCode::FORBIDDEN,
                    PeopleError::Accounts(AccountsError::TooManyInvitations { retry_after_secs }) => {
                        refused_status = StatusCode::TOO_MANY_REQUESTS;
                        retry_after = Some((*retry_after_secs).max(1) as u64);
                    }
                    _ => {}
                }
                Err(refusal(e)?)
            }
        },
    };
    let (status, invite) = match sent {
        // The link is shown on this answer, once: it is stored only as a digest.
        Ok((invitation, token)) => (
            StatusCode::CREATED,
            InviteState {
                link: Some(people::invitation_url(state.config.issuer(), &token)),
                emailed: invitation.emailed.unwrap_or(false),
                sent_to: invitation.email,
                ..InviteState::default()
            },
        ),
        Err(e) => (
            refused_status,
            InviteState {
                email: form.email.clone(),
                role: form.role.clone(),
                error: Some(e),
                ..InviteState::default()
            },
        ),
    };
    let mut page = members_page(&state, &in_org, None).await?;
    page.invite = InviteState { once: page.invite.once, ..invite };
    let mut res = render(status, &page, None)?;
    if let Some(secs) = retry_after {
        res.headers_mut().insert(actix_web::http::header::RETRY_AFTER, secs.into());
    }
    Ok(res)
}

fn remove_confirmation(in_org: &InOrg, email: &str, id: &str, error: Option<String>) -> ConfirmPage {
    let shell = in_org.shell("members");
    ConfirmPage {
        title: format!("Remove {email} from {}?", shell.org_name),
        what_happens: "They lose access to this organization at once: the API keys they made here are revoked \
                       (with the keys made through them), their management apps lose management and the tokens \
                       they hold, and their sessions and tokens for this organization end. Inviting them again \
                       brings none of it back.",
        action: shell.href(&format!("members/{id}/remove")),
        button: "Remove member",
        error,
        shell,
    }
}

pub async fn confirm_remove(
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let member = state.accounts.member(&in_org.principal.organization_id, &path.1).await?.ok_or(PageError::NotFound)?;
    if !people::assignable_roles(&in_org.principal).contains(&member.role) {
        return Err(PageError::NotFound);
    }
    render(StatusCode::OK, &remove_confirmation(&in_org, &member.user.email, &path.1, None), None)
}

pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&in_org.session), &form.csrf_token)?;
    let id = &path.1;
    match in_org.principal.acting(&req, &state).remove_member(id).await {
        Ok(_) => Ok(see_other(&members_href(&in_org, "removed")).finish()),
        Err(e) => {
            let message = refusal(e)?;
            let member = state.accounts.member(&in_org.principal.organization_id, id).await?;
            let email = member.map(|m| m.user.email).unwrap_or_default();
            render(StatusCode::BAD_REQUEST, &remove_confirmation(&in_org, &email, id, Some(message)), None)
        }
    }
}

pub async fn confirm_revoke(
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let p = &in_org.principal;
    if people::assignable_roles(p).is_empty() {
        return Err(PageError::NotFound);
    }
    let pending = state.accounts.pending_invitations(&p.organization_id, None, 100).await?.unwrap_or_default();
    let invitation = pending.into_iter().find(|i| i.id == path.1).ok_or(PageError::NotFound)?;
    let shell = in_org.shell("members");
    let page = ConfirmPage {
        title: format!("Revoke the invitation of {} as {}?", invitation.email, invitation.role),
        what_happens: "Its link stops working at once; nobody can join with it. You can invite the same \
                       person again later.",
        action: shell.href(&format!("invitations/{}/revoke", invitation.id)),
        button: "Revoke invitation",
        error: None,
        shell,
    };
    render(StatusCode::OK, &page, None)
}

pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    in_org: InOrg,
    path: web::Path<(String, String)>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, PageError> {
    verify_form_token(&req, &state.config, Some(&in_org.session), &form.csrf_token)?;
    match in_org.principal.acting(&req, &state).revoke_invitation(&path.1).await {
        Ok(()) => Ok(see_other(&members_href(&in_org, "revoked")).finish()),
        Err(e) => Err(PageError::BadRequest(refusal(e)?)),
    }
}
